using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>
/// Quotas on a real database, called the way Chat and Knowledge will call them: through <see cref="IQuotaService"/>
/// from the host's services. Concurrent callers never exceed a limit, a key counts once, days reset at UTC midnight.
/// </summary>
public abstract class QuotaTests(IdentityHost host)
{
    const long GB = 1_000_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Twenty_concurrent_askers_with_three_questions_left_get_exactly_three()
    {
        using var client = host.Client();
        var orgId = await PersonalOrgAsync(client, await host.NewUserAsync(client));
        var before = await WithQuotasAsync(q => q.GetAsync(orgId, QuotaKind.ChatQuestions, Ct));

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, $"ask-{i}", Ct)), Ct)));
        var winner = Array.FindIndex(outcomes, o => o.Allowed);
        var again = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, $"ask-{winner}", Ct));
        var after = await WithQuotasAsync(q => q.GetAsync(orgId, QuotaKind.ChatQuestions, Ct));

        Assert.Equal("3 questions remaining", before.Message);
        Assert.Equal(3, outcomes.Count(o => o.Allowed));
        Assert.True(again.Allowed);
        Assert.Equal(3, after.Used);
        Assert.Equal(0, after.Remaining);
        Assert.False(after.Allowed);
        Assert.Null(after.ResetsAt);
        Assert.Equal("All 3 questions of the plan are used", after.Message);
    }

    [Fact]
    public async Task The_same_key_counts_once_however_often_it_races_and_a_release_gives_it_back_until_it_is_asked_again()
    {
        using var client = host.Client();
        var orgId = await PersonalOrgAsync(client, await host.NewUserAsync(client));

        var racing = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() =>
            WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "same-question", Ct)), Ct)));
        var counted = await WithQuotasAsync(q => q.GetAsync(orgId, QuotaKind.ChatQuestions, Ct));
        var released = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Task.Run(() =>
            WithQuotasAsync(q => q.ReleaseAsync(orgId, QuotaKind.ChatQuestions, "same-question", Ct)), Ct)));
        var retried = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Task.Run(() =>
            WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "same-question", Ct)), Ct)));
        var afterRetry = await WithQuotasAsync(q => q.GetAsync(orgId, QuotaKind.ChatQuestions, Ct));
        var unknown = await WithQuotasAsync(q => q.ReleaseAsync(orgId, QuotaKind.ChatQuestions, "never-asked", Ct));

        Assert.All(racing, r => Assert.True(r.Allowed));
        Assert.Equal(1, counted.Used);
        Assert.All(released, r => Assert.Equal(0, r.Used));
        Assert.All(retried, r => Assert.True(r.Allowed));
        Assert.Equal(1, afterRetry.Used);
        Assert.Equal("2 questions remaining", unknown.Message);
    }

    [Fact]
    public async Task A_daily_allowance_resets_at_utc_midnight()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var orgId = await PersonalOrgAsync(client, await host.NewUserAsync(client));
        await OnPlanAsync(client, admin, orgId, "DAILY2", chatQuestions: 2);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 23, 30, 0, TimeSpan.Zero));

        var first = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "day1-a", Ct), clock);
        await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "day1-b", Ct), clock);
        var refused = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "day1-c", Ct), clock);
        clock.Advance(TimeSpan.FromMinutes(31));
        var nextDay = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "day2-a", Ct), clock);

        Assert.Equal("1 question remaining", first.Message);
        Assert.False(refused.Allowed);
        Assert.Equal("Daily limit reached; resets at 00:00 UTC", refused.Message);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 0, 0, 0, TimeSpan.Zero), refused.ResetsAt);
        Assert.True(nextDay.Allowed);
        Assert.Equal(1, nextDay.Used);
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero), nextDay.ResetsAt);
    }

    [Fact]
    public async Task Storage_is_a_running_total_that_only_a_release_frees()
    {
        using var client = host.Client();
        var orgId = await PersonalOrgAsync(client, await host.NewUserAsync(client));
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);

        var upload = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.StorageBytes, 3 * GB, "file-1", Ct), clock);
        var tooBig = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.StorageBytes, 3 * GB, "file-2", Ct), clock);
        clock.Advance(TimeSpan.FromDays(2));
        var later = await WithQuotasAsync(q => q.GetAsync(orgId, QuotaKind.StorageBytes, Ct), clock);
        await WithQuotasAsync(q => q.ReleaseAsync(orgId, QuotaKind.StorageBytes, "file-1", Ct), clock);
        var fits = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.StorageBytes, 3 * GB, "file-2", Ct), clock);

        Assert.True(upload.Allowed);
        Assert.Equal("2 GB of 5 GB remaining", upload.Message);
        Assert.False(tooBig.Allowed);
        Assert.Equal(3 * GB, later.Used);
        Assert.True(fits.Allowed);
        Assert.Equal(3 * GB, fits.Used);
    }

    [Fact]
    public async Task Ensure_refuses_with_a_403_that_names_the_limit_and_links_to_the_plans()
    {
        using var client = host.Client();
        var user = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, user);

        for (var i = 0; i < 3; i++)
            await ProbeAsync(client, orgId, QuotaKind.ChatQuestions, 1, $"q{i}", HttpStatusCode.OK);
        var chat = await ProbeAsync(client, orgId, QuotaKind.ChatQuestions, 1, "q3", HttpStatusCode.Forbidden);
        var storage = await ProbeAsync(client, orgId, QuotaKind.StorageBytes, 6 * GB, "big-file", HttpStatusCode.Forbidden);
        var videos = await ProbeAsync(client, orgId, QuotaKind.Videos, 11, "eleven-videos", HttpStatusCode.Forbidden);

        Assert.Equal("urn:aihub:problem:chat-limit-exceeded", chat.GetProperty("type").GetString());
        Assert.Equal("CHAT_LIMIT_EXCEEDED", chat.GetProperty("code").GetString());
        Assert.Equal(3, chat.GetProperty("limit").GetInt64());
        Assert.Equal(3, chat.GetProperty("used").GetInt64());
        Assert.Equal(JsonValueKind.Null, chat.GetProperty("resetsAt").ValueKind);
        Assert.Equal("https://aihub.test/plans", chat.GetProperty("upgradeUrl").GetString());
        Assert.Contains("All 3 questions", chat.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("urn:aihub:problem:storage-limit-exceeded", storage.GetProperty("type").GetString());
        Assert.Equal("STORAGE_LIMIT_EXCEEDED", storage.GetProperty("code").GetString());
        Assert.Equal(5 * GB, storage.GetProperty("limit").GetInt64());
        Assert.Equal("urn:aihub:problem:video-limit-exceeded", videos.GetProperty("type").GetString());
        Assert.Equal("VIDEO_LIMIT_EXCEEDED", videos.GetProperty("code").GetString());
        Assert.Equal(0, videos.GetProperty("used").GetInt64());
    }

    [Fact]
    public async Task A_plan_change_applies_at_once_and_the_day_s_counter_keeps_what_was_used()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var orgId = await PersonalOrgAsync(client, await host.NewUserAsync(client));
        await OnPlanAsync(client, admin, orgId, "DAILY2", chatQuestions: 2);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        for (var i = 0; i < 2; i++)
            await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, $"small-{i}", Ct), clock);

        var onSmall = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "small-2", Ct), clock);
        await SendAsync(client, admin, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code = "BASIC" });
        var onBasic = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "basic-0", Ct), clock);
        await SendAsync(client, admin, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code = "ENTERPRISE" });
        var unlimited = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "enterprise-0", Ct), clock);
        var videos = await WithQuotasAsync(q => q.GetAsync(orgId, QuotaKind.Videos, Ct), clock);
        await SendAsync(client, admin, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code = "DAILY2" });
        var backOnSmall = await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "small-3", Ct), clock);

        Assert.False(onSmall.Allowed);
        Assert.True(onBasic.Allowed);
        Assert.Equal("97 questions remaining", onBasic.Message);
        Assert.True(unlimited.Allowed);
        Assert.Equal("Unlimited", unlimited.Message);
        Assert.Null(unlimited.Limit);
        Assert.Null(unlimited.ResetsAt);
        Assert.Equal("Unlimited", videos.Message);
        Assert.False(backOnSmall.Allowed);
        Assert.Equal(4, backOnSmall.Used);
        Assert.Equal(0, backOnSmall.Remaining);
    }

    [Fact]
    public async Task Crossing_80_90_and_100_percent_mails_the_owner_once_each_per_day()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var email = NewEmail("quota-owner");
        var orgId = await PersonalOrgAsync(client, await host.NewUserAsync(client, email));
        await OnPlanAsync(client, admin, orgId, "DAILY10", chatQuestions: 10);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));

        var queuedBefore = await QueuedMailsAsync();
        for (var i = 0; i < 10; i++)
            await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, $"d1-{i}", Ct), clock);
        var firstDay = new[] { await host.NextMailAsync(email), await host.NextMailAsync(email), await host.NextMailAsync(email) };
        // The same day again: a refused question, and a released one asked anew, cross nothing new.
        await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "d1-refused", Ct), clock);
        await WithQuotasAsync(q => q.ReleaseAsync(orgId, QuotaKind.ChatQuestions, "d1-9", Ct), clock);
        await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, "d1-again", Ct), clock);
        clock.Advance(TimeSpan.FromDays(1));
        for (var i = 0; i < 8; i++)
            await WithQuotasAsync(q => q.TryConsumeAsync(orgId, QuotaKind.ChatQuestions, 1, $"d2-{i}", Ct), clock);
        // Warnings are queued within the call that crosses a threshold, so what is queued by now is all there will be.
        var queued = await QueuedMailsAsync() - queuedBefore;
        var warned = await WarningsAsync($"quota:{orgId:N}:{QuotaKind.ChatQuestions}");
        var secondDay = await host.NextMailAsync(email);
        var all = await host.Mail.MessagesToAsync(email);

        Assert.Equal(
            LimitWarnings.Thresholds.Select(p => $"You have used {p}% of your daily questions").Order(StringComparer.Ordinal),
            firstDay.Select(m => m.Subject).Order(StringComparer.Ordinal));
        Assert.Equal("You have used 80% of your daily questions", secondDay.Subject);
        Assert.Equal(4, queued);
        Assert.Equal([("2026-11-23", 80), ("2026-11-23", 90), ("2026-11-23", 100), ("2026-11-24", 80)], warned);
        Assert.Equal(4, all.Count(m => (m.Subject ?? "").Contains("daily questions", StringComparison.Ordinal)));
        var warning = firstDay.First(m => (m.Subject ?? "").Contains("100%", StringComparison.Ordinal));
        Assert.Contains("https://aihub.test/plans", warning.TextBody ?? "", StringComparison.Ordinal);
        Assert.Contains("https://aihub.test/plans", warning.HtmlBody ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Limit_warnings_go_out_once_per_threshold_under_concurrency_and_again_after_a_failed_send()
    {
        var subject = $"test:{Guid.NewGuid():N}";
        var sent = new ConcurrentBag<int>();

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<LimitWarnings>().NotifyAsync(subject, "2026-11", 100, 100, (t, _) =>
            {
                sent.Add(t);
                return Task.CompletedTask;
            }, Ct);
        }, Ct)));
        var failing = await Record.ExceptionAsync(() => NotifyAsync($"{subject}-b", 85, 100, _ => throw new InvalidOperationException("smtp down")));
        var retried = new List<int>();
        await NotifyAsync($"{subject}-b", 85, 100, t => retried.Add(t));
        var below = new List<int>();
        await NotifyAsync($"{subject}-c", 79, 100, t => below.Add(t));

        Assert.Equal([80, 90, 100], sent.Order());
        Assert.IsType<InvalidOperationException>(failing);
        Assert.Equal([80], retried);
        Assert.Empty(below);
    }

    async Task NotifyAsync(string subject, long used, long limit, Action<int> send)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<LimitWarnings>().NotifyAsync(subject, "2026-11", used, limit, (t, _) =>
        {
            send(t);
            return Task.CompletedTask;
        }, Ct);
    }

    /// <summary>Each call in a scope of its own, as concurrent requests have; a fake clock where the test moves time.</summary>
    async Task<T> WithQuotasAsync<T>(Func<IQuotaService, Task<T>> call, TimeProvider? clock = null)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var quotas = clock is null
            ? scope.ServiceProvider.GetRequiredService<IQuotaService>()
            : ActivatorUtilities.CreateInstance<QuotaService>(scope.ServiceProvider, clock);
        return await call(quotas);
    }

    /// <summary>Mails queued for sending so far, sent or not.</summary>
    async Task<int> QueuedMailsAsync()
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().WorkItems.CountAsync(w => w.Kind == AiHub.Notifications.EmailSendHandler.KindName, Ct);
    }

    /// <summary>The (period, threshold) warnings recorded as sent for a subject, in order.</summary>
    async Task<List<(string Period, int Threshold)>> WarningsAsync(string subject)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var rows = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LimitWarning>().AsNoTracking()
            .Where(w => w.Subject == subject).Select(w => new { w.Period, w.Threshold }).ToListAsync(Ct);
        return [.. rows.Select(w => (w.Period, w.Threshold)).OrderBy(w => w.Period, StringComparer.Ordinal).ThenBy(w => w.Threshold)];
    }

    /// <summary>A daily plan of its own (made or replaced by an admin), assigned to the org.</summary>
    internal static async Task OnPlanAsync(HttpClient client, AuthTokens admin, Guid orgId, string code, int chatQuestions)
    {
        using var put = await client.SendAsync(As(admin, HttpMethod.Put, $"/api/admin/plans/{code}", new
        {
            name = code, chatQuestions, chatPeriod = "day", storageBytes = 5 * GB, videos = 10, priceCents = 0, currency = "USD", grant = 0m, active = true, sortOrder = 50,
        }), Ct);
        Assert.True(put.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created, await put.Content.ReadAsStringAsync(Ct));
        await SendAsync(client, admin, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code });
    }

    static async Task<JsonElement> ProbeAsync(HttpClient client, Guid orgId, QuotaKind kind, long amount, string key, HttpStatusCode expected)
    {
        using var response = await client.PostAsync($"{QuotaProbe.Path}/{orgId}/{kind}?amount={amount}&key={key}", null, Ct);
        Assert.Equal(expected, response.StatusCode);
        return expected == HttpStatusCode.OK ? default : await ProblemAsync(response);
    }
}

