using System.Net;
using System.Text.Json;
using AiHub.Chat.Providers;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static AiHub.IntegrationTests.Chat.ProviderTestSettings;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Chat;

/// <summary>Providers as an operator configures them, and as an organisation adds its own: the models each org sees, and keys that never leak.</summary>
public abstract class ProviderTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_models_an_org_may_use_come_from_the_settings_with_their_prices_and_known_metadata()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Models");

        var models = (await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/models")).EnumerateArray().ToList();

        Assert.Equal(ProviderTestSettings.DeploymentModels, models.Select(m => $"{m.GetProperty("provider").GetString()}/{m.GetProperty("id").GetString()}"));
        var mini = models.Single(m => m.GetProperty("id").GetString() == "gpt-4o-mini");
        Assert.Equal("GPT-4o mini", mini.GetProperty("displayName").GetString());
        Assert.Equal(128_000, mini.GetProperty("contextLength").GetInt32());
        Assert.Equal(["vision", "tools", "streaming"], mini.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(15m, mini.GetProperty("inputPerMillion").GetDecimal());
        Assert.Equal(60m, mini.GetProperty("outputPerMillion").GetDecimal());
        Assert.Equal("deployment", mini.GetProperty("source").GetString());
        Assert.True(mini.GetProperty("default").GetBoolean());
        Assert.Single(models, m => m.GetProperty("default").GetBoolean());
        var sonnet = models.Single(m => m.GetProperty("id").GetString() == "claude-sonnet-4-20250514");
        Assert.Equal(("Claude Sonnet 4", 300m), (sonnet.GetProperty("displayName").GetString(), sonnet.GetProperty("inputPerMillion").GetDecimal()));
        var unknown = models.Single(m => m.GetProperty("id").GetString() == "mystery-model-1");
        Assert.Equal(("mystery-model-1", 8_192), (unknown.GetProperty("displayName").GetString(), unknown.GetProperty("contextLength").GetInt32()));
        Assert.Equal(["streaming"], unknown.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(JsonValueKind.Null, unknown.GetProperty("inputPerMillion").ValueKind);
    }

    [Fact]
    public async Task An_org_provider_key_is_stored_encrypted_never_returned_and_kept_when_a_patch_leaves_it_blank()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Own keys");
        const string Key = "sk-org-0123456789abcdefSECRET";

        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "Mine", kind = "openai", apiKey = Key, models = List("gpt-4.1-mini", "my-finetune") }, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        var renamed = await SendAsync(client, owner, HttpMethod.Patch, $"/api/orgs/{orgId}/providers/{id}", new { name = "mine2", apiKey = "  " });
        var listed = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/providers");
        var models = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/models");

        Assert.Equal(("mine", "OpenAI", true), (created.GetProperty("name").GetString(), created.GetProperty("kind").GetString(), created.GetProperty("hasApiKey").GetBoolean()));
        Assert.Equal("mine2", renamed.GetProperty("name").GetString());
        foreach (var body in new[] { created, renamed, listed, models })
            Assert.DoesNotContain(Key, body.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("apiKey\"", created.GetRawText(), StringComparison.Ordinal);
        var row = await RawProviderAsync(id);
        Assert.NotNull(row.ApiKeyProtected);
        Assert.DoesNotContain(Key, row.ApiKeyProtected, StringComparison.Ordinal);
        Assert.Equal(Key, Unprotect(row.ApiKeyProtected));
        var own = models.EnumerateArray().Where(m => m.GetProperty("source").GetString() == "org").Select(m => m.GetProperty("provider").GetString() + "/" + m.GetProperty("id").GetString());
        Assert.Equal(["mine2/gpt-4.1-mini", "mine2/my-finetune"], own);
        Assert.Equal("mine2/gpt-4.1-mini", models.EnumerateArray().Select(m => m.GetProperty("provider").GetString() + "/" + m.GetProperty("id").GetString()).First());

        await SendAsync(client, owner, HttpMethod.Patch, $"/api/orgs/{orgId}/providers/{id}", new { apiKey = "sk-new-key" });
        Assert.Equal("sk-new-key", Unprotect((await RawProviderAsync(id)).ApiKeyProtected!));
        await SendAsync(client, owner, HttpMethod.Delete, $"/api/orgs/{orgId}/providers/{id}", expected: HttpStatusCode.NoContent);
        Assert.Empty((await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/providers")).EnumerateArray());
        await using var scope = host.App.Services.CreateAsyncScope();
        var audit = await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEvents.AsNoTracking()
            .Where(e => e.OrganizationId == orgId && e.Kind.StartsWith("org.provider_")).OrderBy(e => e.OccurredAt).ToListAsync(Ct);
        Assert.Equal(["org.provider_created", "org.provider_updated", "org.provider_updated", "org.provider_deleted"], audit.Select(e => e.Kind));
        Assert.All(audit, e => Assert.DoesNotContain("sk-", e.Data ?? "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Changing_a_provider_url_or_kind_drops_its_key_unless_the_same_change_sends_one()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Moved");
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "moved", kind = "OpenAICompatible", baseUrl = "https://llm.example.com/v1", apiKey = "sk-first", models = List("llama3") }, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        var path = $"/api/orgs/{orgId}/providers/{id}";

        var renamed = await SendAsync(client, owner, HttpMethod.Patch, path, new { name = "moved2", baseUrl = "https://llm.example.com/v1", kind = "OpenAICompatible" });
        var keptKey = (await RawProviderAsync(id)).ApiKeyProtected;
        var moved = await SendAsync(client, owner, HttpMethod.Patch, path, new { baseUrl = "https://listener.example.net/v1" });
        var clearedKey = (await RawProviderAsync(id)).ApiKeyProtected;
        var movedWithKey = await SendAsync(client, owner, HttpMethod.Patch, path, new { baseUrl = "https://llm.example.com/v1", apiKey = "sk-second" });

        Assert.Equal((true, false), (renamed.GetProperty("hasApiKey").GetBoolean(), renamed.GetProperty("keyCleared").GetBoolean()));
        Assert.Equal("sk-first", Unprotect(keptKey!));
        Assert.Equal((false, true), (moved.GetProperty("hasApiKey").GetBoolean(), moved.GetProperty("keyCleared").GetBoolean()));
        Assert.Null(clearedKey);
        Assert.Equal((true, false), (movedWithKey.GetProperty("hasApiKey").GetBoolean(), movedWithKey.GetProperty("keyCleared").GetBoolean()));
        Assert.Equal("sk-second", Unprotect((await RawProviderAsync(id)).ApiKeyProtected!));

        // A kind that needs a key refuses a change that would leave it without one, and nothing of the change is kept.
        var openai = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "hosted", kind = "OpenAI", apiKey = "sk-hosted", models = List("gpt-4o") }, HttpStatusCode.Created);
        var openaiId = openai.GetProperty("id").GetGuid();
        foreach (var change in new object[] { new { baseUrl = "https://listener.example.net/v1" }, new { kind = "Anthropic" } })
        {
            using var refused = await client.SendAsync(As(owner, HttpMethod.Patch, $"/api/orgs/{orgId}/providers/{openaiId}", change), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.True((await ProblemAsync(refused)).GetProperty("errors").TryGetProperty("apiKey", out _));
        }
        var row = await RawProviderAsync(openaiId);
        Assert.Equal(("OpenAI", null, "sk-hosted"), (row.Kind, row.BaseUrl, Unprotect(row.ApiKeyProtected!)));
        await using var scope = host.App.Services.CreateAsyncScope();
        var audit = await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEvents.AsNoTracking()
            .Where(e => e.OrganizationId == orgId && e.Kind == "org.provider_updated").Select(e => e.Data).ToListAsync(Ct);
        Assert.Single(audit, d => d!.Contains("\"keyCleared\":true", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Only_org_managers_change_providers_and_bad_input_is_a_400_naming_the_field()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Managed");
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);
        var body = new { name = "local", kind = "OpenAICompatible", baseUrl = "http://127.0.0.1:11434/v1", models = List("llama3") };

        await SendAsync(client, member, HttpMethod.Post, $"/api/orgs/{orgId}/providers", body, HttpStatusCode.Forbidden);
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers", body, HttpStatusCode.Created);
        var seen = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/providers");
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers", body, HttpStatusCode.Conflict);

        Assert.False(created.GetProperty("hasApiKey").GetBoolean());
        Assert.Single(seen.EnumerateArray());
        foreach (var (bad, field) in new (object, string)[]
        {
            (new { name = "a/b", kind = "OpenAI", apiKey = "k", models = List("x") }, "name"),
            (new { name = "ok", kind = "Bard", apiKey = "k", models = List("x") }, "kind"),
            (new { name = "ok", kind = "OpenAICompatible", models = List("x") }, "baseUrl"),
            (new { name = "ok", kind = "Anthropic", models = List("x") }, "apiKey"),
            (new { name = "ok", kind = "OpenAI", apiKey = "k", models = List() }, "models"),
            (new { name = "openai", kind = "OpenAI", apiKey = "k", models = List("x") }, "name"),
        })
        {
            using var response = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers", bad), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.True((await ProblemAsync(response)).GetProperty("errors").TryGetProperty(field, out _), field);
        }
    }

    [Fact]
    public async Task A_model_disabled_for_a_plan_is_hidden_from_its_orgs_and_admins_see_it_in_the_catalog()
    {
        using var client = host.Client();
        var root = await host.SuperAdminAsync(client);
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Small plan");
        var plan = "NOMINI" + Guid.NewGuid().ToString("N")[..6].ToUpperInvariant();
        await SendAsync(client, root, HttpMethod.Put, $"/api/admin/plans/{plan}",
            new { name = "No mini", chatPeriod = "total", priceCents = 0, currency = "USD", grant = 0m, active = true, sortOrder = 90 }, HttpStatusCode.Created);
        await SendAsync(client, root, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code = plan });

        var set = await SendAsync(client, root, HttpMethod.Put, "/api/admin/models/backup/gpt-4o",
            new { displayName = "Backup GPT-4o", contextLength = 32_000, capabilities = List("tools", "streaming"), disabledPlans = List(plan.ToLowerInvariant()) });
        var catalog = await SendAsync(client, root, HttpMethod.Get, "/api/admin/models");
        var models = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/models");
        var freeOwner = await host.NewUserAsync(client);
        var freeOrg = await CreateOrgAsync(client, freeOwner, "Free plan");
        await SendAsync(client, owner, HttpMethod.Put, "/api/admin/models/backup/gpt-4o", new { }, HttpStatusCode.Forbidden);
        await SendAsync(client, root, HttpMethod.Put, "/api/admin/models/openai/nope", new { }, HttpStatusCode.NotFound);
        await SendAsync(client, root, HttpMethod.Put, "/api/admin/models/backup/gpt-4o", new { disabledPlans = List("NO_SUCH_PLAN") }, HttpStatusCode.BadRequest);

        Assert.Equal([plan], set.GetProperty("disabledPlans").EnumerateArray().Select(p => p.GetString()));
        var entry = catalog.EnumerateArray().Single(m => m.GetProperty("provider").GetString() == "backup" && m.GetProperty("id").GetString() == "gpt-4o");
        Assert.Equal(("Backup GPT-4o", 32_000), (entry.GetProperty("displayName").GetString(), entry.GetProperty("contextLength").GetInt32()));
        Assert.Equal(["tools", "streaming"], entry.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(ProviderTestSettings.DeploymentModels.Count, catalog.GetArrayLength());
        Assert.DoesNotContain(models.EnumerateArray(), m => m.GetProperty("provider").GetString() == "backup");
        Assert.Equal(ProviderTestSettings.DeploymentModels.Count - 1, models.GetArrayLength());
        var onFree = await SendAsync(client, freeOwner, HttpMethod.Get, $"/api/orgs/{freeOrg}/models");
        Assert.Contains(onFree.EnumerateArray(), m => m.GetProperty("provider").GetString() == "backup");
        await using var scope = host.App.Services.CreateAsyncScope();
        var router = scope.ServiceProvider.GetRequiredService<AiHub.Chat.Engine.IModelRouter>();
        var refused = await Assert.ThrowsAsync<AiHub.Infrastructure.Errors.ProblemException>(() => router.RouteAsync(orgId, "backup/gpt-4o", Ct));
        Assert.Equal((403, AiHub.Infrastructure.Errors.ProblemTypes.ModelNotAllowed), (refused.Status, refused.Type));
        Assert.Equal(("backup", "gpt-4o"), (await router.RouteAsync(freeOrg, "backup/gpt-4o", Ct)).Select(t => (t.Provider, t.Model)).First());
        // The same id from another provider is still in the plan.
        Assert.Equal("openai", (await router.RouteAsync(orgId, "gpt-4o", Ct))[0].Provider);
    }

    async Task<OrgProvider> RawProviderAsync(Guid id)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<OrgProvider>().AsNoTracking().IgnoreQueryFilters().SingleAsync(p => p.Id == id, Ct);
    }

    string Unprotect(string protectedKey) =>
        host.App.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("AiHub.Chat.ProviderKeys").Unprotect(protectedKey);
}

/// <summary>Settings for a deployment with four providers, two of which serve gpt-4o; none is reachable, nothing here calls them.</summary>
public static class ProviderTestSettings
{
    public static readonly IReadOnlyList<string> DeploymentModels =
        ["openai/gpt-4o", "openai/gpt-4o-mini", "openai/mystery-model-1", "anthropic/claude-sonnet-4-20250514", "gemini/gemini-2.0-flash", "backup/gpt-4o"];

    /// <summary>A list for a request body.</summary>
    public static string[] List(params string[] items) => items;

    public static Dictionary<string, string?> Deployment(string unreachable = "http://127.0.0.1:9/v1") => new()
    {
        ["Providers:0:Name"] = "openai",
        ["Providers:0:Kind"] = "OpenAI",
        ["Providers:0:BaseUrl"] = unreachable,
        ["Providers:0:ApiKey"] = "sk-deployment-openai",
        ["Providers:0:Models:0"] = "gpt-4o",
        ["Providers:0:Models:1"] = "gpt-4o-mini",
        ["Providers:0:Models:2"] = "mystery-model-1",
        ["Providers:1:Name"] = "anthropic",
        ["Providers:1:Kind"] = "Anthropic",
        ["Providers:1:BaseUrl"] = unreachable,
        ["Providers:1:ApiKey"] = "sk-ant-deployment",
        ["Providers:1:Models:0"] = "claude-sonnet-4-20250514",
        ["Providers:2:Name"] = "gemini",
        ["Providers:2:Kind"] = "Gemini",
        ["Providers:2:BaseUrl"] = unreachable,
        ["Providers:2:ApiKey"] = "gemini-deployment-key",
        ["Providers:2:Models:0"] = "gemini-2.0-flash",
        ["Providers:3:Name"] = "backup",
        ["Providers:3:Kind"] = "OpenAICompatible",
        ["Providers:3:BaseUrl"] = unreachable,
        ["Providers:3:Models:0"] = "gpt-4o",
        ["Chat:DefaultModel"] = "gpt-4o-mini",
        ["Chat:Fallbacks:gpt-4o"] = "claude-sonnet-4-20250514, no-such-model, gemini-2.0-flash, backup/gpt-4o",
        ["Chat:Fallbacks:backup/gpt-4o"] = "gemini-2.0-flash",
    };
}

public sealed class SqliteProviderFixture() : IdentityFixture("Sqlite", ProviderTestSettings.Deployment());

public sealed class PostgresProviderFixture() : IdentityFixture("Postgres", ProviderTestSettings.Deployment());

public sealed class ProviderTestsOnSqlite(SqliteProviderFixture fixture) : ProviderTests(fixture.Host), IClassFixture<SqliteProviderFixture>;

public sealed class ProviderTestsOnPostgres(PostgresProviderFixture fixture) : ProviderTests(fixture.Host), IClassFixture<PostgresProviderFixture>;

/// <summary>What only a host of its own shows: startup refusals, an empty deployment, and the log of a whole provider's life.</summary>
public sealed class ProviderTestsOnTheirOwnHost
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("AIHUB_Providers__0__Kind", "Bard", "Providers:0:Kind: 'Bard' is not valid; expected one of OpenAI, Anthropic, Gemini, OpenAICompatible")]
    [InlineData("AIHUB_Providers__0__Name", "", "Providers:0:Name: is required")]
    [InlineData("AIHUB_Providers__1__Name", "first", "Providers:1:Name: 'first' is already the name of Providers:0")]
    [InlineData("AIHUB_Providers__0__Models__0", "", "Providers:0:Models: lists no model")]
    [InlineData("AIHUB_Providers__0__BaseUrl", "", "Providers:0:BaseUrl: is required when Providers:0:Kind is OpenAICompatible")]
    [InlineData("AIHUB_Chat__Retry__MaxAttempts", "0", "Chat:Retry:MaxAttempts:")]
    [InlineData("AIHUB_Providers__0__Prices__0__Model", "llama2", "Providers:0:Prices:0:Model: 'llama2' is not in Providers:0:Models")]
    [InlineData("AIHUB_Providers__0__Prices__0__InputPerMillion", "-1", "Providers:0:Prices:0:InputPerMillion: '-1' is not valid; Give the credits per million tokens")]
    [InlineData("AIHUB_Providers__0__Prices__0__OutputPerMillion", "0.0000001", "Providers:0:Prices:0:OutputPerMillion: '0.0000001' is not valid")]
    [InlineData("AIHUB_Providers__0__DefaultPrice__InputPerMillion", "1", "Providers:0:DefaultPrice:OutputPerMillion: is required")]
    [InlineData("AIHUB_Chat__OrgProviderPrice__InputPerMillion", "2000000", "Chat:OrgProviderPrice:InputPerMillion: '2000000' is not valid")]
    public async Task A_bad_provider_setting_stops_the_process_naming_it(string variable, string value, string expected)
    {
        await using var database = TestDatabase.Sqlite();
        var environment = new Dictionary<string, string>
        {
            ["AIHUB_Database__ConnectionString"] = database.ConnectionString,
            ["AIHUB_Providers__0__Name"] = "first",
            ["AIHUB_Providers__0__Kind"] = "OpenAICompatible",
            ["AIHUB_Providers__0__BaseUrl"] = "http://127.0.0.1:9/v1",
            ["AIHUB_Providers__0__Models__0"] = "llama3",
            ["AIHUB_Providers__0__Prices__0__Model"] = "llama3",
            ["AIHUB_Providers__0__Prices__0__InputPerMillion"] = "1",
            ["AIHUB_Providers__0__Prices__0__OutputPerMillion"] = "2",
            ["AIHUB_Providers__1__Name"] = "second",
            ["AIHUB_Providers__1__Kind"] = "OpenAI",
            ["AIHUB_Providers__1__ApiKey"] = "sk-startup-secret",
            ["AIHUB_Providers__1__Models__0"] = "gpt-4o",
        };
        environment[variable] = value;

        var result = await AiHubProcess.RunAsync(environment);

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("aihub: invalid configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-startup-secret", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_any_provider_routing_answers_503_no_provider_and_the_org_list_is_empty()
    {
        await using var host = await IdentityHost.StartAsync("Sqlite");
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Nothing");

        var models = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/models");
        await using var scope = host.App.Services.CreateAsyncScope();
        var router = scope.ServiceProvider.GetRequiredService<AiHub.Chat.Engine.IModelRouter>();
        var refused = await Assert.ThrowsAsync<AiHub.Infrastructure.Errors.ProblemException>(() => router.RouteAsync(orgId, null, Ct));
        var cheap = await router.CheapAsync(orgId, Ct);

        Assert.Empty(models.EnumerateArray());
        Assert.Null(cheap);
        Assert.Equal((503, "urn:aihub:problem:no-provider"), (refused.Status, refused.Type));
        Assert.Equal("NO_PROVIDER", refused.Extensions!["code"]);
        Assert.Contains("Providers:0:Name", refused.Detail, StringComparison.Ordinal);
        Assert.Contains($"/orgs/{orgId}/providers", refused.Detail, StringComparison.Ordinal);

        // The org's own provider is enough.
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "local", kind = "OpenAICompatible", baseUrl = "http://127.0.0.1:9/v1", models = List("llama3") }, HttpStatusCode.Created);
        var target = Assert.Single(await router.RouteAsync(orgId, null, Ct));
        Assert.Equal(("local", "llama3"), (target.Provider, target.Model));
    }

    [Fact]
    public async Task An_org_provider_key_never_reaches_the_log()
    {
        var logs = new LogCapture();
        await using var host = await IdentityHost.StartAsync("Sqlite", services: s => s.AddSingleton<ILoggerProvider>(logs));
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Logged");
        const string Key = "sk-org-must-not-be-logged-42";
        const string Second = "sk-org-second-key-never-logged";

        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "mine", kind = "OpenAI", baseUrl = "http://127.0.0.1:9/v1", apiKey = Key, models = List("gpt-4o") }, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        await SendAsync(client, owner, HttpMethod.Patch, $"/api/orgs/{orgId}/providers/{id}", new { apiKey = Second });
        using var bad = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers", new { name = "x/y", kind = "OpenAI", apiKey = Key, models = List("m") }), Ct);
        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/models");
        await using var scope = host.App.Services.CreateAsyncScope();
        var target = Assert.Single(await scope.ServiceProvider.GetRequiredService<AiHub.Chat.Engine.IModelRouter>().RouteAsync(orgId, "mine/gpt-4o", Ct));
        await Assert.ThrowsAnyAsync<Exception>(() => target.Client.GetResponseAsync("hello", cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var all = string.Join("\n", logs.Lines);
        Assert.NotEmpty(logs.Lines);
        Assert.DoesNotContain(Key, all, StringComparison.Ordinal);
        Assert.DoesNotContain(Second, all, StringComparison.Ordinal);
    }
}
