using System.Security.Claims;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations.ApiKeys;

internal sealed record ApiKeyRequest(
    string? Name, IReadOnlyList<string>? Permissions, Guid? WorkspaceId, DateTimeOffset? ExpiresAt, int? RateLimitPerMinute, long? MonthlyBudgetCredits,
    int? TokensPerMinute = null);

/// <summary>A key's limits, replaced whole: a field left out (null) removes that limit.</summary>
internal sealed record ApiKeyLimitsRequest(int? RateLimitPerMinute, int? TokensPerMinute, long? MonthlyBudgetCredits);

internal sealed record ApiKeyResponse(
    Guid Id, string Name, string Prefix, IReadOnlyList<string> Permissions, Guid? WorkspaceId, Guid CreatedBy, DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt, int? RateLimitPerMinute, long? MonthlyBudgetCredits,
    int? TokensPerMinute);

/// <summary>The one response that holds the key itself; it cannot be read again.</summary>
internal sealed record ApiKeyWithSecret(ApiKeyResponse Key, string Secret);

internal static class ApiKeyEndpoints
{
    public static void MapApiKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var keys = OrgEndpoints.Org(app).MapGroup("/api-keys").WithTags("API keys");
        keys.MapGet("", List).WithSummary("Lists the organisation's API keys (their secrets are never returned).").RequireAuthorization(OrgPermissions.ApiKeysRead);
        // Made, revoked and rotated by people only: a key has no creator to answer for the keys it would make.
        keys.MapPost("", Create).WithSummary("Creates an API key; its secret is in this answer only.").RequireAuthorization(OrgPermissions.ApiKeysManage).RequireUser();
        keys.MapDelete("/{id:guid}", Revoke).WithSummary("Revokes an API key at once.").RequireAuthorization(OrgPermissions.ApiKeysManage).RequireUser();
        keys.MapPut("/{id:guid}/limits", SetLimits).WithSummary("Replaces an API key's limits: requests and tokens a minute, monthly budget.").RequireAuthorization(OrgPermissions.ApiKeysManage).RequireUser();
        keys.MapPost("/{id:guid}/rotate", Rotate).WithSummary("Replaces an API key's secret; the old one stops working.").RequireAuthorization(OrgPermissions.ApiKeysManage).RequireUser();
    }

    static async Task<Ok<List<ApiKeyResponse>>> List(Guid orgId, HttpContext http, OrgApiKeys keys, CancellationToken ct) =>
        TypedResults.Ok(await keys.ListAsync(http.Grant(), ct));

    static async Task<Created<ApiKeyWithSecret>> Create(Guid orgId, ApiKeyRequest body, HttpContext http, ClaimsPrincipal user, OrgApiKeys keys, CancellationToken ct)
    {
        var created = await keys.CreateAsync(http.Grant(), user.UserId()!.Value, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/api-keys/{created.Key.Id}", created);
    }

    static async Task<NoContent> Revoke(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, OrgApiKeys keys, CancellationToken ct)
    {
        await keys.RevokeAsync(http.Grant(), user.UserId()!.Value, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<ApiKeyResponse>> SetLimits(Guid orgId, Guid id, ApiKeyLimitsRequest body, HttpContext http, ClaimsPrincipal user, OrgApiKeys keys, CancellationToken ct) =>
        TypedResults.Ok(await keys.SetLimitsAsync(http.Grant(), user.UserId()!.Value, id, body, ct));

    static async Task<Ok<ApiKeyWithSecret>> Rotate(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, OrgApiKeys keys, CancellationToken ct) =>
        TypedResults.Ok(await keys.RotateAsync(http.Grant(), user.UserId()!.Value, id, ct));
}

/// <summary>An org's API keys, for the API and the web UI alike.</summary>
internal sealed class OrgApiKeys(AppDbContext db, ApiKeyLookup lookup, AuditLog audit, TimeProvider clock) : IUserCredentials
{
    /// <summary>The person an API key acts for: its creator. The key is fetched by (org, id).</summary>
    public static Task<Guid> CreatorAsync(AppDbContext db, Guid orgId, Guid keyId, CancellationToken ct) =>
        db.ApiKeys.IgnoreQueryFilters().AsNoTracking().Where(k => k.OrganizationId == orgId && k.Id == keyId).Select(k => k.CreatedBy).FirstAsync(ct);

    /// <summary>
    /// The names of keys by id, for usage answers: within an org when one is given, else among the keys a user made
    /// (whose calls are theirs); never a secret.
    /// </summary>
    public static async Task<Dictionary<Guid, string>> NamesAsync(AppDbContext db, IReadOnlyCollection<Guid> ids, Guid? orgId, Guid? creatorId, CancellationToken ct)
    {
        if (ids.Count == 0 || orgId is null && creatorId is null)
            return [];
        var keys = db.ApiKeys.IgnoreQueryFilters().AsNoTracking().Where(k => ids.Contains(k.Id));
        if (orgId is { } org)
            keys = keys.Where(k => k.OrganizationId == org);
        if (creatorId is { } creator)
            keys = keys.Where(k => k.CreatedBy == creator);
        return await keys.ToDictionaryAsync(k => k.Id, k => k.Name, ct);
    }

    public const int MaxRateLimitPerMinute = 100_000;

    /// <summary>The most tokens a minute a key may be given, as the column's check says.</summary>
    public const int MaxTokensPerMinute = 100_000_000;

    public async Task<List<ApiKeyResponse>> ListAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.ApiKeysRead);
        var keys = await db.ApiKeys.AsNoTracking().Where(k => k.OrganizationId == caller.OrganizationId).OrderByDescending(k => k.CreatedAt).ToListAsync(ct);
        return keys.Select(Describe).ToList();
    }

    /// <remarks>A key holds a subset of its creator's permissions in this org, never more.</remarks>
    public async Task<ApiKeyWithSecret> CreateAsync(OrgGrant caller, Guid actorId, ApiKeyRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.ApiKeysManage);
        var orgId = caller.OrganizationId;
        var now = clock.GetUtcNow();
        var (name, permissions) = Validate(body, now);
        var beyond = permissions.Where(p => !caller.Has(p)).Select(OrgPermissions.Name).ToList();
        if (beyond.Count > 0)
            throw Orgs.Forbidden($"A key cannot hold what you do not: {string.Join(", ", beyond)}.");
        if (body.WorkspaceId is { } workspaceId)
            await Workspaces.FindAsync(db, orgId, workspaceId, ct);

        var (prefix, secret) = ApiKeySecrets.New();
        var key = new ApiKey
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = orgId,
            WorkspaceId = body.WorkspaceId,
            Name = name,
            Prefix = prefix,
            SecretHash = ApiKeySecrets.Hash(secret),
            Permissions = ApiKeySecrets.FormatPermissions(permissions),
            CreatedBy = actorId,
            CreatedAt = now,
            ExpiresAt = body.ExpiresAt,
            RateLimitPerMinute = body.RateLimitPerMinute,
            MonthlyBudgetCredits = body.MonthlyBudgetCredits,
            TokensPerMinute = body.TokensPerMinute,
        };
        db.ApiKeys.Add(key);
        audit.Add(AuditKinds.ApiKeyCreated, key.CreatedBy, new { key.Id, key.Name, key.Prefix, key.Permissions }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return new ApiKeyWithSecret(Describe(key), secret);
    }

    public async Task RevokeAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        var key = await FindOwnAsync(caller, actorId, id, ct);
        if (key.RevokedAt is not null)
            return;
        await RevokeAsync([key], actorId, reason: null, ct);
    }

    /// <summary>Every live key the user made, in every org: their password was reset, or their unverified account reclaimed.</summary>
    public async Task<int> RevokeForUserAsync(Guid userId, string reason, CancellationToken ct)
    {
        var keys = await db.ApiKeys.IgnoreQueryFilters().Where(k => k.CreatedBy == userId && k.RevokedAt == null).ToListAsync(ct);
        if (keys.Count > 0)
            await RevokeAsync(keys, actorId: null, reason, ct);
        return keys.Count;
    }

    async Task RevokeAsync(List<ApiKey> keys, Guid? actorId, string? reason, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        foreach (var key in keys)
        {
            key.RevokedAt = now;
            audit.Add(AuditKinds.ApiKeyRevoked, key.CreatedBy, new { key.Id, key.Name, key.Prefix, reason }, actorId, key.OrganizationId);
        }
        await db.SaveChangesAsync(ct);
        foreach (var key in keys)
            await lookup.ForgetAsync(key.SecretHash, ct);
    }

    /// <remarks>Every node sees the new limits within the key cache's five seconds; this node at once.</remarks>
    public async Task<ApiKeyResponse> SetLimitsAsync(OrgGrant caller, Guid actorId, Guid id, ApiKeyLimitsRequest body, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        ValidateLimits(errors, body.RateLimitPerMinute, body.TokensPerMinute, body.MonthlyBudgetCredits);
        if (errors.Count > 0)
            throw ProblemException.Invalid(errors);
        var key = await FindOwnAsync(caller, actorId, id, ct);
        var before = new { key.RateLimitPerMinute, key.TokensPerMinute, key.MonthlyBudgetCredits };
        (key.RateLimitPerMinute, key.TokensPerMinute, key.MonthlyBudgetCredits) = (body.RateLimitPerMinute, body.TokensPerMinute, body.MonthlyBudgetCredits);
        audit.Add(AuditKinds.ApiKeyLimitsChanged, key.CreatedBy, new { key.Id, key.Name, key.Prefix, before, after = body }, actorId, caller.OrganizationId);
        await db.SaveChangesAsync(ct);
        await lookup.ForgetAsync(key.SecretHash, ct);
        return Describe(key);
    }

    /// <remarks>Same key, new secret: its permissions, limits and history stay, and the old secret stops at once.</remarks>
    public async Task<ApiKeyWithSecret> RotateAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        var key = await FindOwnAsync(caller, actorId, id, ct);
        if (key.RevokedAt is not null || key.ExpiresAt <= clock.GetUtcNow())
            throw Orgs.Conflict("The key is revoked or expired.", "Create a new key instead.");
        var oldHash = key.SecretHash;
        var (prefix, secret) = ApiKeySecrets.New();
        key.Prefix = prefix;
        key.SecretHash = ApiKeySecrets.Hash(secret);
        audit.Add(AuditKinds.ApiKeyRotated, key.CreatedBy, new { key.Id, key.Name, key.Prefix }, actorId, caller.OrganizationId);
        await db.SaveChangesAsync(ct);
        await lookup.ForgetAsync(oldHash, ct);
        return new ApiKeyWithSecret(Describe(key), secret);
    }

    /// <summary>By (org, id); Admins and Owners act on any key of the org, everyone else on the keys they made.</summary>
    async Task<ApiKey> FindOwnAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.ApiKeysManage);
        var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.OrganizationId == caller.OrganizationId && k.Id == id, ct)
            ?? throw Orgs.NotFound("No such API key.", $"There is no API key {id} in this organisation.");
        if (caller.Role < OrgRole.Admin && key.CreatedBy != actorId)
            throw Orgs.Forbidden("Only an Admin or Owner manages keys that someone else made.");
        return key;
    }

    static (string Name, List<string> Permissions) Validate(ApiKeyRequest body, DateTimeOffset now)
    {
        var errors = new Dictionary<string, string[]>();
        var name = body.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 100)
            errors["name"] = ["Give a name of 1 to 100 characters."];
        var permissions = new List<string>();
        if (body.Permissions is not { Count: > 0 })
            errors["permissions"] = ["Give at least one permission, like workspaces:read."];
        else
        {
            var unknown = body.Permissions.Where(p => OrgPermissions.FromName(p ?? "") is null).ToList();
            if (unknown.Count > 0)
                errors["permissions"] = [$"Not a permission: {string.Join(", ", unknown)}. Known: {string.Join(", ", OrgPermissions.All.Select(OrgPermissions.Name))}."];
            permissions = [.. body.Permissions.Select(p => OrgPermissions.FromName(p ?? "")).OfType<string>().Distinct()];
        }
        if (body.ExpiresAt is { } expires && expires <= now)
            errors["expiresAt"] = ["The expiry must be in the future."];
        ValidateLimits(errors, body.RateLimitPerMinute, body.TokensPerMinute, body.MonthlyBudgetCredits);
        if (errors.Count > 0)
            throw ProblemException.Invalid(errors);
        return (name!, permissions);
    }

    static void ValidateLimits(Dictionary<string, string[]> errors, int? rateLimitPerMinute, int? tokensPerMinute, long? monthlyBudgetCredits)
    {
        if (rateLimitPerMinute is < 1 or > MaxRateLimitPerMinute)
            errors["rateLimitPerMinute"] = [$"The rate limit is between 1 and {MaxRateLimitPerMinute:N0} requests a minute."];
        if (tokensPerMinute is < 1 or > MaxTokensPerMinute)
            errors["tokensPerMinute"] = [$"The token limit is between 1 and {MaxTokensPerMinute:N0} tokens a minute."];
        if (monthlyBudgetCredits is < 0)
            errors["monthlyBudgetCredits"] = ["The monthly budget cannot be negative."];
        else if (monthlyBudgetCredits > Micros.MaxBalance / Micros.PerCredit)
            errors["monthlyBudgetCredits"] = [Micros.BalanceRule];
    }

    static ApiKeyResponse Describe(ApiKey k) => new(
        k.Id, k.Name, k.Prefix, k.PermissionList().Select(OrgPermissions.Name).ToList(), k.WorkspaceId, k.CreatedBy, k.CreatedAt,
        k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.RateLimitPerMinute, k.MonthlyBudgetCredits, k.TokensPerMinute);
}