/// <summary>A host with one extra endpoint that calls <see cref="IQuotaService.EnsureAsync"/>, as a feature endpoint will.</summary>
public abstract class QuotaHostFixture(string provider) : IdentityFixture(provider, services: s => s.AddSingleton<IStartupFilter, QuotaProbe>());

internal sealed class QuotaProbe : IStartupFilter
{
    public const string Path = "/api/probe/quota";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        var routes = (IEndpointRouteBuilder)app.Properties["__EndpointRouteBuilder"]!;
        routes.MapPost(Path + "/{org:guid}/{kind}", async (Guid org, QuotaKind kind, long amount, string key, IQuotaService quotas, CancellationToken ct) =>
            Results.Ok(await quotas.EnsureAsync(org, kind, amount, key, ct)));
    };
}

public sealed class QuotaHostOnSqlite() : QuotaHostFixture("Sqlite");

public sealed class QuotaHostOnPostgres() : QuotaHostFixture("Postgres");

public sealed class QuotasOnSqlite(QuotaHostOnSqlite fixture) : QuotaTests(fixture.Host), IClassFixture<QuotaHostOnSqlite>;

public sealed class QuotasOnPostgres(QuotaHostOnPostgres fixture) : QuotaTests(fixture.Host), IClassFixture<QuotaHostOnPostgres>;
