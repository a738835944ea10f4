using System.Security.Claims;
using System.Text.RegularExpressions;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Money;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Services;

internal sealed record CreditCheckRequest(Guid? UserId, decimal? Credits, string? Service);

internal enum CreditPayer
{
    Organization,
    User,
}

/// <param name="Allowed">Whether a deduct or hold of <paramref name="Credits"/> would stand now.</param>
/// <param name="Available">The most that could be spent now: the least of what the payer, the member's allowance and the key's budget have free.</param>
/// <param name="Balance">The payer's balance, what is held included.</param>
/// <param name="Reason">Why not, as the problem type a deduct would be refused with.</param>
internal sealed record CreditCheckResponse(bool Allowed, decimal Credits, decimal Available, long AvailableMicros, decimal Balance, long BalanceMicros, CreditPayer Payer,
    string? Reason);

internal sealed record CreditDeductRequest(decimal? Credits, string? Service, string? Reference, string? IdempotencyKey, Guid? UserId);

/// <summary>The ledger entry a deduct or a settlement wrote on the payer's account.</summary>
internal sealed record CreditChargeResponse(Guid Id, Guid HoldId, decimal Credits, long CreditsMicros, string Service, string Reference, decimal BalanceAfter,
    long BalanceAfterMicros, DateTimeOffset CreatedAt);

internal sealed record CreditHoldRequest(decimal? Credits, string? Service, string? Reference, string? IdempotencyKey, int? ExpiresInSeconds, Guid? UserId);

internal enum CreditHoldState
{
    Held,
    Settled,
    Released,
    Expired,
}

/// <param name="Settled">What the settlement charged, once settled.</param>
internal sealed record CreditHoldResponse(Guid Id, decimal Credits, long CreditsMicros, CreditHoldState State, DateTimeOffset ExpiresAt, string Service, string Reference,
    DateTimeOffset CreatedAt, decimal? Settled, long? SettledMicros);

internal sealed record CreditSettleRequest(decimal? Credits);

/// <summary>
/// Credits spent by outside services (a Custom GPT action, a partner's backend) with an org API key that has
/// <c>credits:spend</c>: check, deduct at once, or hold for long work and settle or release later.
/// </summary>
/// <remarks>
/// Every movement is a <see cref="CreditGate"/> hold, so the payer (the org pool, or the owner's own credits in a personal
/// org), the member's allocation and the key's monthly budget apply exactly as to any AI call; a deduct is a hold
/// posted at once. A usage record per charge (provider <c>service</c>, model = the service's name) shows it on the
/// usage pages. The service's idempotency key is kept per org and kind; the ledger's key is derived from it.
/// </remarks>
internal sealed partial class ServiceCredits(AppDbContext db, CreditGate gate, UsageMeter usage, TimeProvider clock)
{
    /// <summary>The provider name that usage records of outside services carry; their model is the service's name.</summary>
    public const string UsageProvider = "service";

    public static readonly TimeSpan DefaultHoldLifetime = TimeSpan.FromHours(1);

    const string CreditsRule = "Send credits: a positive amount with at most 6 decimals.";

    public async Task<CreditCheckResponse> CheckAsync(ClaimsPrincipal caller, CreditCheckRequest body, CancellationToken ct)
    {
        var amount = Micros.Require(body.Credits, "credits", MicrosSign.Positive, CreditsRule);
        RequireService(body.Service);
        var (spender, _) = await SpenderAsync(caller, body.UserId, ct);
        var answer = await gate.CheckAsync(spender, amount, ct);
        return new CreditCheckResponse(answer.Allowed, Micros.ToCredits(amount), Micros.ToCredits(answer.AvailableMicros), answer.AvailableMicros,
            Micros.ToCredits(answer.BalanceMicros), answer.BalanceMicros, answer.Personal ? CreditPayer.User : CreditPayer.Organization, answer.Reason);
    }

