using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Outbound;
using AiHub.Organizations;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Mcp.Client;

/// <summary>A tool of a server as the API shows it.</summary>
internal sealed record McpToolResponse(string Name, string? Description, JsonElement InputSchema, bool Enabled);

/// <summary>A registered server as the API shows it: whether it has a secret ("set" or "not set"), never the secret.</summary>
/// <param name="SecretCleared">This change dropped the stored secret, because it sent the server elsewhere without one.</param>
internal sealed record McpServerResponse(
    Guid Id, string Name, string Url, string Transport, string AuthKind, string? HeaderName, string Secret, string? TokenUrl, string? ClientId,
    string? Scope, bool Enabled, double TimeoutSeconds, int MaxResultBytes, IReadOnlyList<McpToolResponse> Tools, DateTimeOffset? ToolsDiscoveredAt,
    Guid CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, bool SecretCleared = false);

/// <summary>
/// A new server, or a change to one: on PUT a missing field, or a blank secret, keeps what is there, except that a change
/// of URL or token URL drops the stored secret unless the same request sends one.
/// </summary>
internal sealed record McpServerRequest(
    string? Name, string? Url, string? Transport, string? AuthKind, string? HeaderName, string? Secret, string? TokenUrl, string? ClientId,
    string? Scope, bool? Enabled, double? TimeoutSeconds, int? MaxResultBytes);

internal sealed record McpToolsRequest(IReadOnlyList<string>? Tools);

/// <summary>One of the org's servers as a workspace sees it.</summary>
internal sealed record McpWorkspaceServerResponse(Guid Id, string Name, bool ServerEnabled, bool Enabled, int EnabledTools);

internal sealed record McpWorkspaceServerRequest(bool? Enabled);

internal static class McpAuditKinds
{
    public const string Created = "org.mcp_server_created";
    public const string Updated = "org.mcp_server_updated";
    public const string Deleted = "org.mcp_server_deleted";
    public const string Refreshed = "org.mcp_server_refreshed";
    public const string ToolsChanged = "org.mcp_server_tools_changed";
    public const string WorkspaceChanged = "workspace.mcp_server_changed";
}

/// <summary>An organisation's remote MCP servers, for the API and the web UI alike.</summary>
internal sealed partial class McpServers(AppDbContext db, McpConnector connector, OutboundPolicy outbound, IOptions<McpClientSettings> options, AuditLog audit, TimeProvider clock)
{
    public const string FailedType = ProblemTypes.Prefix + "mcp-server-failed";

