using System.Globalization;
using System.Security.Claims;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.OpenApi;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Usage;

internal static class UsageEndpoints
{
    public static void MapUsageRoutes(IEndpointRouteBuilder app)
    {
        var me = app.MapGroup("/api/me").WithTags("Usage").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized);
        me.MapGet("/usage", MyUsage).ProducesCsv(alsoJson: true).WithSummary("Your AI usage (tokens, calls and cost) over a range of days, grouped by day, provider, model or API key.");
        me.MapGet("/usage.csv", MyUsageCsv).ProducesCsv().WithSummary("Your AI usage as a CSV file.");

        var org = OrgEndpoints.Org(app).WithTags("Usage");
        org.MapGet("/usage", OrgUsage).ProducesCsv(alsoJson: true).WithSummary("The organisation's AI usage over a range of days, for everyone or one member; groupBy=key splits it by API key, groupBy=channel by surface (mcp for assistants on the MCP server).").RequireAuthorization(OrgPermissions.CreditsRead);
        org.MapGet("/usage.csv", OrgUsageCsv).ProducesCsv().WithSummary("The organisation's AI usage as a CSV file.").RequireAuthorization(OrgPermissions.CreditsRead);
        // A key's usage is spending: reading it takes the credits permission as well as the keys one.
        org.MapGet("/api-keys/{id:guid}/usage", KeyUsage).ProducesCsv(alsoJson: true).WithSummary("One API key's AI usage over a range of days.").RequireAuthorization(OrgPermissions.ApiKeysRead, OrgPermissions.CreditsRead);
        org.MapGet("/api-keys/{id:guid}/usage.csv", KeyUsageCsv).ProducesCsv().WithSummary("One API key's AI usage as a CSV file.").RequireAuthorization(OrgPermissions.ApiKeysRead, OrgPermissions.CreditsRead);

        var prices = AdminApi.Group(app, "/prices", Permissions.ProvidersManage);
        prices.MapGet("", ListPrices).WithSummary("Lists the price of every model, per million input and output tokens.");
        prices.MapPut("/{provider}/{model}", SetPrice).WithSummary("Sets the price of one model.");
        prices.MapDelete("/{provider}/{model}", DeletePrice).WithSummary("Removes the price of one model; it can then not be used until it has one.");

