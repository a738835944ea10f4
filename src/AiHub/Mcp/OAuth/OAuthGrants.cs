using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Audit;
using Microsoft.EntityFrameworkCore;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AiHub.Mcp.OAuth;

/// <summary>
/// The user's OAuth grants: one OpenIddict authorization per (user, client, org), with the org and workspace recorded
/// on it; listing and revoking them for the Sessions page and <c>/api/me/connected-apps</c>.
/// </summary>
internal sealed class OAuthGrants(
    AppDbContext db,
    IOpenIddictAuthorizationManager authorizations,
    IOpenIddictTokenManager tokens,
    AuditLog audit,
    TimeProvider clock) : IConnectedApps
{
    const string OrgProperty = "aihub_org";
    const string WorkspaceProperty = "aihub_workspace";

    /// <summary>
    /// The grant's authorization id: the existing one when it already says the same, else a new one; an older grant
    /// for the same (user, client, org) is revoked with its tokens, so one stays.
    /// </summary>
    public async Task<string> GrantAsync(ClaimsIdentity identity, Guid userId, string applicationId, string clientName,
        Guid orgId, Guid? workspaceId, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var subject = userId.ToString();
        await foreach (var existing in authorizations.FindAsync(subject, applicationId, Statuses.Valid, AuthorizationTypes.Permanent, scopes: null, ct))
        {
            var properties = await authorizations.GetPropertiesAsync(existing, ct);
            if (OrgOf(properties) != orgId)
                continue;
            var sameScopes = (await authorizations.GetScopesAsync(existing, ct)).ToHashSet().SetEquals(scopes);
            if (sameScopes && WorkspaceOf(properties) == workspaceId)
                return (await authorizations.GetIdAsync(existing, ct))!;
            await RevokeAsync(existing, ct);
        }
        var descriptor = new OpenIddictAuthorizationDescriptor
        {
            ApplicationId = applicationId,
            CreationDate = clock.GetUtcNow(),
            Principal = new ClaimsPrincipal(identity),
            Status = Statuses.Valid,
            Subject = subject,
            Type = AuthorizationTypes.Permanent,
        };
        descriptor.Scopes.UnionWith(scopes);
        descriptor.Properties[OrgProperty] = JsonSerializer.SerializeToElement(orgId);
        if (workspaceId is { } w)
            descriptor.Properties[WorkspaceProperty] = JsonSerializer.SerializeToElement(w);
        var created = await authorizations.CreateAsync(descriptor, ct);
        var id = (await authorizations.GetIdAsync(created, ct))!;
        audit.Add(OAuthAuditKinds.Granted, userId, new { client = clientName, authorization = id, workspace = workspaceId, scopes }, userId, orgId);
        await db.SaveChangesAsync(ct);
        return id;
    }

    public async Task<IReadOnlyList<ConnectedApp>> ListAsync(Guid userId, CancellationToken ct)
    {
        var subject = userId.ToString();
        var rows = await db.OAuthAuthorizations.AsNoTracking()
            .Where(a => a.Subject == subject && a.Status == Statuses.Valid && a.Type == AuthorizationTypes.Permanent)
            .Select(a => new
            {
                a.Id,
                a.CreationDate,
                a.Properties,
                a.Scopes,
                Client = a.Application!.DisplayName ?? a.Application.ClientId,
                LastToken = a.Tokens.Max(t => t.CreationDate),
            })
            .ToListAsync(ct);
        var apps = new List<ConnectedApp>();
        foreach (var row in rows)
        {
            var properties = row.Properties is null ? [] : JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(row.Properties) ?? [];
            if (OrgOf(properties) is not { } orgId)
                continue;
            var workspaceId = WorkspaceOf(properties);
            var org = await db.Organizations.AsNoTracking().Where(o => o.Id == orgId).Select(o => o.Name).FirstOrDefaultAsync(ct);
            var workspace = workspaceId is null ? null
                : await db.Workspaces.AsNoTracking().Where(w => w.OrganizationId == orgId && w.Id == workspaceId).Select(w => w.Name).FirstOrDefaultAsync(ct);
            apps.Add(new ConnectedApp(
                row.Id.ToString(),
                row.Client ?? "An unnamed app",
                orgId,
                org ?? "A deleted organisation",
                workspace,
                row.Scopes is null ? [] : JsonSerializer.Deserialize<List<string>>(row.Scopes) ?? [],
                Utc(row.CreationDate) ?? DateTimeOffset.MinValue,
                Utc(row.LastToken)));
        }
        return [.. apps.OrderByDescending(a => a.GrantedAt)];
    }

    public async Task<bool> RevokeAsync(Guid userId, string id, CancellationToken ct)
    {
        if (await authorizations.FindByIdAsync(id, ct) is not { } authorization
            || await authorizations.GetSubjectAsync(authorization, ct) != userId.ToString()
            || !await authorizations.HasStatusAsync(authorization, Statuses.Valid, ct))
            return false;
        var orgId = OrgOf(await authorizations.GetPropertiesAsync(authorization, ct));
        await RevokeAsync(authorization, ct);
        audit.Add(OAuthAuditKinds.Revoked, userId, new { authorization = id }, userId, orgId);
        await db.SaveChangesAsync(ct);
        return true;
    }

    async Task RevokeAsync(object authorization, CancellationToken ct)
    {
        await authorizations.TryRevokeAsync(authorization, ct);
        await tokens.RevokeByAuthorizationIdAsync((await authorizations.GetIdAsync(authorization, ct))!, ct);
    }

    static Guid? OrgOf(IReadOnlyDictionary<string, JsonElement> properties) => GuidOf(properties, OrgProperty);

    static Guid? WorkspaceOf(IReadOnlyDictionary<string, JsonElement> properties) => GuidOf(properties, WorkspaceProperty);

    static Guid? GuidOf(IReadOnlyDictionary<string, JsonElement> properties, string name) =>
        properties.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String
        && Guid.TryParse(value.GetString(), CultureInfo.InvariantCulture, out var id) ? id : null;

    static DateTimeOffset? Utc(DateTime? value) => value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;
}