    /// <summary>Charges at once; <c>Created</c> is false when the idempotency key was seen before and this is the first answer again.</summary>
    public async Task<(CreditChargeResponse Entry, bool Created)> DeductAsync(ClaimsPrincipal caller, CreditDeductRequest body, CancellationToken ct)
    {
        var (amount, service, reference, key) = Validate(body.Credits, body.Service, body.Reference, body.IdempotencyKey);
        var (spender, _) = await SpenderAsync(caller, body.UserId, ct);
        var (charge, created) = await OpenAsync(spender, ServiceChargeKind.Deduct, amount, service, reference, key, null, ct);
        return (await ChargeAsync(charge, amount, ct), created);
    }

    public async Task<(CreditHoldResponse Hold, bool Created)> HoldAsync(ClaimsPrincipal caller, CreditHoldRequest body, CancellationToken ct)
    {
        var (amount, service, reference, key) = Validate(body.Credits, body.Service, body.Reference, body.IdempotencyKey);
        var seconds = body.ExpiresInSeconds ?? (int)DefaultHoldLifetime.TotalSeconds;
        if (seconds < 1 || seconds > Ledger.MaxHoldLifetime.TotalSeconds)
            throw ProblemException.Invalid("expiresInSeconds", $"A hold lives 1 to {Ledger.MaxHoldLifetime.TotalSeconds:0} seconds (7 days); the default is one hour.");
        var (spender, _) = await SpenderAsync(caller, body.UserId, ct);
        var (charge, created) = await OpenAsync(spender, ServiceChargeKind.Hold, amount, service, reference, key, TimeSpan.FromSeconds(seconds), ct);
        return (Describe(charge, await HoldOfAsync(charge, ct)), created);
    }

    public async Task<CreditHoldResponse> GetHoldAsync(ClaimsPrincipal caller, Guid id, CancellationToken ct)
    {
        var charge = await HoldChargeAsync(caller, id, ct);
        return Describe(charge, await HoldOfAsync(charge, ct));
    }

    /// <summary>Charges what the work cost (at most what was held) and frees the rest; the same amount again answers the same entry.</summary>
    public async Task<CreditChargeResponse> SettleAsync(ClaimsPrincipal caller, Guid id, CreditSettleRequest body, CancellationToken ct)
    {
        var amount = Micros.Require(body.Credits, "credits", MicrosSign.Positive, CreditsRule);
        var charge = await HoldChargeAsync(caller, id, ct);
        if (amount > charge.Amount)
            throw ProblemException.Invalid("credits", $"Settle at most the {Micros.Format(charge.Amount)} credits held.");
        var hold = await HoldOfAsync(charge, ct);
        if (hold.State == HoldState.Pending && hold.ExpiresAt <= clock.GetUtcNow())
            throw Closed("The hold has expired.", "Its credits were given back; hold again to charge for this work.");
        return await ChargeAsync(charge, amount, ct);
    }

    /// <summary>Gives the whole hold back; releasing again, or a hold that already expired, changes nothing.</summary>
    public async Task<CreditHoldResponse> ReleaseAsync(ClaimsPrincipal caller, Guid id, CancellationToken ct)
    {
        var charge = await HoldChargeAsync(caller, id, ct);
        await gate.ReleaseAsync(charge.OrganizationId, charge.Id, ct);
        var hold = await HoldOfAsync(charge, ct);
        if (hold.State == HoldState.Posted)
            throw Closed("The hold was settled.", $"It charged {Micros.Format(hold.ActualCost ?? 0)} credits; there is nothing left to release.");
        return Describe(charge, hold);
    }

