using AiHub.Data;
using AiHub.Infrastructure.Blobs;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Knowledge.Sources;

/// <summary>Abandoned resumable uploads: past their lifetime, their parts are dropped from the store and their source row removed.</summary>
internal sealed partial class UploadSweep(AppDbContext db, IBlobStore blobs, TimeProvider clock, ILogger<UploadSweep> log)
{
    public const string JobId = "knowledge-upload-sweep";

    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var expired = await db.Set<UploadSession>().Where(u => u.ExpiresAt < now).OrderBy(u => u.ExpiresAt).Take(500).ToListAsync(ct);
        foreach (var session in expired)
        {
            var source = await db.Set<KnowledgeSource>().FirstOrDefaultAsync(s => s.OrganizationId == session.OrganizationId && s.Id == session.SourceId, ct);
            if (source is not null)
            {
                await blobs.AbortMultipartAsync(source.BlobKey, session.MultipartId, ct);
                // Still uploading: nothing was counted against the plan, and the source never became visible.
                if (source.Status == SourceStatus.Uploading)
                    db.Remove(source);
            }
            db.Remove(session);
        }
        await db.SaveChangesAsync(ct);
        if (expired.Count > 0)
            LogSwept(expired.Count);
        return expired.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped {Count} abandoned upload(s)")]
    partial void LogSwept(int count);
}
