using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Credits.Usage;
using AiHub.Fixtures;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Chat.ProviderTestSettings;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Chat;

/// <summary>
/// A deployment of self-hosted models (an Ollama and a private vLLM, both the wire-exact fake), none of them in the
/// shipped price list: the settings price one model, give the private server a default price of zero, and leave one
/// model unpriced.
/// </summary>
public abstract class SelfHostedFixture(string provider) : IAsyncLifetime
{
    public const string Unpriced = "mistral-unpriced";
    public const string Llama = "llama3.2:3b";
    public const string Private = "gpt-oss-20b";

    /// <summary>Credits per million input and output tokens that the settings give <see cref="Llama"/>.</summary>
    public const long LlamaInput = 2, LlamaOutput = 4;

    /// <summary>The platform's rate for an org's own provider on <see cref="RatedHostAsync"/>.</summary>
    public const long OrgInput = 3, OrgOutput = 5;

    public FakeLlm Fake { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    readonly SemaphoreSlim _ratedStart = new(1, 1);
    IdentityHost? _rated;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        Host = await StartHostAsync(new Dictionary<string, string?>());
    }

    /// <summary>A second host over the same fake whose operator charges a rate for organisations' own providers.</summary>
    public async Task<IdentityHost> RatedHostAsync()
    {
        await _ratedStart.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            return _rated ??= await StartHostAsync(new Dictionary<string, string?>
            {
                ["Chat:OrgProviderPrice:InputPerMillion"] = OrgInput.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Chat:OrgProviderPrice:OutputPerMillion"] = OrgOutput.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
        }
        finally
        {
            _ratedStart.Release();
        }
    }

    async Task<IdentityHost> StartHostAsync(IReadOnlyDictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Providers:0:Name"] = "selfhosted",
            ["Providers:0:Kind"] = "OpenAICompatible",
            ["Providers:0:BaseUrl"] = Fake.OpenAiEndpoint.AbsoluteUri,
            // The unpriced model comes first: a request that names no model must not land on it.
            ["Providers:0:Models:0"] = Unpriced,
            ["Providers:0:Models:1"] = Llama,
            ["Providers:0:Models:2"] = "gpt-4o-mini",
            ["Providers:0:Prices:0:Model"] = Llama,
            ["Providers:0:Prices:0:InputPerMillion"] = LlamaInput.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Providers:0:Prices:0:OutputPerMillion"] = LlamaOutput.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Providers:0:Prices:1:Model"] = "GPT-4o-mini",
            ["Providers:0:Prices:1:InputPerMillion"] = "0.5",
            ["Providers:0:Prices:1:OutputPerMillion"] = "1.25",
            ["Providers:1:Name"] = "private",
            ["Providers:1:Kind"] = "OpenAICompatible",
            ["Providers:1:BaseUrl"] = Fake.OpenAiEndpoint.AbsoluteUri,
            ["Providers:1:Models:0"] = Private,
            ["Providers:1:DefaultPrice:InputPerMillion"] = "0",
            ["Providers:1:DefaultPrice:OutputPerMillion"] = "0",
            ["Chat:Retry:MaxAttempts"] = "1",
            ["Chat:CircuitBreaker:MinimumThroughput"] = "1000",
        };
        foreach (var (key, value) in extra)
            settings[key] = value;
        var host = await IdentityHost.StartAsync(provider, settings);
        host.App.UseKestrel(0);
        host.App.StartServer();
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_rated is not null)
            await _rated.DisposeAsync();
        _ratedStart.Dispose();
        await Host.DisposeAsync();
        await Fake.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteSelfHostedFixture() : SelfHostedFixture("Sqlite");

public sealed class PostgresSelfHostedFixture() : SelfHostedFixture("Postgres");