    /// <summary>The request's row for this idempotency key, made with its ledger hold, or the one an earlier try made.</summary>
    async Task<(ServiceCharge Charge, bool Created)> OpenAsync(Spender spender, ServiceChargeKind kind, long amount, string service, string reference, string key,
        TimeSpan? lifetime, CancellationToken ct)
    {
        if (await FindAsync(spender.OrganizationId, kind, key, ct) is { } earlier)
            return (Same(earlier, spender, amount, service), false);
        var ledgerKey = $"service-{kind.ToString().ToLowerInvariant()}:{spender.OrganizationId:N}:{IdempotencyKeys.Digest(key)}";
        // The hold first: a retry after a crash between the two finds the same hold by its key and only adds the row.
        var hold = await gate.HoldAsync(spender, amount, ledgerKey, null, 1, lifetime ?? Ledger.HoldLifetime, ct);
        if (hold.AmountMicros != amount)
            throw Conflict(Micros.Format(hold.AmountMicros), service);
        db.Add(new ServiceCharge
        {
            Id = hold.Id, OrganizationId = spender.OrganizationId, ApiKeyId = spender.ApiKeyId, UserId = spender.UserId, Kind = kind, IdempotencyKey = key,
            Service = service, Reference = reference, Amount = amount, CreatedAt = clock.GetUtcNow(),
        });
        try
        {
            await db.SaveChangesAsync(ct);
            db.ChangeTracker.Clear();
            return (await db.Set<ServiceCharge>().AsNoTracking().FirstAsync(c => c.Id == hold.Id, ct), true);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            // A concurrent retry with the same key wrote it first: its answer is ours, if it asked for the same.
            db.ChangeTracker.Clear();
            var first = await FindAsync(spender.OrganizationId, kind, key, ct) ?? throw new InvalidOperationException("A service charge reported as written could not be read.", e);
            return (Same(first, spender, amount, service), false);
        }
    }

    /// <summary>Posts the hold at <paramref name="amount"/> (nothing when it was posted before), records the usage once, and answers the payer's entry.</summary>
    async Task<CreditChargeResponse> ChargeAsync(ServiceCharge charge, long amount, CancellationToken ct)
    {
        await gate.SettleAsync(charge.OrganizationId, charge.Id, charge.ApiKeyId, amount, ct);
        var hold = await HoldOfAsync(charge, ct);
        if (hold.State == HoldState.Voided)
            throw Closed(hold.ClosedAt >= hold.ExpiresAt ? "The hold has expired." : "The hold was released.",
                "Its credits were given back; hold again to charge for this work.");
        if (hold.ActualCost != amount)
            throw Closed("The hold was settled already.", $"It charged {Micros.Format(hold.ActualCost ?? 0)} credits; a settlement happens once.");
        await usage.RecordAsync(new UsageEntry($"service:{charge.Id:N}", charge.OrganizationId, charge.UserId ?? Guid.Empty, UsageProvider, charge.Service, 0, 0, 0,
            UsageStatus.Succeeded, charge.ApiKeyId, hold.WorkspaceId, hold.Id, amount, hold.ClosedAt), ct);
        var entry = await db.Set<CreditEntry>().AsNoTracking().FirstAsync(e => e.IdempotencyKey == $"{charge.Id:N}:payer", ct);
        return new CreditChargeResponse(entry.Id, charge.Id, Micros.ToCredits(-entry.Amount), -entry.Amount, charge.Service, charge.Reference,
            Micros.ToCredits(entry.BalanceAfter ?? 0), entry.BalanceAfter ?? 0, entry.CreatedAt);
    }

    async Task<ServiceCharge> HoldChargeAsync(ClaimsPrincipal caller, Guid id, CancellationToken ct)
    {
        var key = Key(caller);
        db.TenantId = key.OrganizationId;
        return await db.Set<ServiceCharge>().AsNoTracking()
                   .FirstOrDefaultAsync(c => c.OrganizationId == key.OrganizationId && c.Id == id && c.Kind == ServiceChargeKind.Hold, ct)
               ?? throw Orgs.NotFound("No such credit hold.", $"There is no hold {id} in this key's organisation.");
    }

    Task<LedgerHold> HoldOfAsync(ServiceCharge charge, CancellationToken ct) =>
        db.Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters().FirstAsync(h => h.OrganizationId == charge.OrganizationId && h.Id == charge.Id, ct);

    Task<ServiceCharge?> FindAsync(Guid orgId, ServiceChargeKind kind, string key, CancellationToken ct) =>
        db.Set<ServiceCharge>().AsNoTracking().FirstOrDefaultAsync(c => c.OrganizationId == orgId && c.Kind == kind && c.IdempotencyKey == key, ct);

