using AiHub.Credits;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Generation;
using AiHub.Generation.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.EndToEndTests.Generation;

/// <summary>Generations made through the app's own service, for tests about pages that show them.</summary>
internal static class GallerySamples
{
    public const string ImageModel = "gpt-image-1";

    /// <summary>Funds the user's own account and makes one low-quality image in the workspace, waiting until it is done.</summary>
    public static async Task<Guid> ImageAsync(BrowserFixture app, string email, Guid orgId, Guid workspaceId, string model, CancellationToken ct)
    {
        Guid id;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var services = scope.ServiceProvider;
            var db = services.GetRequiredService<AppDbContext>();
            var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == email, ct);
            var account = await db.Set<CreditAccount>().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == user.Id, ct);
            await services.GetRequiredService<Ledger>().PostAsync(account.Id, CreditKind.Adjustment, 100 * 1_000_000L, "for a sample image", null, $"gallery-sample:{account.Id}", ct);
            db.TenantId = orgId;
            var job = await services.GetRequiredService<Generations>().SubmitAsync(new Spender(orgId, user.Id, null, workspaceId), workspaceId,
                new GenerationRequest("image", model, "A lighthouse at dusk, oil painting", null, null, "low", 1, null, null), null, ct);
            id = job.Id;
        }
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            await using (var scope = app.Services.CreateAsyncScope())
            {
                var status = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<GenerationJob>().IgnoreQueryFilters()
                    .Where(j => j.OrganizationId == orgId && j.Id == id).Select(j => j.Status).SingleAsync(ct);
                if (status == GenerationStatus.Completed)
                    return id;
                Assert.True(status is GenerationStatus.Queued or GenerationStatus.InProgress, $"the sample image ended {status}");
            }
            Assert.True(DateTimeOffset.UtcNow < deadline, "the sample image was not made within 60 s");
            await Task.Delay(200, ct);
        }
    }
}
