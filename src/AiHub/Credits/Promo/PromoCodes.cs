using System.Text.RegularExpressions;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Promo;

internal sealed record PromoCodeRequest(string? Code, decimal? Credits, int? MaxUses, DateTimeOffset? ExpiresAt);

internal sealed record PromoCodeResponse(
    Guid Id, string Code, decimal Credits, long CreditsMicros, int? MaxUses, int Uses, DateTimeOffset? ExpiresAt, bool Active, Guid? CreatedBy, DateTimeOffset CreatedAt);

internal sealed record RedeemRequest(string? Code);

/// <summary>Built from what was stored, so that a retried redemption answers exactly as the first did.</summary>
internal sealed record RedemptionResponse(string Code, decimal Credits, long CreditsMicros, Guid EntryId, DateTimeOffset RedeemedAt);

/// <summary>Promo codes: admins make and deactivate them, users redeem each once for credits on their own account.</summary>
internal sealed partial class PromoCodes(AppDbContext db, Ledger ledger, AuditLog audit, TimeProvider clock)
{
    public async Task<PromoCodeResponse> CreateAsync(PromoCodeRequest request, Guid actorId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var errors = new Dictionary<string, string[]>();
        var code = Normalize(request.Code);
        if (!Shape().IsMatch(code))
            errors["code"] = ["A code is 3 to 40 characters: letters A-Z, digits, '-' and '_'."];
        switch (Micros.Read(request.Credits, MicrosSign.Positive, Micros.MaxEntry, out var micros))
        {
            case MicrosReading.TooLarge:
                throw Micros.OutOfRange("credits", Micros.EntryRule);
            case MicrosReading.TooFine:
                errors["credits"] = [Micros.TooFineRule];
                break;
            case not MicrosReading.Exact:
                errors["credits"] = ["Give more than 0 credits."];
                break;
        }
        if (request.MaxUses is < 1)
            errors["maxUses"] = ["maxUses is at least 1; leave it out for a code without a limit."];
        if (request.ExpiresAt is { } expires && expires <= now)
            errors["expiresAt"] = ["expiresAt must be in the future."];
        if (errors.Count > 0)
            throw ProblemException.Invalid(errors);
        if (await db.Set<PromoCode>().AnyAsync(p => p.Code == code, ct))
            throw Duplicate(code);
        var promo = new PromoCode
        {
            Id = Guid.CreateVersion7(now), Code = code, Credits = micros, MaxUses = request.MaxUses, ExpiresAt = request.ExpiresAt?.ToUniversalTime(),
            Active = true, CreatedBy = actorId, CreatedAt = now,
        };
        db.Add(promo);
        audit.Add(AuditKinds.PromoCodeCreated, null, new { code, creditsMicros = micros, maxUses = request.MaxUses, expiresAt = promo.ExpiresAt }, actorId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw Duplicate(code);
        }
        return Describe(promo);
    }

    public async Task<List<PromoCodeResponse>> ListAsync(CancellationToken ct) =>
        (await db.Set<PromoCode>().AsNoTracking().OrderByDescending(p => p.CreatedAt).ThenBy(p => p.Code).ToListAsync(ct)).Select(Describe).ToList();

    /// <remarks>The code stays, with its redemptions, so that history still says where credits came from.</remarks>
    public async Task<PromoCodeResponse> DeactivateAsync(string code, Guid actorId, CancellationToken ct)
    {
        var normalized = Normalize(code);
        var promo = await db.Set<PromoCode>().FirstOrDefaultAsync(p => p.Code == normalized, ct) ?? throw Unknown(normalized);
        if (promo.Active)
        {
            promo.Active = false;
            audit.Add(AuditKinds.PromoCodeDeactivated, null, new { code = promo.Code, uses = promo.Uses }, actorId);
            await db.SaveChangesAsync(ct);
        }
        db.ChangeTracker.Clear();
        return Describe(promo);
    }

