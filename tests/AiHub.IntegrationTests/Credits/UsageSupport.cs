using System.Text;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Identity;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Steps the usage tests repeat: an account and org made directly, usage recorded and aggregated at a chosen time.</summary>
internal static class UsageSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A user and an org of their own, made through the services rather than the mail round trip.</summary>
    public static async Task<(Guid UserId, Guid OrgId)> OwnerAsync(IdentityHost host)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var email = IdentityHost.NewEmail("usage");
        var user = new AppUser { UserName = email, Email = email, CreatedAt = DateTimeOffset.UtcNow };
        Assert.True((await users.CreateAsync(user)).Succeeded);
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

    /// <summary>Reads CSV as RFC 4180 writes it: quoted fields may hold commas, doubled quotes and line breaks.</summary>
    public static List<string[]> ParseCsv(string text)
    {
        var rows = new List<string[]>();
        var row = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                    quoted = false;
                else
                    field.Append(c);
            }
            else if (c == '"')
                quoted = true;
            else if (c == ',')
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                row.Add(field.ToString());
                field.Clear();
                rows.Add([.. row]);
                row.Clear();
                i++;
            }
            else
                field.Append(c);
        }
        Assert.True(field.Length == 0 && row.Count == 0, "CSV must end with CRLF");
        return rows;
    }
}