/// <summary>
/// The first hour of a new user on a deployment of self-hosted models: sign up, find the General workspace, ask, and
/// be answered at the price the operator set, or refused clearly when nothing prices the model.
/// </summary>
public abstract class FirstAnswerTests(SelfHostedFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;

    sealed record Start(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId);

    /// <summary>A new user through the API alone, in the personal org's General workspace, which sign-up made.</summary>
    static async Task<Start> SignUpAsync(IdentityHost host)
    {
        var client = host.App.CreateClient();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var workspaces = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        var general = Assert.Single(workspaces.EnumerateArray());
        Assert.Equal("General", general.GetProperty("name").GetString());
        return new Start(client, owner, orgId, general.GetProperty("id").GetGuid());
    }

    static async Task<HttpResponseMessage> AskAsync(Start start, string? model)
    {
        var conversation = await SendAsync(start.Client, start.Owner, HttpMethod.Post,
            $"/api/orgs/{start.OrgId}/workspaces/{start.WorkspaceId}/conversations", new { }, HttpStatusCode.Created);
        var path = $"/api/orgs/{start.OrgId}/workspaces/{start.WorkspaceId}/conversations/{conversation.GetProperty("id").GetGuid()}/messages";
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(new { content = "Hello, who are you?", model }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", start.Owner.AccessToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return await start.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
    }

    /// <summary>The answer's provider, model, tokens and charge, from its events.</summary>
    static async Task<(string Provider, string Model, long Input, long Output, long Cost)> AnsweredAsync(Start start, string? model)
    {
        using var response = await AskAsync(start, model);
        var events = new List<Sse>();
        await foreach (var e in ChatStreamTests.EventsAsync(response))
            events.Add(e);
        var done = events[^1];
        Assert.Equal("done", done.Event);
        Assert.Equal("complete", done.Data.GetProperty("status").GetString());
        var usage = events.Single(e => e.Event == "usage").Data;
        return (done.Data.GetProperty("provider").GetString()!, done.Data.GetProperty("model").GetString()!,
            usage.GetProperty("inputTokens").GetInt64(), usage.GetProperty("outputTokens").GetInt64(), done.Data.GetProperty("costMicros").GetInt64());
    }

    /// <summary>Credits per million tokens are micro-credits per token.</summary>
    static long Charge(long input, long output, long inputPerMillion, long outputPerMillion) => input * inputPerMillion + output * outputPerMillion;

    [Fact]
    public async Task A_new_user_asks_in_General_without_naming_a_model_and_the_priced_model_answers_at_the_settings_price()
    {
        var start = await SignUpAsync(_host);

        var answer = await AnsweredAsync(start, null);

        Assert.Equal(("selfhosted", SelfHostedFixture.Llama), (answer.Provider, answer.Model));
        Assert.True(answer.Input > 0 && answer.Output > 0);
        Assert.Equal(Charge(answer.Input, answer.Output, SelfHostedFixture.LlamaInput, SelfHostedFixture.LlamaOutput), answer.Cost);
        var models = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"/api/orgs/{start.OrgId}/models");
        var chosen = Assert.Single(models.EnumerateArray(), m => m.GetProperty("default").GetBoolean());
        Assert.Equal(SelfHostedFixture.Llama, chosen.GetProperty("id").GetString());
        Assert.Equal((2m, 4m), (chosen.GetProperty("inputPerMillion").GetDecimal(), chosen.GetProperty("outputPerMillion").GetDecimal()));
        await ChatStreamTests.AssertAllSettledAsync(_host, start.OrgId);
    }

    [Fact]
    public async Task A_provider_default_price_of_zero_answers_and_charges_nothing()
    {
        var start = await SignUpAsync(_host);

        var answer = await AnsweredAsync(start, "private/" + SelfHostedFixture.Private);

        Assert.Equal(("private", SelfHostedFixture.Private), (answer.Provider, answer.Model));
        Assert.True(answer.Output > 0);
        Assert.Equal(0, answer.Cost);
        await ChatStreamTests.AssertAllSettledAsync(_host, start.OrgId);
    }

    [Fact]
    public async Task A_model_nothing_prices_is_still_refused_with_503_model_not_priced_naming_the_settings()
    {
        var start = await SignUpAsync(_host);
        var before = fixture.Fake.Requests.Count;

        using var response = await AskAsync(start, SelfHostedFixture.Unpriced);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Equal(ProblemTypes.ModelNotPriced, problem.GetProperty("type").GetString());
        Assert.Contains("Providers:N:Prices", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, fixture.Fake.Requests.Count);
    }

    [Fact]
    public async Task An_admin_price_beats_the_settings_which_beat_the_shipped_list_and_deleting_it_restores_the_settings_price()
    {
        using var client = _host.App.CreateClient();
        var admin = await _host.SuperAdminAsync(client);
        var path = $"/api/admin/prices/selfhosted/{Uri.EscapeDataString(SelfHostedFixture.Llama)}";

        var fromSettings = await ResolveAsync("selfhosted", SelfHostedFixture.Llama);
        var overList = await ResolveAsync("selfhosted", "gpt-4o-mini");
        await SendAsync(client, admin, HttpMethod.Put, path, new { inputPerMillion = 7m, outputPerMillion = 9m });
        var fromAdmin = await ResolveAsync("SelfHosted", SelfHostedFixture.Llama.ToUpperInvariant());
        await SendAsync(client, admin, HttpMethod.Delete, path, expected: HttpStatusCode.NoContent);
        var restored = await ResolveAsync("selfhosted", SelfHostedFixture.Llama);
        var byDefault = await ResolveAsync("private", "anything-else");
        var none = await ResolveAsync("selfhosted", SelfHostedFixture.Unpriced);

        Assert.Equal(new ModelRate(2_000_000, 4_000_000, PriceSources.Settings), fromSettings);
        Assert.Equal(new ModelRate(500_000, 1_250_000, PriceSources.Settings), overList);
        Assert.Equal(new ModelRate(7_000_000, 9_000_000, PriceSources.Admin), fromAdmin);
        Assert.Equal(fromSettings, restored);
        Assert.Equal(new ModelRate(0, 0, PriceSources.ProviderDefault), byDefault);
        Assert.Null(none);
    }

    [Fact]
    public async Task An_orgs_own_provider_named_like_a_vendor_answers_at_the_platform_rate_of_zero_by_default()
    {
        var start = await SignUpAsync(_host);
        await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"/api/orgs/{start.OrgId}/providers",
            new { name = "ollama", kind = "OpenAICompatible", baseUrl = fixture.Fake.OpenAiEndpoint.AbsoluteUri, models = List("qwen2.5:7b") }, HttpStatusCode.Created);

        var answer = await AnsweredAsync(start, "ollama/qwen2.5:7b");

        Assert.Equal(("ollama", "qwen2.5:7b"), (answer.Provider, answer.Model));
        Assert.True(answer.Output > 0);
        Assert.Equal(0, answer.Cost);
        var models = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"/api/orgs/{start.OrgId}/models");
        var own = models.EnumerateArray().Single(m => m.GetProperty("source").GetString() == "org");
        Assert.Equal((0m, 0m), (own.GetProperty("inputPerMillion").GetDecimal(), own.GetProperty("outputPerMillion").GetDecimal()));
        await ChatStreamTests.AssertAllSettledAsync(_host, start.OrgId);
    }

    [Fact]
    public async Task An_orgs_own_provider_is_charged_the_rate_the_operator_set_whatever_its_name_or_kind()
    {
        var host = await fixture.RatedHostAsync();
        var start = await SignUpAsync(host);
        // Named and typed as a vendor whose list prices AiHub ships: the org still pays the vendor, not those prices.
        await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"/api/orgs/{start.OrgId}/providers",
            new { name = "openai", kind = "OpenAI", baseUrl = fixture.Fake.OpenAiEndpoint.AbsoluteUri, apiKey = "sk-org-own", models = List("gpt-4o") }, HttpStatusCode.Created);

        var answer = await AnsweredAsync(start, "openai/gpt-4o");

        Assert.Equal(("openai", "gpt-4o"), (answer.Provider, answer.Model));
        Assert.Equal(Charge(answer.Input, answer.Output, SelfHostedFixture.OrgInput, SelfHostedFixture.OrgOutput), answer.Cost);
        await ChatStreamTests.AssertAllSettledAsync(host, start.OrgId);
    }

    [Fact]
    public async Task A_workspace_default_model_must_be_one_the_org_can_chat_with()
    {
        var start = await SignUpAsync(_host);
        var workspaces = $"/api/orgs/{start.OrgId}/workspaces";

        foreach (var (model, says) in new[] { ("no-such-model", "serves"), (SelfHostedFixture.Unpriced, "has no price") })
        {
            using var created = await start.Client.SendAsync(As(start.Owner, HttpMethod.Post, workspaces, new { name = "Bad " + model, defaultModel = model }), Ct);
            using var patched = await start.Client.SendAsync(As(start.Owner, HttpMethod.Patch, $"{workspaces}/{start.WorkspaceId}", new { defaultModel = model }), Ct);
            foreach (var response in new[] { created, patched })
            {
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                var problem = await ProblemAsync(response);
                Assert.Equal(ProblemTypes.Validation, problem.GetProperty("type").GetString());
                var message = problem.GetProperty("errors").GetProperty("defaultModel")[0].GetString();
                Assert.Contains(says, message, StringComparison.Ordinal);
            }
        }
        var listed = await SendAsync(start.Client, start.Owner, HttpMethod.Get, workspaces);
        Assert.Equal(JsonValueKind.Null, Assert.Single(listed.EnumerateArray()).GetProperty("defaultModel").ValueKind);

        var set = await SendAsync(start.Client, start.Owner, HttpMethod.Patch, $"{workspaces}/{start.WorkspaceId}", new { defaultModel = "private/" + SelfHostedFixture.Private });
        var cleared = await SendAsync(start.Client, start.Owner, HttpMethod.Patch, $"{workspaces}/{start.WorkspaceId}", new { defaultModel = "" });
        Assert.Equal("private/" + SelfHostedFixture.Private, set.GetProperty("defaultModel").GetString());
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("defaultModel").ValueKind);
    }

    [Fact]
    public async Task An_org_made_through_the_API_starts_with_its_General_workspace_and_answers_at_once()
    {
        var start = await SignUpAsync(_host);
        var orgId = await CreateOrgAsync(start.Client, start.Owner, "Team " + Guid.NewGuid().ToString("N")[..6]);

        var general = Assert.Single((await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces")).EnumerateArray());
        // A new team org holds no credits yet: the free private model answers.
        var answer = await AnsweredAsync(start with { OrgId = orgId, WorkspaceId = general.GetProperty("id").GetGuid() }, "private/" + SelfHostedFixture.Private);

        Assert.Equal("General", general.GetProperty("name").GetString());
        Assert.Equal((SelfHostedFixture.Private, 0L), (answer.Model, answer.Cost));
    }

    [Fact]
    public async Task An_org_left_without_a_workspace_gets_General_again_once_when_chat_starts()
    {
        var start = await SignUpAsync(_host);
        await SendAsync(start.Client, start.Owner, HttpMethod.Delete, $"/api/orgs/{start.OrgId}/workspaces/{start.WorkspaceId}", expected: HttpStatusCode.NoContent);
        var userId = UserIdOf(start.Owner);

        var made = await FirstWorkspaceAsync(start.OrgId, userId);
        var again = await FirstWorkspaceAsync(start.OrgId, userId);

        var general = Assert.Single((await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"/api/orgs/{start.OrgId}/workspaces")).EnumerateArray());
        Assert.Equal(("General", made), (general.GetProperty("name").GetString(), (Guid?)general.GetProperty("id").GetGuid()));
        Assert.Equal(made, again);
        Assert.NotEqual(start.WorkspaceId, made);
    }

    /// <summary>What the /chat page does for the signed-in user.</summary>
    async Task<Guid?> FirstWorkspaceAsync(Guid orgId, Guid userId)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        var grant = await scope.ServiceProvider.GetRequiredService<AiHub.Organizations.OrgAccess>().GetAsync(orgId, userId, Ct);
        return await scope.ServiceProvider.GetRequiredService<AiHub.Organizations.Workspaces>().FirstAsync(grant!, userId, Ct);
    }

    async Task<ModelRate?> ResolveAsync(string provider, string model)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<PriceCatalog>().ResolveAsync(provider, model, Ct);
    }
}

public sealed class FirstAnswerOnSqlite(SqliteSelfHostedFixture fixture) : FirstAnswerTests(fixture), IClassFixture<SqliteSelfHostedFixture>;

public sealed class FirstAnswerOnPostgres(PostgresSelfHostedFixture fixture) : FirstAnswerTests(fixture), IClassFixture<PostgresSelfHostedFixture>;
