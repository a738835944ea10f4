using AiHub.Data;
using AiHub.Identity;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Plans;

/// <summary>A new account starts on the free plan with that plan's grant of credits, once.</summary>
internal sealed class SignUpGrant(AppDbContext db, TimeProvider clock) : IAccountEvents
{
    public static string KeyFor(Guid userId) => $"signup-grant:{userId:N}";

    public async Task UserCreatedAsync(AppUser user, CancellationToken ct)
    {
        var grant = await db.Set<Plan>().AsNoTracking().Where(p => p.Code == Plan.Free).Select(p => p.GrantMicros).FirstOrDefaultAsync(ct);
        if (grant <= 0)
            return;
        // Added to the account's own unit of work rather than posted through Ledger, which saves and clears the context:
        // the account, its credit account and the grant entry are saved together or not at all, so the sums always match.
        var now = clock.GetUtcNow();
        db.Add(new CreditAccount { Id = user.Id, Owner = CreditOwner.User, UserId = user.Id, Balance = grant, CreatedAt = now });
        db.Add(new CreditEntry
        {
            Id = Guid.CreateVersion7(now), AccountId = user.Id, Kind = CreditKind.Grant, Amount = grant, Reference = "sign-up grant (plan FREE)",
            IdempotencyKey = KeyFor(user.Id), CreatedAt = now,
        });
    }
}
