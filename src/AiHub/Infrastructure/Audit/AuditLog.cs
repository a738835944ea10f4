using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;

namespace AiHub.Infrastructure.Audit;

/// <summary>Adds audit events to the request's unit of work; they are saved with the change they describe.</summary>
internal sealed class AuditLog(AppDbContext db, TimeProvider clock, IHttpContextAccessor http)
{
    public AuditEvent Add(string kind, Guid? userId, object? data = null, Guid? actorId = null, Guid? organizationId = null)
    {
        var now = clock.GetUtcNow();
        var entry = new AuditEvent
        {
            Id = Guid.CreateVersion7(now),
            OccurredAt = now,
            Kind = kind,
            UserId = userId,
            ActorId = actorId,
            OrganizationId = organizationId,
            IpAddress = http.HttpContext.IpAddress(),
            UserAgent = http.HttpContext.UserAgent(),
            Data = data is null ? null : JsonSerializer.Serialize(data, JsonSerializerOptions.Web),
        };
        db.AuditEvents.Add(entry);
        return entry;
    }

    /// <summary>For events that stand alone (a failed login): nothing else is being saved with them.</summary>
    public async Task RecordAsync(string kind, Guid? userId, object? data, CancellationToken ct)
    {
        Add(kind, userId, data);
        await db.SaveChangesAsync(ct);
    }
}