    /// <summary>
    /// Gives the code's credits to the user's own account. Every condition is checked again inside the ledger entry's
    /// transaction, and the use is counted there by a conditional update, so a code never goes past its uses.
    /// </summary>
    /// <param name="requestKey">The client's <c>Idempotency-Key</c>: the same key again returns the first redemption instead of refusing.</param>
    public async Task<RedemptionResponse> RedeemAsync(Guid userId, string? code, string? requestKey, CancellationToken ct)
    {
        var normalized = Normalize(code);
        if (normalized.Length == 0)
            throw ProblemException.Invalid("code", "Type the promo code.");
        var promo = await db.Set<PromoCode>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == normalized, ct) ?? throw Unknown(normalized);
        if (await RedemptionAsync(promo.Id, userId, ct) is { } earlier)
            return Earlier(promo, earlier, requestKey);
        var now = clock.GetUtcNow();
        Refuse(promo, now);
        var account = await ledger.OpenAsync(CreditOwner.User, userId, null, ct);
        var redemptionId = Guid.CreateVersion7(now);
        await ledger.PostAsync(account.Id, CreditKind.Promo, promo.Credits, $"promo code {promo.Code}", userId, $"promo:{promo.Id:N}:{userId:N}", ct, async (entry, c) =>
        {
            var at = clock.GetUtcNow();
            var counted = await db.Set<PromoCode>()
                .Where(p => p.Id == promo.Id && p.Active && (p.ExpiresAt == null || p.ExpiresAt > at) && (p.MaxUses == null || p.Uses < p.MaxUses))
                .ExecuteUpdateAsync(u => u.SetProperty(p => p.Uses, p => p.Uses + 1), c);
            if (counted == 0)
            {
                // Something changed since the first look; say what, and roll the entry back.
                Refuse(await db.Set<PromoCode>().AsNoTracking().FirstAsync(p => p.Id == promo.Id, c), at);
                throw UsedUp(promo.Code);
            }
            db.Add(new PromoRedemption { Id = redemptionId, PromoCodeId = promo.Id, UserId = userId, EntryId = entry.Id, RequestKey = requestKey, RedeemedAt = entry.CreatedAt });
            audit.Add(AuditKinds.PromoCodeRedeemed, userId, new { code = promo.Code, creditsMicros = promo.Credits, entry = entry.Id });
        });
        // The ledger returns an earlier entry of the same key without running the hook: then another request redeemed it.
        var redemption = await RedemptionAsync(promo.Id, userId, ct) ?? throw AlreadyRedeemed(promo.Code);
        return redemption.Id == redemptionId ? Describe(promo, redemption) : Earlier(promo, redemption, requestKey);
    }

    async Task<PromoRedemption?> RedemptionAsync(Guid promoId, Guid userId, CancellationToken ct) =>
        await db.Set<PromoRedemption>().AsNoTracking().FirstOrDefaultAsync(r => r.PromoCodeId == promoId && r.UserId == userId, ct);

    static RedemptionResponse Earlier(PromoCode promo, PromoRedemption earlier, string? requestKey) =>
        requestKey is not null && earlier.RequestKey == requestKey ? Describe(promo, earlier) : throw AlreadyRedeemed(promo.Code);

    static void Refuse(PromoCode promo, DateTimeOffset now)
    {
        if (!promo.Active)
            throw new ProblemException(StatusCodes.Status410Gone, "This promo code is no longer active.", $"The code {promo.Code} was withdrawn.", ProblemTypes.PromoCodeInactive);
        if (promo.ExpiresAt is { } expires && expires <= now)
            throw new ProblemException(StatusCodes.Status410Gone, "This promo code has expired.",
                $"The code {promo.Code} could be redeemed until {expires.UtcDateTime:yyyy-MM-dd HH:mm} UTC.", ProblemTypes.PromoCodeExpired);
        if (promo.MaxUses is { } max && promo.Uses >= max)
            throw UsedUp(promo.Code);
    }

    /// <summary>What people type: surrounding spaces and letter case do not matter.</summary>
    internal static string Normalize(string? code) => (code ?? "").Trim().ToUpperInvariant();

    static ProblemException Unknown(string code) =>
        new(StatusCodes.Status404NotFound, "There is no such promo code.", $"No promo code {code} exists; check the spelling.", ProblemTypes.PromoCodeNotFound);

    static ProblemException UsedUp(string code) =>
        new(StatusCodes.Status409Conflict, "This promo code has been used up.", $"Every use of the code {code} has been redeemed.", ProblemTypes.PromoCodeUsedUp);

    static ProblemException AlreadyRedeemed(string code) =>
        new(StatusCodes.Status409Conflict, "You have already redeemed this promo code.", $"Each account can redeem {code} once.", ProblemTypes.PromoCodeAlreadyRedeemed);

    static ProblemException Duplicate(string code) =>
        new(StatusCodes.Status409Conflict, "That promo code exists already.", $"A promo code {code} exists (perhaps deactivated); choose another.", ProblemTypes.Conflict);

    static PromoCodeResponse Describe(PromoCode p) =>
        new(p.Id, p.Code, Micros.ToCredits(p.Credits), p.Credits, p.MaxUses, p.Uses, p.ExpiresAt, p.Active, p.CreatedBy, p.CreatedAt);

    static RedemptionResponse Describe(PromoCode promo, PromoRedemption r) =>
        new(promo.Code, Micros.ToCredits(promo.Credits), promo.Credits, r.EntryId, r.RedeemedAt);

    [GeneratedRegex("^[A-Z0-9_-]{3,40}$")]
    private static partial Regex Shape();
}