    /// <summary>Headers the transport sets itself; a tenant's value for one would break or hijack the exchange.</summary>
    static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer",
        "Accept", "Accept-Encoding", "Cookie", "Proxy-Authorization", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-ID",
    };

    McpClientSettings Settings => options.Value;

    public async Task<List<McpServerResponse>> ListAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesRead);
        var list = await db.Set<McpServerRegistration>().AsNoTracking().Where(s => s.OrganizationId == caller.OrganizationId).OrderBy(s => s.Name).ToListAsync(ct);
        return [.. list.Select(Describe)];
    }

    public async Task<McpServerResponse> GetAsync(OrgGrant caller, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesRead);
        return Describe(await FindAsync(caller.OrganizationId, id, ct));
    }

    public async Task<McpServerResponse> CreateAsync(OrgGrant caller, Guid actorId, McpServerRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var orgId = caller.OrganizationId;
        var now = clock.GetUtcNow();
        var server = new McpServerRegistration
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = orgId,
            Name = RequireName(body.Name),
            Url = RequireUrl("url", body.Url ?? "") ?? throw ProblemException.Invalid("url", "url is the server's address, such as https://mcp.example.com/mcp."),
            CreatedBy = actorId,
            CreatedAt = now,
            UpdatedAt = now,
        };
        Apply(server, body, secretWasFor: null);
        if (await db.Set<McpServerRegistration>().CountAsync(s => s.OrganizationId == orgId, ct) >= Settings.MaxServersPerOrg)
            throw ProblemException.Invalid("name", $"An organisation has at most {Settings.MaxServersPerOrg} MCP servers; remove one first.");
        await RequireFreeNameAsync(orgId, server.Name, null, ct);
        db.Add(server);
        var created = Describe(server);
        audit.Add(McpAuditKinds.Created, null, Audited(created), actorId, orgId);
        await SaveAsync(server.Name, ct);
        return created;
    }

    public async Task<McpServerResponse> UpdateAsync(OrgGrant caller, Guid actorId, Guid id, McpServerRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var server = await FindAsync(caller.OrganizationId, id, ct);
        var before = Describe(server);
        if (body.Name is not null)
        {
            var name = RequireName(body.Name);
            if (name != server.Name)
                await RequireFreeNameAsync(server.OrganizationId, name, server.Id, ct);
            server.Name = name;
        }
        if (body.Url is not null)
            server.Url = RequireUrl("url", body.Url ?? "") ?? throw ProblemException.Invalid("url", "url cannot be empty.");
        var cleared = Apply(server, body, secretWasFor: (before.Url, before.TokenUrl, before.AuthKind));
        server.UpdatedAt = clock.GetUtcNow();
        var after = Describe(server) with { SecretCleared = cleared };
        audit.Add(McpAuditKinds.Updated, null, new { server.Id, before = Audited(before), after = Audited(after), secretChanged = !string.IsNullOrEmpty(body.Secret), secretCleared = cleared },
            actorId, server.OrganizationId);
        await SaveAsync(server.Name, ct);
        return after;
    }

    public async Task DeleteAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var server = await FindAsync(caller.OrganizationId, id, ct);
        await db.Set<McpServerWorkspaceOff>().Where(o => o.OrganizationId == server.OrganizationId && o.ServerId == server.Id).ExecuteDeleteAsync(ct);
        db.Remove(server);
        audit.Add(McpAuditKinds.Deleted, null, new { server.Id, server.Name, server.Url }, actorId, server.OrganizationId);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Connects to the server now and stores the tools it lists; tools that are gone are no longer enabled.</summary>
    public async Task<McpServerResponse> RefreshAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var server = await FindAsync(caller.OrganizationId, id, ct);
        List<McpToolInfo> tools;
        try
        {
            tools = await connector.ListToolsAsync(McpEndpoint.Of(server, Settings), ct);
        }
        catch (McpConnectionException e)
        {
            throw new ProblemException(StatusCodes.Status502BadGateway, $"The MCP server {server.Name} could not be used.", $"Its tools could not be listed: {e.Message}", FailedType);
        }
        // A name the model could not call, or one listed twice, is left out rather than failing the whole listing.
        server.Tools = [.. tools.Where(t => t.Name.Length is > 0 and <= 128).DistinctBy(t => t.Name, StringComparer.Ordinal)];
        server.EnabledTools = [.. server.EnabledTools.Where(n => server.Tools.Any(t => t.Name == n))];
        server.ToolsDiscoveredAt = clock.GetUtcNow();
        audit.Add(McpAuditKinds.Refreshed, null, new { server.Id, server.Name, tools = server.Tools.Select(t => t.Name) }, actorId, server.OrganizationId);
        await db.SaveChangesAsync(ct);
        return Describe(server);
    }

    public async Task<McpServerResponse> SetToolsAsync(OrgGrant caller, Guid actorId, Guid id, McpToolsRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var server = await FindAsync(caller.OrganizationId, id, ct);
        var wanted = (body.Tools ?? throw ProblemException.Invalid("tools", "tools is the list of tool names to enable; [] turns them all off."))
            .Select(n => n?.Trim() ?? "").Distinct(StringComparer.Ordinal).ToList();
        if (wanted.FirstOrDefault(n => server.Tools.All(t => t.Name != n)) is { } unknown)
            throw ProblemException.Invalid("tools", server.ToolsDiscoveredAt is null
                ? "The server's tools have not been listed yet: refresh it first."
                : $"The server has no tool named '{unknown}'; refresh it if it has new tools.");
        var before = server.EnabledTools;
        server.EnabledTools = wanted;
        server.UpdatedAt = clock.GetUtcNow();
        audit.Add(McpAuditKinds.ToolsChanged, null, new { server.Id, server.Name, before, after = wanted }, actorId, server.OrganizationId);
        await db.SaveChangesAsync(ct);
        return Describe(server);
    }

    public async Task<List<McpWorkspaceServerResponse>> ListForWorkspaceAsync(OrgGrant caller, Guid workspaceId, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesRead);
        await RequireWorkspaceAsync(caller.OrganizationId, workspaceId, ct);
        var servers = await db.Set<McpServerRegistration>().AsNoTracking().Where(s => s.OrganizationId == caller.OrganizationId).OrderBy(s => s.Name).ToListAsync(ct);
        var off = await db.Set<McpServerWorkspaceOff>().AsNoTracking()
            .Where(o => o.OrganizationId == caller.OrganizationId && o.WorkspaceId == workspaceId).Select(o => o.ServerId).ToListAsync(ct);
        return [.. servers.Select(s => new McpWorkspaceServerResponse(s.Id, s.Name, s.Enabled, !off.Contains(s.Id), s.EnabledTools.Count))];
    }

    public async Task<McpWorkspaceServerResponse> SetForWorkspaceAsync(OrgGrant caller, Guid actorId, Guid workspaceId, Guid id, McpWorkspaceServerRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesManage);
        await RequireWorkspaceAsync(caller.OrganizationId, workspaceId, ct);
        var server = await FindAsync(caller.OrganizationId, id, ct);
        var enabled = body.Enabled ?? throw ProblemException.Invalid("enabled", "enabled is true to offer the server's tools in this workspace, false to turn them off.");
        var row = await db.Set<McpServerWorkspaceOff>().FirstOrDefaultAsync(o => o.OrganizationId == caller.OrganizationId && o.ServerId == id && o.WorkspaceId == workspaceId, ct);
        if (enabled && row is not null)
            db.Remove(row);
        else if (!enabled && row is null)
            db.Add(new McpServerWorkspaceOff { OrganizationId = caller.OrganizationId, WorkspaceId = workspaceId, ServerId = id, CreatedAt = clock.GetUtcNow() });
        if (enabled == (row is not null))
        {
            audit.Add(McpAuditKinds.WorkspaceChanged, null, new { serverId = id, server.Name, workspaceId, enabled }, actorId, caller.OrganizationId);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (UniqueViolation.Is(e))
            {
                // Someone turned it off at the same moment: it is off, as asked.
                db.ChangeTracker.Clear();
            }
        }
        return new McpWorkspaceServerResponse(server.Id, server.Name, server.Enabled, enabled, server.EnabledTools.Count);
    }

    /// <remarks>Fetched by (org, id): another organisation's server is simply not found.</remarks>
    async Task<McpServerRegistration> FindAsync(Guid orgId, Guid id, CancellationToken ct) =>
        await db.Set<McpServerRegistration>().FirstOrDefaultAsync(s => s.OrganizationId == orgId && s.Id == id, ct)
        ?? throw Orgs.NotFound("No such MCP server.", "It does not exist in this organisation.");

    async Task RequireWorkspaceAsync(Guid orgId, Guid workspaceId, CancellationToken ct)
    {
        if (!await db.Workspaces.AnyAsync(w => w.OrganizationId == orgId && w.Id == workspaceId, ct))
            throw Orgs.NotFound("No such workspace.", "It does not exist in this organisation.");
    }

    /// <summary>Applies the fields other than name and URL; true when the stored secret was dropped because the server moved.</summary>
    bool Apply(McpServerRegistration server, McpServerRequest body, (string Url, string? TokenUrl, string AuthKind)? secretWasFor)
    {
        if (body.Transport is not null)
            server.Transport = McpTransports.All.FirstOrDefault(t => t.Equals(body.Transport.Trim(), StringComparison.OrdinalIgnoreCase))
                ?? throw ProblemException.Invalid("transport", $"transport is one of {string.Join(", ", McpTransports.All)}.");
        if (body.AuthKind is not null)
            server.AuthKind = McpAuthKinds.All.FirstOrDefault(k => k.Equals(body.AuthKind.Trim(), StringComparison.OrdinalIgnoreCase))
                ?? throw ProblemException.Invalid("authKind", $"authKind is one of {string.Join(", ", McpAuthKinds.All)}.");
        if (body.Enabled is { } enabled)
            server.Enabled = enabled;
        if (body.TimeoutSeconds is { } seconds)
        {
            var max = Settings.MaxTimeout;
            if (!double.IsFinite(seconds) || seconds < 1 || TimeSpan.FromSeconds(seconds) > max)
                throw ProblemException.Invalid("timeoutSeconds", $"timeoutSeconds is between 1 and {max.TotalSeconds:0} (this deployment's limit).");
            server.TimeoutMs = (int)(seconds * 1000);
        }
        if (body.MaxResultBytes is { } bytes)
        {
            if (bytes < 4096 || bytes > Settings.MaxResultBytes)
                throw ProblemException.Invalid("maxResultBytes", $"maxResultBytes is between 4096 and {Settings.MaxResultBytes} (this deployment's limit).");
            server.MaxResultBytes = bytes;
        }

        switch (server.AuthKind)
        {
            case McpAuthKinds.None:
                (server.HeaderName, server.TokenUrl, server.ClientId, server.Scope) = (null, null, null, null);
                break;
            case McpAuthKinds.Header:
                (server.TokenUrl, server.ClientId, server.Scope) = (null, null, null);
                if (body.HeaderName is not null)
                    server.HeaderName = RequireHeaderName(body.HeaderName);
                server.HeaderName ??= "Authorization";
                break;
            case McpAuthKinds.OAuthClientCredentials:
                server.HeaderName = null;
                if (body.TokenUrl is not null)
                    server.TokenUrl = RequireUrl("tokenUrl", body.TokenUrl);
                if (body.ClientId is not null)
                    server.ClientId = Bounded("clientId", body.ClientId, 200);
                if (body.Scope is not null)
                    server.Scope = Bounded("scope", body.Scope, 500);
                if (server.TokenUrl is null || server.ClientId is null)
                    throw ProblemException.Invalid(server.TokenUrl is null ? "tokenUrl" : "clientId", "OAuth client credentials need the token URL and the client id (and the client secret).");
                break;
        }

        var secretChanged = !string.IsNullOrEmpty(body.Secret);
        // The secret was given for one server: sent elsewhere, it would be handed to whoever listens there.
        var moved = secretWasFor is { } was && (was.Url != server.Url || was.TokenUrl != server.TokenUrl || was.AuthKind != server.AuthKind);
        var cleared = moved && !secretChanged && server.SecretProtected is not null;
        if (server.AuthKind == McpAuthKinds.None)
            server.SecretProtected = null;
        else if (secretChanged)
            server.SecretProtected = connector.Protector.Protect(RequireSecret(body.Secret!));
        else if (cleared)
            server.SecretProtected = null;
        if (server.AuthKind != McpAuthKinds.None && server.SecretProtected is null)
            throw ProblemException.Invalid("secret", cleared
                ? "Changing a server's URL, token URL or kind of credential drops its stored secret: send the secret again in the same change."
                : server.AuthKind == McpAuthKinds.Header ? "A header credential needs the header's value as the secret." : "OAuth client credentials need the client secret.");
        return cleared;
    }

    async Task RequireFreeNameAsync(Guid orgId, string name, Guid? except, CancellationToken ct)
    {
        if (await db.Set<McpServerRegistration>().AnyAsync(s => s.OrganizationId == orgId && s.Name == name && s.Id != except, ct))
            throw Orgs.Conflict("An MCP server has this name.", $"This organisation already has an MCP server named '{name}'.");
    }

    async Task SaveAsync(string name, CancellationToken ct)
    {
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw Orgs.Conflict("An MCP server has this name.", $"This organisation already has an MCP server named '{name}'.");
        }
    }

    static string RequireName(string? value)
    {
        var name = value?.Trim().ToLowerInvariant() ?? "";
        return ValidName().IsMatch(name) ? name
            : throw ProblemException.Invalid("name", $"A server name is 1 to {McpServerConfiguration.NameLength} letters, digits, '_' or '-', starting with a letter or digit (its tools are named name__tool in a chat).");
    }

    string? RequireUrl(string field, string value)
    {
        if (string.IsNullOrWhiteSpace(value))
            return null;
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            throw ProblemException.Invalid(field, $"{field} is an absolute http or https URL.");
        if (outbound.Refuse(url) is { } why)
            throw ProblemException.Invalid(field, $"{field} {why}");
        var text = url.ToString();
        return text.Length > McpServerConfiguration.UrlLength ? throw ProblemException.Invalid(field, $"{field} is at most {McpServerConfiguration.UrlLength} characters.") : text;
    }

    static string RequireHeaderName(string value)
    {
        var name = value.Trim();
        if (!HeaderToken().IsMatch(name))
            throw ProblemException.Invalid("headerName", "headerName is an HTTP header name: 1 to 100 letters, digits and !#$%&'*+-.^_`|~, such as Authorization or X-Api-Key.");
        return ReservedHeaders.Contains(name) ? throw ProblemException.Invalid("headerName", $"{name} is set by the MCP transport itself; use Authorization or a header of the server's own.") : name;
    }

    static string RequireSecret(string value)
    {
        var secret = value.Trim();
        if (secret.Length > 4000 || secret.Any(c => c is '\r' or '\n' or '\0'))
            throw ProblemException.Invalid("secret", "secret is at most 4000 characters, on one line.");
        return secret;
    }

    static string? Bounded(string field, string value, int max)
    {
        var text = value.Trim();
        if (text.Length > max || text.Any(char.IsControl))
            throw ProblemException.Invalid(field, $"{field} is at most {max} printable characters.");
        return text.Length == 0 ? null : text;
    }

    McpServerResponse Describe(McpServerRegistration s) => new(
        s.Id, s.Name, s.Url, s.Transport, s.AuthKind, s.HeaderName, s.SecretProtected is null ? "not set" : "set", s.TokenUrl, s.ClientId, s.Scope, s.Enabled,
        (s.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(s.TimeoutMs) : Settings.DefaultTimeout).TotalSeconds,
        s.MaxResultBytes > 0 ? s.MaxResultBytes : Settings.DefaultMaxResultBytes,
        [.. s.Tools.Select(t => new McpToolResponse(t.Name, t.Description, Schema(t.InputSchema), s.EnabledTools.Contains(t.Name)))],
        s.ToolsDiscoveredAt, s.CreatedBy, s.CreatedAt, s.UpdatedAt);

    static object Audited(McpServerResponse r) => new { r.Id, r.Name, r.Url, r.Transport, r.AuthKind, r.HeaderName, r.Secret, r.TokenUrl, r.ClientId, r.Enabled };

    static JsonElement Schema(string json)
    {
        try
        {
            return JsonDocument.Parse(json).RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonDocument.Parse("""{"type":"object"}""").RootElement.Clone();
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,31}$")]
    private static partial Regex ValidName();

    [GeneratedRegex("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
    private static partial Regex HeaderToken();
}
