using System.Net;
using AiHub.Chat.Engine;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Chat.ProviderTestSettings;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Chat;

/// <summary>How a requested model becomes the targets the engine tries: the model, then its fallbacks, each at a provider that serves it.</summary>
public abstract class ModelRouterTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_model_is_followed_by_its_configured_fallbacks_in_order_skipping_models_nobody_serves()
    {
        var (_, _, orgId) = await OrgAsync();

        var chain = await RouteAsync(orgId, "gpt-4o");

        Assert.Equal(["openai/gpt-4o", "anthropic/claude-sonnet-4-20250514", "gemini/gemini-2.0-flash", "backup/gpt-4o"], chain.Select(Name));
        Assert.Equal(["OpenAI", "Anthropic", "Gemini", "OpenAICompatible"], chain.Select(t => t.Kind));
        Assert.Equal(("Claude Sonnet 4", 200_000), (chain[1].DisplayName, chain[1].ContextLength));
        Assert.Equal(ModelCapabilities.Vision | ModelCapabilities.Tools | ModelCapabilities.Streaming, chain[0].Capabilities);
        Assert.NotSame(chain[0].Client, chain[3].Client);
    }

    [Fact]
    public async Task Provider_slash_model_picks_one_provider_when_two_serve_the_same_id_and_has_its_own_fallbacks()
    {
        var (_, _, orgId) = await OrgAsync();

        var backup = await RouteAsync(orgId, "backup/gpt-4o");
        var openai = await RouteAsync(orgId, "OpenAI/GPT-4o");

        Assert.Equal(["backup/gpt-4o", "gemini/gemini-2.0-flash"], backup.Select(Name));
        Assert.Equal("openai/gpt-4o", Name(openai[0]));
        Assert.Equal(4, openai.Count);
    }

    [Fact]
    public async Task No_model_means_the_default_and_an_unknown_one_is_404()
    {
        var (_, _, orgId) = await OrgAsync();

        var chosen = await RouteAsync(orgId, null);
        var unknown = await Assert.ThrowsAsync<ProblemException>(() => RouteAsync(orgId, "gpt-2"));
        var wrongProvider = await Assert.ThrowsAsync<ProblemException>(() => RouteAsync(orgId, "anthropic/gpt-4o"));

        Assert.Equal("openai/gpt-4o-mini", Name(Assert.Single(chosen)));
        Assert.Equal((404, ProblemTypes.ModelNotFound), (unknown.Status, unknown.Type));
        Assert.Equal(404, wrongProvider.Status);
    }

    [Fact]
    public async Task An_orgs_own_provider_serves_a_model_before_the_deployment_and_only_for_that_org()
    {
        var (client, owner, orgId) = await OrgAsync();
        var (_, _, otherOrg) = await OrgAsync();
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "ours", kind = "OpenAICompatible", baseUrl = "http://127.0.0.1:9/v1", models = List("gpt-4o", "our-model") }, HttpStatusCode.Created);

        var ours = await RouteAsync(orgId, "gpt-4o");
        var deployment = await RouteAsync(orgId, "openai/gpt-4o");
        var theirs = await RouteAsync(otherOrg, "gpt-4o");
        var notTheirs = await Assert.ThrowsAsync<ProblemException>(() => RouteAsync(otherOrg, "our-model"));

        Assert.Equal(["ours/gpt-4o", "anthropic/claude-sonnet-4-20250514", "gemini/gemini-2.0-flash", "backup/gpt-4o"], ours.Select(Name));
        Assert.Equal("openai/gpt-4o", Name(deployment[0]));
        Assert.Equal("openai/gpt-4o", Name(theirs[0]));
        Assert.Equal(404, notTheirs.Status);
    }

    [Fact]
    public async Task The_cheap_model_is_the_cheapest_priced_one_the_org_may_use()
    {
        var (_, _, orgId) = await OrgAsync();
        await using var scope = host.App.Services.CreateAsyncScope();

        var cheap = await scope.ServiceProvider.GetRequiredService<IModelRouter>().CheapAsync(orgId, Ct);

        // gemini-2.0-flash costs 10 + 40 credits per million tokens, gpt-4o-mini 15 + 60; unpriced models never count.
        Assert.Equal("gemini/gemini-2.0-flash", Name(cheap!));
    }

    [Fact]
    public async Task A_client_is_built_once_per_provider_and_model()
    {
        var (_, _, orgId) = await OrgAsync();

        var first = await RouteAsync(orgId, "gpt-4o-mini");
        var again = await RouteAsync(orgId, "gpt-4o-mini");

        Assert.Same(first[0].Client, again[0].Client);
    }

    static string Name(ModelTarget t) => $"{t.Provider}/{t.Model}";

    async Task<IReadOnlyList<ModelTarget>> RouteAsync(Guid orgId, string? model)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IModelRouter>().RouteAsync(orgId, model, Ct);
    }

    async Task<(HttpClient Client, AuthTokens Owner, Guid OrgId)> OrgAsync()
    {
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        return (client, owner, await CreateOrgAsync(client, owner, "Routing"));
    }
}

public sealed class ModelRouterTestsOnSqlite(SqliteProviderFixture fixture) : ModelRouterTests(fixture.Host), IClassFixture<SqliteProviderFixture>;

public sealed class ModelRouterTestsOnPostgres(PostgresProviderFixture fixture) : ModelRouterTests(fixture.Host), IClassFixture<PostgresProviderFixture>;
