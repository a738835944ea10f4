using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.RateLimiting;
using AiHub.Infrastructure.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;

namespace AiHub.Organizations.ApiKeys;

/// <summary>The key format, <c>ahk_&lt;prefix&gt;_&lt;secret&gt;</c>, in letters and digits only so that the log redactor recognises it.</summary>
internal static class ApiKeySecrets
{
    const string PrefixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    const string SecretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const int PrefixLength = 8;

    // 43 characters of 62 carry just over 256 bits.
    const int SecretLength = 43;

    public static (string Prefix, string Key) New()
    {
        var prefix = RandomNumberGenerator.GetString(PrefixAlphabet, PrefixLength);
        return (prefix, $"{IdentityExtensions.ApiKeyTokenPrefix}{prefix}_{RandomNumberGenerator.GetString(SecretAlphabet, SecretLength)}");
    }

    public static bool LooksLikeKey(string token) =>
        token.Length == IdentityExtensions.ApiKeyTokenPrefix.Length + PrefixLength + 1 + SecretLength
        && token.StartsWith(IdentityExtensions.ApiKeyTokenPrefix, StringComparison.Ordinal)
        && token[IdentityExtensions.ApiKeyTokenPrefix.Length + PrefixLength] == '_';

    public static string Hash(string key) => Sessions.Hash(key);

    public static string FormatPermissions(IEnumerable<string> permissions) =>
        string.Join(' ', OrgPermissions.All.Where(permissions.Contains).Select(OrgPermissions.Name));

    /// <summary>Names that are no longer permissions are dropped, so that a key only ever narrows.</summary>
    public static IReadOnlyList<string> ParsePermissions(string names) =>
        [.. names.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(OrgPermissions.FromName).OfType<string>()];
}

internal static class ApiKeyClaims
{
    public const string KeyId = "aihub:api_key";
    public const string Organization = "aihub:org";
    public const string Workspace = "aihub:workspace";
    public const string Permission = "aihub:permission";
    public const string Creator = "aihub:creator";
    public const string TokensPerMinute = "aihub:tpm";
}

/// <summary>What an authenticated API key may do: the claims of its principal, which has no user.</summary>
/// <param name="CreatedBy">The member who made the key: its calls are theirs to pay for (Guid.Empty when the claim is missing).</param>
/// <param name="TokensPerMinute">The key's token limit a minute, as of the cached key; null for none.</param>
internal sealed record ApiKeyIdentity(Guid Id, Guid OrganizationId, Guid? WorkspaceId, IReadOnlyList<string> Permissions, Guid CreatedBy = default, int? TokensPerMinute = null);

internal static class ApiKeyPrincipalExtensions
{
    /// <summary>The API key the request authenticated with, or null for a user (or nobody).</summary>
    public static ApiKeyIdentity? ApiKey(this ClaimsPrincipal principal)
    {
        if (!Guid.TryParse(principal.FindFirstValue(ApiKeyClaims.KeyId), out var id) || !Guid.TryParse(principal.FindFirstValue(ApiKeyClaims.Organization), out var orgId))
            return null;
        Guid? workspaceId = Guid.TryParse(principal.FindFirstValue(ApiKeyClaims.Workspace), out var w) ? w : null;
        var creator = Guid.TryParse(principal.FindFirstValue(ApiKeyClaims.Creator), out var c) ? c : Guid.Empty;
        int? tokensPerMinute = int.TryParse(principal.FindFirstValue(ApiKeyClaims.TokensPerMinute), CultureInfo.InvariantCulture, out var tpm) ? tpm : null;
        return new ApiKeyIdentity(id, orgId, workspaceId, [.. principal.FindAll(ApiKeyClaims.Permission).Select(c => c.Value)], creator, tokensPerMinute);
    }

    public static bool IsApiKey(this ClaimsPrincipal principal) => principal.HasClaim(c => c.Type == ApiKeyClaims.KeyId);
}

