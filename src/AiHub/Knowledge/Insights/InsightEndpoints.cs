using System.Globalization;
using AiHub.Data;
using AiHub.Infrastructure.OpenApi;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Knowledge.Insights;

internal static class InsightEndpoints
{
    public static void MapInsightRoutes(IEndpointRouteBuilder app)
    {
        var insights = OrgEndpoints.Org(app).MapGroup("/workspaces/{wsId:guid}/knowledge").WithTags("Knowledge")
            .RequireAuthorization(OrgPermissions.KnowledgeManage);
        insights.MapGet("/insights", Report)
            .WithSummary("The questions asked most of the workspace's knowledge, the sources and moments cited most, and the questions no source answered (content gaps).");
        insights.MapGet("/insights.csv", ReportCsv).ProducesCsv()
            .WithSummary("The knowledge insight as a CSV file: one row per question, source, moment or gap, told apart by its kind column.");
    }

    static async Task<Ok<InsightsResponse>> Report(Guid orgId, Guid wsId, HttpContext http, AppDbContext db, KnowledgeInsights insights, CancellationToken ct,
        int days = KnowledgeInsights.DefaultDays)
    {
        await WorkspaceAsync(http, db, orgId, wsId, ct);
        return TypedResults.Ok(await insights.ReportAsync(orgId, wsId, days, ct));
    }

    static async Task<FileContentHttpResult> ReportCsv(Guid orgId, Guid wsId, HttpContext http, AppDbContext db, KnowledgeInsights insights, TimeProvider clock, CancellationToken ct,
        int days = KnowledgeInsights.DefaultDays)
    {
        await WorkspaceAsync(http, db, orgId, wsId, ct);
        var report = await insights.ReportAsync(orgId, wsId, days, ct);
        return TypedResults.File(KnowledgeInsights.Csv(report), "text/csv; charset=utf-8",
            string.Create(CultureInfo.InvariantCulture, $"knowledge-insights-{clock.GetUtcNow():yyyy-MM-dd}-{days}d.csv"));
    }

    /// <summary>The workspace by (org, id); a key bound to another workspace finds nothing.</summary>
    static async Task WorkspaceAsync(HttpContext http, AppDbContext db, Guid orgId, Guid wsId, CancellationToken ct)
    {
        if (http.Grant().WorkspaceId is { } only && only != wsId)
            throw Orgs.NotFound("No such workspace.", $"This key is bound to another workspace than {wsId}.");
        await Workspaces.FindAsync(db, orgId, wsId, ct);
    }
}