    /// <summary>The payer's person: the member named (who must belong to the key's org), else the key's creator.</summary>
    async Task<(Spender Spender, ApiKeyIdentity Key)> SpenderAsync(ClaimsPrincipal caller, Guid? userId, CancellationToken ct)
    {
        var key = Key(caller);
        db.TenantId = key.OrganizationId;
        if (userId is { } named && !await db.Memberships.AnyAsync(m => m.OrganizationId == key.OrganizationId && m.UserId == named, ct))
            throw Orgs.NotFound("No such member.", $"User {named} is not a member of this key's organisation.");
        var person = userId ?? await OrgApiKeys.CreatorAsync(db, key.OrganizationId, key.Id, ct);
        return (new Spender(key.OrganizationId, person, key.Id, key.WorkspaceId), key);
    }

    /// <summary>The caller's API key with <c>credits:spend</c>; anyone else is refused.</summary>
    public static ApiKeyIdentity Key(ClaimsPrincipal caller) =>
        caller.ApiKey() is { } key && key.Permissions.Contains(OrgPermissions.CreditsSpend)
            ? key
            : throw new ProblemException(StatusCodes.Status403Forbidden, "This needs an organisation API key with the credits:spend permission.",
                caller.IsApiKey()
                    ? "This key lacks credits:spend; an Owner or Admin can make a key that has it."
                    : "Outside services spend credits with an organisation API key (Authorization: Bearer ahk_…) that has credits:spend, not a signed-in user.",
                ProblemTypes.Forbidden);

    static ServiceCharge Same(ServiceCharge earlier, Spender spender, long amount, string service) =>
        earlier.Amount == amount && earlier.Service == service && earlier.UserId == spender.UserId
            ? earlier
            : throw Conflict(Micros.Format(earlier.Amount), earlier.Service);

    static ProblemException Conflict(string credits, string service) =>
        new(StatusCodes.Status409Conflict, "That idempotency key was used for another request.",
            $"It was used for {credits} credits of service '{service}' (and one payer); send a new key for a different request.", ProblemTypes.Conflict);

    static ProblemException Closed(string title, string detail) => new(StatusCodes.Status409Conflict, title, detail, ProblemTypes.Conflict);

    CreditHoldResponse Describe(ServiceCharge charge, LedgerHold hold)
    {
        var state = hold.State switch
        {
            HoldState.Posted => CreditHoldState.Settled,
            HoldState.Voided => hold.ClosedAt >= hold.ExpiresAt ? CreditHoldState.Expired : CreditHoldState.Released,
            _ => hold.ExpiresAt <= clock.GetUtcNow() ? CreditHoldState.Expired : CreditHoldState.Held,
        };
        var settled = hold.State == HoldState.Posted ? hold.ActualCost : null;
        return new CreditHoldResponse(charge.Id, Micros.ToCredits(charge.Amount), charge.Amount, state, hold.ExpiresAt, charge.Service, charge.Reference, charge.CreatedAt,
            settled is { } s ? Micros.ToCredits(s) : null, settled);
    }

    static (long Amount, string Service, string Reference, string Key) Validate(decimal? credits, string? service, string? reference, string? key)
    {
        var amount = Micros.Require(credits, "credits", MicrosSign.Positive, CreditsRule);
        RequireService(service);
        if (string.IsNullOrWhiteSpace(reference) || reference.Length > ServiceCharge.MaxReferenceLength)
            throw ProblemException.Invalid("reference", $"Send a reference of 1 to {ServiceCharge.MaxReferenceLength} characters: what the credits pay for, in your terms.");
        if (string.IsNullOrWhiteSpace(key) || key.Length > IdempotencyKeys.MaxLength)
            throw ProblemException.Invalid("idempotencyKey",
                $"Send an idempotencyKey of 1 to {IdempotencyKeys.MaxLength} characters: a retry with the same key charges once.");
        return (amount, service!, reference, key);
    }

    static void RequireService(string? service)
    {
        if (service is null || !ServiceName().IsMatch(service))
            throw ProblemException.Invalid("service", "Send a service name of 1 to 64 characters of a-z, 0-9, '.', '_' and '-'.");
    }

    [GeneratedRegex(@"^[a-z0-9._-]{1,64}\z")]
    private static partial Regex ServiceName();
}