/// <summary>
/// Keys by hash, cached for at most five seconds on each node and never in the shared cache, so that a revocation or
/// rotation reaches every node within five seconds without a message between them; the node that revokes forgets at once.
/// </summary>
internal sealed class ApiKeyLookup(HybridCache cache, IServiceScopeFactory scopes, TimeProvider clock)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);

    /// <summary>How often <c>LastUsedAt</c> is written at most: it is for people, who do not need it to the second.</summary>
    public static readonly TimeSpan UsedGranularity = TimeSpan.FromMinutes(1);

    static readonly HybridCacheEntryOptions EntryOptions = new()
    {
        Expiration = CacheLifetime,
        LocalCacheExpiration = CacheLifetime,
        Flags = HybridCacheEntryFlags.DisableDistributedCache,
    };

    readonly ConcurrentDictionary<Guid, DateTimeOffset> _lastMarked = new();

    // Immutable, so the local cache hands out the one instance instead of a copy per request.
    [System.ComponentModel.ImmutableObject(true)]
    internal sealed record CachedKey(
        bool Exists, Guid Id, Guid OrganizationId, Guid? WorkspaceId, IReadOnlyList<string> Permissions,
        DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt, int? RateLimitPerMinute, Guid CreatedBy = default,
        int? TokensPerMinute = null);

    public async Task<CachedKey?> FindAsync(string key, CancellationToken ct)
    {
        var hash = ApiKeySecrets.Hash(key);
        var found = await cache.GetOrCreateAsync(Key(hash), hash, LoadAsync, EntryOptions, cancellationToken: ct);
        return found.Exists ? found : null;
    }

    public async Task ForgetAsync(string secretHash, CancellationToken ct) => await cache.RemoveAsync(Key(secretHash), ct);

    /// <summary>Writes <c>LastUsedAt</c> at most once a minute per key: this node remembers, and the database refuses an earlier write.</summary>
    public async Task MarkUsedAsync(CachedKey key, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var since = now - UsedGranularity;
        if (key.LastUsedAt > since || (_lastMarked.TryGetValue(key.Id, out var marked) && marked > since))
            return;
        _lastMarked[key.Id] = now;
        if (_lastMarked.Count > 100_000)
            foreach (var stale in _lastMarked.Where(p => p.Value <= since).Select(p => p.Key).ToList())
                _lastMarked.TryRemove(stale, out _);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        await db.ApiKeys.IgnoreQueryFilters()
            .Where(k => k.Id == key.Id && (k.LastUsedAt == null || k.LastUsedAt <= since))
            .ExecuteUpdateAsync(u => u.SetProperty(k => k.LastUsedAt, now), ct);
    }

    /// <remarks>
    /// A key never does more than its creator can do now: it stops with their membership and narrows with their role.
    /// </remarks>
    async ValueTask<CachedKey> LoadAsync(string hash, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var row = await (from k in db.ApiKeys.IgnoreQueryFilters()
                         join o in db.Organizations on k.OrganizationId equals o.Id
                         join m in db.Memberships on new { k.OrganizationId, UserId = k.CreatedBy } equals new { m.OrganizationId, m.UserId }
                         where k.SecretHash == hash && o.DeletedAt == null
                         select new { k, m.Role }).AsNoTracking().FirstOrDefaultAsync(ct);
        if (row is null)
            return new CachedKey(false, Guid.Empty, Guid.Empty, null, [], null, null, null, null);
        var key = row.k;
        var permissions = key.PermissionList().Intersect(OrgPermissions.ByRole[row.Role]).ToList();
        return new CachedKey(true, key.Id, key.OrganizationId, key.WorkspaceId, permissions, key.ExpiresAt, key.RevokedAt, key.LastUsedAt, key.RateLimitPerMinute, key.CreatedBy,
            key.TokensPerMinute);
    }

    static string Key(string hash) => $"api-key:{hash}";
}

/// <summary>
/// <c>Authorization: Bearer ahk_…</c>, or <c>x-api-key: ahk_…</c> as Anthropic's clients send it. The principal is the key, not a person: it has no <c>sub</c>, so
/// <see cref="ClaimsPrincipalExtensions.UserId"/> is null for it, and it is let in only on org routes.
/// </summary>
internal sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    ApiKeyLookup keys, RateCounter rates, TimeProvider clock, IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = IdentityExtensions.TokenOf(Request);
        if (token is null)
            return AuthenticateResult.NoResult();
        if (!ApiKeySecrets.LooksLikeKey(token))
            return AuthenticateResult.Fail("That is not an AiHub API key.");
        var ct = Context.RequestAborted;
        var key = await keys.FindAsync(token, ct);
        if (key is null)
            return AuthenticateResult.Fail("The API key is unknown, or its organisation or creator is gone.");
        if (key.RevokedAt is not null)
            return AuthenticateResult.Fail("The API key was revoked.");
        if (key.ExpiresAt <= clock.GetUtcNow())
            return AuthenticateResult.Fail("The API key has expired.");
        // Every request the key makes counts, whichever endpoint it is for.
        if (key.RateLimitPerMinute is { } limit)
            await rates.EnforceAsync($"api-key:{key.Id:N}", limit, TimeSpan.FromMinutes(1), ct);
        await keys.MarkUsedAsync(key, ct);

        List<Claim> claims =
        [
            new(ApiKeyClaims.KeyId, key.Id.ToString()),
            new(ApiKeyClaims.Organization, key.OrganizationId.ToString()),
            new(ApiKeyClaims.Creator, key.CreatedBy.ToString()),
            .. key.Permissions.Select(p => new Claim(ApiKeyClaims.Permission, p)),
        ];
        if (key.WorkspaceId is { } workspaceId)
            claims.Add(new Claim(ApiKeyClaims.Workspace, workspaceId.ToString()));
        if (key.TokensPerMinute is { } tokensPerMinute)
            claims.Add(new Claim(ApiKeyClaims.TokensPerMinute, tokensPerMinute.ToString(CultureInfo.InvariantCulture)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme.Name));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "The API key is not valid.",
                Detail = result.Failure?.Message ?? "Send a valid key as Authorization: Bearer ahk_… (or x-api-key: ahk_…).",
                Type = ProblemTypes.InvalidApiKey,
            },
        });
    }
}
