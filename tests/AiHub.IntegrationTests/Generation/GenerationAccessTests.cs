using System.Net;
using System.Text.Json;
using AiHub.Chat.Providers;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Generation;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Generation.GenerationApi;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>Who may generate where, what a key's generation carries, the list's filters, quotes, models, prices and storage.</summary>
public abstract class GenerationAccessTests(GenerationApiFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IdentityHost Host => fixture.Host;

    static object Image(string prompt = "a lighthouse at dusk") => new { model = "gpt-image-1", prompt, quality = "low" };

    static async Task<(Guid Id, string Secret)> KeyAsync(GenerationTenant tenant, string[] permissions, Guid? workspaceId = null, long? monthlyBudgetCredits = null)
    {
        var key = await Organizations.OrgApi.SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, $"/api/orgs/{tenant.OrgId}/api-keys",
            new { name = "studio app", permissions, workspaceId, monthlyBudgetCredits }, HttpStatusCode.Created);
        return (key.GetProperty("key").GetProperty("id").GetGuid(), key.GetProperty("secret").GetString()!);
    }

    [Fact]
    public async Task A_guest_without_generations_use_gets_403_on_every_generation_route_and_a_member_does_not()
    {
        var tenant = await NewTenantAsync(Host);
        var guestEmail = IdentityHost.NewEmail("guest");
        var guest = await Host.NewUserAsync(tenant.Client, guestEmail);
        await JoinAsync(Host, tenant.Client, tenant.Owner, tenant.OrgId, guestEmail, guest, "Guest");
        var job = await fixture.SeedJobAsync(tenant.OrgId, tenant.WorkspaceId, UserIdOf(tenant.Owner));
        var before = await fixture.FootprintAsync(tenant);

        var calls = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Get, $"/api/orgs/{tenant.OrgId}/generation-models", null),
            (HttpMethod.Post, tenant.Jobs, Image()),
            (HttpMethod.Post, tenant.Jobs + "/quote", Image()),
            (HttpMethod.Get, tenant.Jobs, null),
            (HttpMethod.Get, $"{tenant.Jobs}/{job}", null),
            (HttpMethod.Get, $"{tenant.Jobs}/{job}/outputs/0", null),
            (HttpMethod.Get, $"{tenant.Jobs}/{job}/outputs/0/thumbnail", null),
            (HttpMethod.Post, $"{tenant.Jobs}/{job}/cancel", null),
            (HttpMethod.Post, $"{tenant.Jobs}/{job}/remix", new { prompt = "again" }),
            (HttpMethod.Delete, $"{tenant.Jobs}/{job}", null),
        };
        foreach (var (method, path, body) in calls)
        {
            var (status, problem, _) = await SendAsync(tenant.Client, guest.AccessToken, method, path, body is null ? null : Json(body));
            Assert.True(status == HttpStatusCode.Forbidden, $"{method} {path} as a guest: {(int)status} {problem}");
        }
        var (own, list, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, tenant.Jobs);

        Assert.Equal(HttpStatusCode.OK, own);
        Assert.Equal(job, list.GetProperty("generations")[0].GetProperty("id").GetGuid());
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task Outputs_and_thumbnails_are_served_to_their_org_and_404_to_another_orgs_member_and_key()
    {
        var mine = await NewTenantAsync(Host, "Mine");
        var theirs = await NewTenantAsync(Host, "Theirs");
        var job = await fixture.SeedJobAsync(mine.OrgId, mine.WorkspaceId, UserIdOf(mine.Owner));
        var (_, theirKey) = await KeyAsync(theirs, ["generations:use"]);

        var (output, _, outputType) = await SendAsync(mine.Client, mine.Owner.AccessToken, HttpMethod.Get, $"{mine.Jobs}/{job}/outputs/0");
        foreach (var bearer in new[] { theirs.Owner.AccessToken, theirKey })
            foreach (var suffix in new[] { "", "/outputs/0", "/outputs/0/thumbnail", "/outputs/0?download=true" })
            {
                // Their own org and workspace in the path, my generation's id.
                var (status, _, _) = await SendAsync(theirs.Client, bearer, HttpMethod.Get, $"{theirs.Jobs}/{job}{suffix}");
                Assert.True(status == HttpStatusCode.NotFound, $"{suffix}: {(int)status}");
                // My org and workspace in the path: they are not members.
                var (mineStatus, _, _) = await SendAsync(theirs.Client, bearer, HttpMethod.Get, $"{mine.Jobs}/{job}{suffix}");
                Assert.True(mineStatus is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"{suffix} in my org: {(int)mineStatus}");
            }

        Assert.Equal(HttpStatusCode.OK, output);
        Assert.Equal("image/png", outputType);
    }

    [Fact]
    public async Task A_key_bound_to_one_workspace_cannot_reach_another_and_one_without_generations_use_gets_403()
    {
        var tenant = await NewTenantAsync(Host);
        var other = await CreateAsync(tenant.Client, tenant.Owner, tenant.OrgId, "workspaces", new { name = "Other" });
        var inOther = await fixture.SeedJobAsync(tenant.OrgId, other, UserIdOf(tenant.Owner));
        var (_, bound) = await KeyAsync(tenant, ["generations:use"], tenant.WorkspaceId);
        var (_, chatOnly) = await KeyAsync(tenant, ["chat:use"]);
        var otherJobs = $"/api/orgs/{tenant.OrgId}/workspaces/{other}/generations";
        var before = await fixture.FootprintAsync(tenant);

        var (submitOther, _, _) = await SendAsync(tenant.Client, bound, HttpMethod.Post, otherJobs, Json(Image()));
        var (listOther, _, _) = await SendAsync(tenant.Client, bound, HttpMethod.Get, otherJobs);
        var (getOther, _, _) = await SendAsync(tenant.Client, bound, HttpMethod.Get, $"{otherJobs}/{inOther}/outputs/0");
        var (noPermission, problem, _) = await SendAsync(tenant.Client, chatOnly, HttpMethod.Post, tenant.Jobs, Json(Image()));
        var afterRefusals = await fixture.FootprintAsync(tenant);
        var (own, job, _) = await SendAsync(tenant.Client, bound, HttpMethod.Post, tenant.Jobs, Json(Image()));

        Assert.Equal(HttpStatusCode.NotFound, submitOther);
        Assert.Equal(HttpStatusCode.NotFound, listOther);
        Assert.Equal(HttpStatusCode.NotFound, getOther);
        Assert.Equal(HttpStatusCode.Forbidden, noPermission);
        Assert.Equal(ProblemTypes.Forbidden, problem.GetProperty("type").GetString());
        Assert.Equal(before, afterRefusals);
        Assert.True(own == HttpStatusCode.Accepted, job.ToString());
    }

    [Fact]
    public async Task A_keys_generation_carries_the_key_and_a_worst_case_over_its_monthly_budget_is_a_402()
    {
        var tenant = await NewTenantAsync(Host);
        var (keyId, secret) = await KeyAsync(tenant, ["generations:use"], monthlyBudgetCredits: 10);
        var before = await fixture.FootprintAsync(tenant);

        // Sora 2 for 4 seconds holds 40 credits: over the key's 10.
        var (video, problem, videoType) = await SendAsync(tenant.Client, secret, HttpMethod.Post, tenant.Jobs, Json(new { model = "sora-2", prompt = "waves", seconds = 4 }));
        var afterRefusal = await fixture.FootprintAsync(tenant);
        var (image, job, _) = await SendAsync(tenant.Client, secret, HttpMethod.Post, tenant.Jobs, Json(Image()));

        Assert.Equal(HttpStatusCode.PaymentRequired, video);
        Assert.Equal("application/problem+json", videoType);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
        Assert.Equal(before, afterRefusal);
        Assert.True(image == HttpStatusCode.Accepted, job.ToString());
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var id = job.GetProperty("id").GetGuid();
        var stored = await db.Set<GenerationJob>().IgnoreQueryFilters().AsNoTracking().SingleAsync(j => j.Id == id, Ct);
        var hold = await db.Set<LedgerHold>().IgnoreQueryFilters().AsNoTracking().SingleAsync(h => h.OrganizationId == tenant.OrgId, Ct);
        Assert.Equal(keyId, stored.ApiKeyId);
        Assert.Equal(keyId, hold.ApiKeyId);
        Assert.NotNull(hold.BudgetMonth);
    }

    [Fact]
    public async Task The_quote_is_what_submit_holds()
    {
        var tenant = await NewTenantAsync(Host);
        var request = new { model = "openai/sora-2", prompt = "a slow pan over a harbour", seconds = 8, size = "720x1280" };

        var (quoted, quote, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs + "/quote", Json(request));
        var (accepted, job, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs, Json(request));
        var held = job.GetProperty("cost").GetProperty("heldMicros").GetInt64();
        await using var scope = Host.App.Services.CreateAsyncScope();
        var hold = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().IgnoreQueryFilters().AsNoTracking()
            .SingleAsync(h => h.OrganizationId == tenant.OrgId, Ct);

        Assert.Equal(HttpStatusCode.OK, quoted);
        Assert.Equal(HttpStatusCode.Accepted, accepted);
        Assert.Equal(80m, quote.GetProperty("credits").GetDecimal());
        Assert.Equal(80_000_000, quote.GetProperty("micros").GetInt64());
        Assert.Equal(quote.GetProperty("micros").GetInt64(), held);
        Assert.Equal(held, hold.Amount);
        Assert.Equal("openai/sora-2", quote.GetProperty("model").GetString());
        Assert.Equal(8, quote.GetProperty("seconds").GetInt32());
    }

    [Fact]
    public async Task The_list_filters_by_kind_status_and_user_and_pages_with_a_cursor()
    {
        var tenant = await NewTenantAsync(Host);
        var memberEmail = IdentityHost.NewEmail("member");
        var member = await Host.NewUserAsync(tenant.Client, memberEmail);
        await JoinAsync(Host, tenant.Client, tenant.Owner, tenant.OrgId, memberEmail, member);
        var owner = UserIdOf(tenant.Owner);
        var a = await fixture.SeedJobAsync(tenant.OrgId, tenant.WorkspaceId, owner);
        var b = await fixture.SeedJobAsync(tenant.OrgId, tenant.WorkspaceId, owner, GenerationKind.Video, GenerationStatus.InProgress, "sora-2");
        var c = await fixture.SeedJobAsync(tenant.OrgId, tenant.WorkspaceId, UserIdOf(member), GenerationKind.Video, GenerationStatus.Failed, "sora-2");
        var d = await fixture.SeedJobAsync(tenant.OrgId, tenant.WorkspaceId, UserIdOf(member), GenerationKind.Image, GenerationStatus.Queued);

        async Task<(List<Guid> Ids, string? Next)> ListAsync(string query)
        {
            var (status, page, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, tenant.Jobs + query);
            Assert.True(status == HttpStatusCode.OK, $"{query}: {page}");
            var next = page.GetProperty("nextCursor");
            return ([.. page.GetProperty("generations").EnumerateArray().Select(j => j.GetProperty("id").GetGuid())], next.ValueKind == JsonValueKind.Null ? null : next.GetString());
        }

        var all = await ListAsync("");
        var videos = await ListAsync("?kind=video");
        var running = await ListAsync("?status=in_progress");
        var members = await ListAsync($"?userId={UserIdOf(member)}");
        var memberImages = await ListAsync($"?userId={UserIdOf(member)}&kind=image");
        var first = await ListAsync("?limit=3");
        var second = await ListAsync($"?limit=3&cursor={first.Next}");
        var (badStatus, statusProblem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, tenant.Jobs + "?status=running");
        var (badKind, kindProblem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, tenant.Jobs + "?kind=audio");
        var (badCursor, cursorProblem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, tenant.Jobs + "?cursor=yesterday");

        Assert.Equal([d, c, b, a], all.Ids);
        Assert.Null(all.Next);
        Assert.Equal([c, b], videos.Ids);
        Assert.Equal([b], running.Ids);
        Assert.Equal([d, c], members.Ids);
        Assert.Equal([d], memberImages.Ids);
        Assert.Equal([d, c, b], first.Ids);
        Assert.Equal(b.ToString(), first.Next);
        Assert.Equal([a], second.Ids);
        Assert.Null(second.Next);
        Assert.Equal(HttpStatusCode.BadRequest, badStatus);
        Assert.True(statusProblem.GetProperty("errors").TryGetProperty("status", out _));
        Assert.Equal(HttpStatusCode.BadRequest, badKind);
        Assert.True(kindProblem.GetProperty("errors").TryGetProperty("kind", out _));
        Assert.Equal(HttpStatusCode.BadRequest, badCursor);
        Assert.True(cursorProblem.GetProperty("errors").TryGetProperty("cursor", out _));
    }

    [Fact]
    public async Task The_models_list_gives_sizes_durations_and_prices_and_hides_a_model_disabled_for_the_plan_which_submit_then_refuses()
    {
        var tenant = await NewTenantAsync(Host);
        var path = $"/api/orgs/{tenant.OrgId}/generation-models";

        var (_, models, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, path);
        var sora = models.EnumerateArray().Single(m => m.GetProperty("id").GetString() == "openai/sora-2");
        var image = models.EnumerateArray().Single(m => m.GetProperty("id").GetString() == "openai/gpt-image-1");
        var plan = await PlanCodeAsync(tenant.OrgId);
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Add(new ModelSetting { Provider = "openai", Model = "dall-e-2", DisabledPlans = [plan], UpdatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        try
        {
            var (_, after, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, path);
            var before = await fixture.FootprintAsync(tenant);
            var (refused, problem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
                Json(new { model = "dall-e-2", prompt = "a lighthouse" }));

            Assert.Equal(4, models.GetArrayLength());
            Assert.Equal([4, 8, 12], sora.GetProperty("seconds").EnumerateArray().Select(s => s.GetInt32()));
            Assert.Equal(["1280x720", "720x1280"], sora.GetProperty("sizes").EnumerateArray().Select(s => s.GetString()));
            Assert.Equal("video", sora.GetProperty("kind").GetString());
            var soraPrice = Assert.Single(sora.GetProperty("prices").EnumerateArray(), p => p.GetProperty("size").GetString() == "1280x720");
            Assert.Equal(10m, soraPrice.GetProperty("credits").GetDecimal());
            Assert.Equal("second", soraPrice.GetProperty("unit").GetString());
            Assert.Equal(9, image.GetProperty("prices").GetArrayLength());
            Assert.Equal(["low", "medium", "high"], image.GetProperty("qualities").EnumerateArray().Select(s => s.GetString()));
            Assert.DoesNotContain(after.EnumerateArray(), m => m.GetProperty("id").GetString() == "openai/dall-e-2");
            Assert.Equal(3, after.GetArrayLength());
            Assert.Equal(HttpStatusCode.BadRequest, refused);
            Assert.True(problem.GetProperty("errors").TryGetProperty("model", out _), problem.ToString());
            Assert.Equal(before, await fixture.FootprintAsync(tenant));
        }
        finally
        {
            await using var scope = Host.App.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<ModelSetting>().Where(s => s.Provider == "openai" && s.Model == "dall-e-2").ExecuteDeleteAsync(Ct);
        }
    }

    async Task<string> PlanCodeAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await PlanCatalog.PlanOfAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), orgId, Ct)).Code;
    }

    [Fact]
    public async Task An_admin_price_beats_the_list_changes_the_quote_at_once_is_audited_and_deleting_it_restores_the_list()
    {
        var tenant = await NewTenantAsync(Host);
        var admin = await Host.SuperAdminAsync(tenant.Client);
        static HttpContent QuoteBody() => Json(new { model = "gpt-image-1", prompt = "x", quality = "high", size = "1536x1024" });
        var path = "/api/admin/generation-prices/openai/gpt-image-1?size=1536x1024&quality=high";

        var (_, listed, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs + "/quote", QuoteBody());
        var (memberPut, _, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Put, path, Json(new { credits = 1m }));
        var (put, entry, _) = await SendAsync(tenant.Client, admin.AccessToken, HttpMethod.Put, path, Json(new { credits = 3.5m }));
        var (_, priced, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs + "/quote",
            Json(new { model = "gpt-image-1", prompt = "x", quality = "high", size = "1536x1024", count = 2 }));
        var (_, all, _) = await SendAsync(tenant.Client, admin.AccessToken, HttpMethod.Get, "/api/admin/generation-prices");
        var (_, models, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, $"/api/orgs/{tenant.OrgId}/generation-models");
        var (badSize, sizeProblem, _) = await SendAsync(tenant.Client, admin.AccessToken, HttpMethod.Put, "/api/admin/generation-prices/openai/gpt-image-1?size=huge",
            Json(new { credits = 1m }));
        var (negative, negativeProblem, _) = await SendAsync(tenant.Client, admin.AccessToken, HttpMethod.Put, path, Json(new { credits = -1m }));
        var (deleted, _, _) = await SendAsync(tenant.Client, admin.AccessToken, HttpMethod.Delete, path);
        var (deletedAgain, _, _) = await SendAsync(tenant.Client, admin.AccessToken, HttpMethod.Delete, path);
        var (_, restored, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs + "/quote", QuoteBody());

        Assert.Equal(25m, listed.GetProperty("credits").GetDecimal());
        Assert.Equal(HttpStatusCode.Forbidden, memberPut);
        Assert.Equal(HttpStatusCode.OK, put);
        Assert.Equal("admin", entry.GetProperty("source").GetString());
        Assert.Equal(3_500_000, entry.GetProperty("micros").GetInt64());
        Assert.Equal(7_000_000, priced.GetProperty("micros").GetInt64());
        Assert.Contains(all.EnumerateArray(), p => p.GetProperty("source").GetString() == "admin" && p.GetProperty("model").GetString() == "gpt-image-1"
            && p.GetProperty("size").GetString() == "1536x1024" && p.GetProperty("quality").GetString() == "high");
        Assert.Contains(all.EnumerateArray(), p => p.GetProperty("source").GetString() == "list" && p.GetProperty("model").GetString() == "sora-2");
        var rate = models.EnumerateArray().Single(m => m.GetProperty("id").GetString() == "openai/gpt-image-1").GetProperty("prices").EnumerateArray()
            .Single(p => p.GetProperty("size").GetString() == "1536x1024" && p.GetProperty("quality").GetString() == "high");
        Assert.Equal("admin", rate.GetProperty("source").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, badSize);
        Assert.True(sizeProblem.GetProperty("errors").TryGetProperty("size", out _));
        Assert.Equal(HttpStatusCode.BadRequest, negative);
        Assert.True(negativeProblem.GetProperty("errors").TryGetProperty("credits", out _));
        Assert.Equal(HttpStatusCode.NoContent, deleted);
        Assert.Equal(HttpStatusCode.NotFound, deletedAgain);
        Assert.Equal(25m, restored.GetProperty("credits").GetDecimal());
        await using var scope = Host.App.Services.CreateAsyncScope();
        var kinds = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<AuditEvent>().AsNoTracking()
            .Where(e => e.Kind.StartsWith("generation_price.")).Select(e => e.Kind).ToListAsync(Ct);
        Assert.Contains("generation_price.set", kinds);
        Assert.Contains("generation_price.deleted", kinds);
    }

    [Fact]
    public async Task Two_deletes_of_one_generation_at_once_answer_one_204_and_one_404_never_a_500()
    {
        var tenant = await NewTenantAsync(Host);
        var id = await fixture.SeedJobAsync(tenant.OrgId, tenant.WorkspaceId, UserIdOf(tenant.Owner));

        var both = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ =>
            SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Delete, $"{tenant.Jobs}/{id}")));
        var (gone, _, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, $"{tenant.Jobs}/{id}");

        Assert.Equal([HttpStatusCode.NoContent, HttpStatusCode.NotFound], both.Select(r => r.Status).Order());
        var refused = both.Single(r => r.Status == HttpStatusCode.NotFound);
        Assert.Equal("application/problem+json", refused.ContentType);
        Assert.Equal(HttpStatusCode.NotFound, gone);
        Assert.Equal(0, (await fixture.FootprintAsync(tenant)).Blobs);
    }

    [Fact]
    public async Task A_reference_image_counts_against_storage_deleting_gives_it_back_and_a_full_plan_refuses_with_403()
    {
        var tenant = await NewTenantAsync(Host);
        var used0 = await StorageUsedAsync(tenant.OrgId);

        var (accepted, job, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            Form(new Dictionary<string, string> { ["model"] = "gpt-image-1", ["prompt"] = "in blue", ["quality"] = "low" }, Png));
        Assert.True(accepted == HttpStatusCode.Accepted, job.ToString());
        var id = job.GetProperty("id").GetGuid();
        var used1 = await StorageUsedAsync(tenant.OrgId);
        var blobs1 = (await fixture.FootprintAsync(tenant)).Blobs;
        var (deleted, _, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Delete, $"{tenant.Jobs}/{id}");
        var used2 = await StorageUsedAsync(tenant.OrgId);
        var after = await fixture.FootprintAsync(tenant);
        var (gone, _, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Get, $"{tenant.Jobs}/{id}");

        Assert.Equal(used0 + Png.Length, used1);
        Assert.Equal(1, blobs1);
        Assert.Equal(HttpStatusCode.NoContent, deleted);
        Assert.Equal(used0, used2);
        Assert.Equal(0, after.Blobs);
        Assert.Equal(0, after.Reserved);
        Assert.Equal(HttpStatusCode.NotFound, gone);

        // Fill the plan's storage to the byte, as a library of uploads would.
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var quotas = scope.ServiceProvider.GetRequiredService<IQuotaService>();
            var status = await quotas.GetAsync(tenant.OrgId, QuotaKind.StorageBytes, Ct);
            Assert.True(status.Remaining is > 0, "the plan has no storage limit to fill");
            Assert.True((await quotas.TryConsumeAsync(tenant.OrgId, QuotaKind.StorageBytes, status.Remaining!.Value, "test:fill", Ct)).Allowed);
        }
        var before = await fixture.FootprintAsync(tenant);
        var (full, problem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs, Json(Image()));
        var (fullForm, _, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            Form(new Dictionary<string, string> { ["model"] = "gpt-image-1", ["prompt"] = "in blue" }, Png));

        Assert.Equal(HttpStatusCode.Forbidden, full);
        Assert.Equal(ProblemTypes.StorageLimitExceeded, problem.GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, fullForm);
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    async Task<long> StorageUsedAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<IQuotaService>().GetAsync(orgId, QuotaKind.StorageBytes, Ct)).Used;
    }
}

public sealed class GenerationAccessOnSqlite(SqliteGenerationApiFixture fixture) : GenerationAccessTests(fixture), IClassFixture<SqliteGenerationApiFixture>;

public sealed class GenerationAccessOnPostgres(PostgresGenerationApiFixture fixture) : GenerationAccessTests(fixture), IClassFixture<PostgresGenerationApiFixture>;
