using AiHub.Data;
using AiHub.Identity;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge;
using AiHub.Knowledge.Bases;
using AiHub.Knowledge.Sources;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.EndToEndTests.Knowledge;

/// <summary>A knowledge base with an ingested document and video, made through the app's own services, for tests about how its pages look.</summary>
internal static class KnowledgeSamples
{
    public sealed record Sample(Guid KnowledgeBaseId, Guid DocumentId, Guid VideoId);

    public static async Task<Sample> CreateAsync(BrowserFixture app, string email, Guid orgId, Guid workspaceId, CancellationToken ct)
    {
        var files = Directory.CreateTempSubdirectory("aihub-kb-sample-").FullName;
        try
        {
            var video = await SpeechFixtures.SynthesiseAsync([(0.5, "the quick brown fox jumps over the lazy dog")], files, asVideo: true);
            await using var scope = app.Services.CreateAsyncScope();
            var services = scope.ServiceProvider;
            var user = await services.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(email) ?? throw new InvalidOperationException($"No account {email}.");
            var kb = await services.GetRequiredService<KnowledgeBases>().CreateAsync(orgId, workspaceId, user.Id, new KnowledgeBaseRequest("Handbook", "The team's handbook.", null), ct);
            var sources = services.GetRequiredService<KnowledgeSources>();
            KnowledgeSource document, recording;
            await using (var pdf = new MemoryStream(KnowledgeBrowserTests.ThreePagePdf()))
                document = await sources.UploadAsync(kb, user.Id, "handbook.pdf", pdf, pdf.Length, ct);
            await using (var mp4 = File.OpenRead(video))
                recording = await sources.UploadAsync(kb, user.Id, "welcome.mp4", mp4, mp4.Length, ct);
            await WaitAsync(app, orgId, [document.Id, recording.Id], ct);
            return new Sample(kb.Id, document.Id, recording.Id);
        }
        finally
        {
            Directory.Delete(files, recursive: true);
        }
    }

    public static async Task<Guid> CreateBaseAsync(BrowserFixture app, string email, Guid orgId, Guid workspaceId, string name, CancellationToken ct)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var user = await services.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(email) ?? throw new InvalidOperationException($"No account {email}.");
        return (await services.GetRequiredService<KnowledgeBases>().CreateAsync(orgId, workspaceId, user.Id, new KnowledgeBaseRequest(name, null, null), ct)).Id;
    }

    /// <summary>Until the sources are ingested; their pages are checked as a reader sees them, not half-made.</summary>
    static async Task WaitAsync(BrowserFixture app, Guid orgId, Guid[] ids, CancellationToken ct)
    {
        var until = DateTime.UtcNow.AddMinutes(4);
        while (true)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var statuses = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<KnowledgeSource>().AsNoTracking()
                .Where(s => s.OrganizationId == orgId && ids.Contains(s.Id)).Select(s => new { s.Title, s.Status, s.LastError }).ToListAsync(ct);
            if (statuses.Count == ids.Length && statuses.All(s => s.Status == SourceStatus.Completed))
                return;
            if (statuses.FirstOrDefault(s => s.Status == SourceStatus.Failed) is { } failed)
                throw new InvalidOperationException($"{failed.Title} failed: {failed.LastError}");
            if (DateTime.UtcNow > until)
                throw new TimeoutException("The sample sources were not ingested within 4 minutes: " + string.Join(", ", statuses));
            await Task.Delay(500, ct);
        }
    }
}
