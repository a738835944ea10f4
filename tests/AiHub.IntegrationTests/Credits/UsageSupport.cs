using System.Text.RegularExpressions;
using AiHub.Credits.Bulk;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Steps the usage tests repeat: an account and org made directly, usage recorded and aggregated at a chosen time.</summary>
internal static partial class UsageSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A user and an org of their own, made through the services rather than the mail round trip.</summary>
    public static async Task<(Guid UserId, Guid OrgId)> OwnerAsync(IdentityHost host)
    {
        var user = await host.App.Services.NewAppUserAsync("usage");
        await using var scope = host.App.Services.CreateAsyncScope();
        var org = await scope.ServiceProvider.GetRequiredService<Orgs>().CreateAsync(user.Id, "Usage " + Guid.NewGuid().ToString("N")[..6], Ct);
        return (user.Id, org.Id);
    }

    /// <summary>Records a call through the real meter; the clock decides "now" for it.</summary>
    public static async Task<UsageRecord> RecordAsync(IdentityHost host, UsageEntry entry, TimeProvider? clock = null)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var meter = clock is null
            ? scope.ServiceProvider.GetRequiredService<UsageMeter>()
            : new UsageMeter(scope.ServiceProvider.GetRequiredService<IServiceScopeFactory>(), clock);
        return await meter.RecordAsync(entry, Ct);
    }

    public static UsageEntry Call(Guid orgId, Guid userId, string provider, string model, long input, long output, DateTimeOffset at,
        UsageStatus status = UsageStatus.Succeeded, Guid? apiKeyId = null, long? cost = null, long latencyMs = 100) =>
        new($"test:{Guid.NewGuid():N}", orgId, userId, provider, model, input, output, latencyMs, status, ApiKeyId: apiKeyId, CostMicros: cost, OccurredAt: at);

    public static async Task<int> AggregateAsync(IdentityHost host, TimeProvider clock)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var aggregator = new UsageAggregator(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock, NullLogger<UsageAggregator>.Instance);
        return await aggregator.AggregateAsync(Ct);
    }

    /// <summary>Reads a CSV download with the app's own RFC 4180 reader, after checking that every record ends in CRLF as RFC 4180 writes it.</summary>
    public static List<string[]> ParseCsv(string text)
    {
        Assert.True(text.EndsWith("\r\n", StringComparison.Ordinal) && !LoneLineBreak().IsMatch(text), "CSV must end every record with CRLF");
        Assert.DoesNotContain("\r\n\r\n", text, StringComparison.Ordinal);
        return [.. Csv.Parse(text).Select(r => r.Fields.ToArray())];
    }

    [GeneratedRegex(@"\r(?!\n)|(?<!\r)\n")]
    private static partial Regex LoneLineBreak();
}
