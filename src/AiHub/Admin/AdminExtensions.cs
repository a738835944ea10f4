using AiHub.Infrastructure.Errors;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Audit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Admin;

public static class AdminExtensions
{
    /// <summary>The append-only audit log that every feature writes to.</summary>
    public static IHostApplicationBuilder AddAdmin(this IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<AuditLog>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        AdminApi.Group(app, "/audit", Permissions.AuditRead).MapGet("", ListAudit).WithSummary("Lists the audit log across organisations, newest first.");
        return app;
    }

    /// <remarks>Pages by time (<c>before</c>), newest first, so that new events never shift a page being read.</remarks>
    static async Task<Ok<AuditPage>> ListAudit(AppDbContext db, CancellationToken ct, Guid? userId = null, string? kind = null, DateTimeOffset? before = null, int limit = 50)
    {
        if (limit is < 1 or > 500)
            throw ProblemException.Invalid("limit", "limit is between 1 and 500.");
        var query = db.AuditEvents.AsNoTracking();
        if (userId is { } user)
            query = query.Where(e => e.UserId == user || e.ActorId == user);
        if (!string.IsNullOrWhiteSpace(kind))
            query = query.Where(e => e.Kind == kind);
        return TypedResults.Ok(await AuditQueries.PageAsync(query, before, limit, ct));
    }
}
