using AiHub.Data;
using AiHub.Identity;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Plans;

/// <summary>A new account starts on the free plan with that plan's grant of credits, once.</summary>
internal sealed class SignUpGrant(AppDbContext db, Ledger ledger) : IAccountEvents
{
    public static string KeyFor(Guid userId) => $"signup-grant:{userId:N}";

    public async Task UserCreatedAsync(AppUser user, CancellationToken ct)
    {
        var grant = await db.Set<Plan>().AsNoTracking().Where(p => p.Code == Plan.Free).Select(p => p.GrantMicros).FirstOrDefaultAsync(ct);
        if (grant > 0)
            ledger.OpenWithGrant(user.Id, grant, "sign-up grant (plan FREE)", KeyFor(user.Id));
    }
}
