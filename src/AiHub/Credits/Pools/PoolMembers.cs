using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Pools;

/// <summary>What allowances and credit requests share: a member's allocation, its account, and amounts given in credits.</summary>
internal sealed class PoolMembers(AppDbContext db, TimeProvider clock)
{
    public async Task<MemberAllocation?> AllocationOfAsync(Guid orgId, Guid userId, CancellationToken ct) =>
        await db.Set<MemberAllocation>().AsNoTracking().FirstOrDefaultAsync(a => a.OrganizationId == orgId && a.UserId == userId, ct);

    /// <summary>The member's allocation account, kept after a cap is lifted and reused by the next; made once however many ask at once.</summary>
    public async Task<Guid> AccountOfAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        var existing = db.Set<CreditAccount>().AsNoTracking().Where(a => a.Owner == CreditOwner.Member && a.OrganizationId == orgId && a.UserId == userId)
            .Select(a => (Guid?)a.Id);
        if (await existing.FirstOrDefaultAsync(ct) is { } id)
            return id;
        db.Add(new CreditAccount { Id = Guid.CreateVersion7(clock.GetUtcNow()), Owner = CreditOwner.Member, OrganizationId = orgId, UserId = userId, CreatedAt = clock.GetUtcNow() });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            // Another request made it at the same moment: its account is the member's.
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
        return (await existing.FirstAsync(ct))!.Value;
    }

    /// <summary>Credits in, exact micro-credits kept: an amount finer than one micro-credit is refused, not rounded.</summary>
    public static long ToMicros(decimal? credits, bool allowNegative) => Micros.Require(credits, "credits", allowNegative ? MicrosSign.NotZero : MicrosSign.Positive,
        allowNegative ? "Give a non-zero number of credits (negative lowers the allowance)." : "Give a positive number of credits.");
}