        var report = AdminApi.Group(app, "/credits", Permissions.CreditsRead);
        report.MapGet("/report", Report).ProducesCsv(alsoJson: true).WithSummary("Credits granted, bought and spent across the platform, per day, week or month.");
        report.MapGet("/report.csv", ReportCsv).ProducesCsv().WithSummary("The platform credit report as a CSV file.");
    }

    static Task<Results<Ok<UsageResult>, FileContentHttpResult>> MyUsage(ClaimsPrincipal user, UsageQueries usage, CancellationToken ct,
        string? from = null, string? to = null, string? groupBy = null, string? format = null) =>
        AnswerAsync(usage, new UsageScope(UserId: user.UserId()!.Value), from, to, groupBy, format, "my-usage", ct);

    static Task<Results<Ok<UsageResult>, FileContentHttpResult>> MyUsageCsv(ClaimsPrincipal user, UsageQueries usage, CancellationToken ct,
        string? from = null, string? to = null, string? groupBy = null) =>
        MyUsage(user, usage, ct, from, to, groupBy, "csv");

    static Task<Results<Ok<UsageResult>, FileContentHttpResult>> OrgUsage(Guid orgId, UsageQueries usage, CancellationToken ct,
        Guid? userId = null, string? from = null, string? to = null, string? groupBy = null, string? format = null) =>
        AnswerAsync(usage, new UsageScope(orgId, userId), from, to, groupBy, format, $"org-{orgId:N}-usage", ct);

    static Task<Results<Ok<UsageResult>, FileContentHttpResult>> OrgUsageCsv(Guid orgId, UsageQueries usage, CancellationToken ct,
        Guid? userId = null, string? from = null, string? to = null, string? groupBy = null) =>
        OrgUsage(orgId, usage, ct, userId, from, to, groupBy, "csv");

    /// <remarks>The key is fetched by (org, id): another org's key is simply not found.</remarks>
    static async Task<Results<Ok<UsageResult>, FileContentHttpResult>> KeyUsage(Guid orgId, Guid id, UsageQueries usage, AppDbContext db, CancellationToken ct,
        string? from = null, string? to = null, string? groupBy = null, string? format = null)
    {
        if (!await db.ApiKeys.AsNoTracking().AnyAsync(k => k.OrganizationId == orgId && k.Id == id, ct))
            throw Orgs.NotFound("No such API key.", "It does not exist in this organisation.");
        return await AnswerAsync(usage, new UsageScope(orgId, ApiKeyId: id), from, to, groupBy, format, $"api-key-{id:N}-usage", ct);
    }

    static Task<Results<Ok<UsageResult>, FileContentHttpResult>> KeyUsageCsv(Guid orgId, Guid id, UsageQueries usage, AppDbContext db, CancellationToken ct,
        string? from = null, string? to = null, string? groupBy = null) =>
        KeyUsage(orgId, id, usage, db, ct, from, to, groupBy, "csv");

    static async Task<Ok<List<PriceResponse>>> ListPrices(PriceCatalog prices, CancellationToken ct) =>
        TypedResults.Ok(await prices.ListAsync(ct));

    static async Task<Ok<PriceResponse>> SetPrice(string provider, string model, PriceRequest body, ClaimsPrincipal user, PriceCatalog prices, CancellationToken ct) =>
        TypedResults.Ok(await prices.SetAsync(provider, model, body, user.UserId()!.Value, ct));

    static async Task<NoContent> DeletePrice(string provider, string model, ClaimsPrincipal user, PriceCatalog prices, CancellationToken ct)
    {
        await prices.DeleteAsync(provider, model, user.UserId()!.Value, ct);
        return TypedResults.NoContent();
    }

    static async Task<Results<Ok<CreditReport>, FileContentHttpResult>> Report(UsageQueries usage, CancellationToken ct,
        string? from = null, string? to = null, string? period = null, string? format = null)
    {
        var csv = IsCsv(format);
        var range = UsageRange.Parse(from, to, usage.Today, UsageQueries.MaxReportDays);
        var report = await usage.ReportAsync(range, UsageQueries.ParsePeriod(period), ct);
        return csv ? Csv(UsageCsv.Report(report), "credits-report", range) : TypedResults.Ok(report);
    }

    static Task<Results<Ok<CreditReport>, FileContentHttpResult>> ReportCsv(UsageQueries usage, CancellationToken ct,
        string? from = null, string? to = null, string? period = null) =>
        Report(usage, ct, from, to, period, "csv");

    static async Task<Results<Ok<UsageResult>, FileContentHttpResult>> AnswerAsync(
        UsageQueries usage, UsageScope scope, string? from, string? to, string? groupBy, string? format, string name, CancellationToken ct)
    {
        var csv = IsCsv(format);
        var range = UsageRange.Parse(from, to, usage.Today);
        var result = await usage.UsageAsync(scope, range, UsageQueries.ParseGrouping(groupBy), ct);
        return csv ? Csv(UsageCsv.Usage(result), name, range) : TypedResults.Ok(result);
    }

    static bool IsCsv(string? format) => format?.ToLowerInvariant() switch
    {
        null or "" or "json" => false,
        "csv" => true,
        _ => throw ProblemException.Invalid("format", "format is json or csv."),
    };

    /// <summary>A download: the file name says whose usage and which days.</summary>
    static FileContentHttpResult Csv(byte[] content, string name, UsageRange range) =>
        TypedResults.File(content, "text/csv; charset=utf-8",
            string.Create(CultureInfo.InvariantCulture, $"{name}-{range.From:yyyy-MM-dd}-{range.To:yyyy-MM-dd}.csv"));
}
