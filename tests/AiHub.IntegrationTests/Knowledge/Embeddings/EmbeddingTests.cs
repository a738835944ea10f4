using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Knowledge.Embeddings;

/// <summary>
/// Embeddings from a real small model over the OpenAI wire format, through the deployment's provider settings: meaning
/// comes through, batches keep their order, every batch is one metered call on the ledger, and failures say whether
/// trying again can help.
/// </summary>
public abstract class EmbeddingTests(EmbeddingHost fixture)
{
    const long Credit = 1_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    IdentityHost Host => fixture.Host;

    [Fact]
    public async Task A_question_is_nearer_to_the_text_that_answers_it_than_to_an_unrelated_one()
    {
        var payer = await PayerAsync(100);
        var vectors = await EmbedAsync(payer.Spender, TestEmbeddings.ModelId,
            ["How do I reset my password?", "Steps to change a forgotten password", "Our office is closed on Sunday"], NewKey());

        var (near, far) = (Dot(vectors[0], vectors[1]), Dot(vectors[0], vectors[2]));

        Assert.All(vectors, v => Assert.Equal(512, v.Length));
        Assert.All(vectors, v => Assert.Equal(1.0, Dot(v, v), 4));
        Assert.True(near > far + 0.1, $"similarity to the answer {near:F3}, to the unrelated text {far:F3}");
    }

    [Fact]
    public async Task More_texts_than_a_batch_are_sent_in_batches_and_come_back_in_their_order()
    {
        var payer = await PayerAsync(100);
        var texts = Enumerable.Range(1, EmbeddingHost.BatchSize * 2 + 2).Select(Sentence).ToList();
        var key = NewKey();

        var together = await EmbedAsync(payer.Spender, TestEmbeddings.ModelId, texts, key);
        var alone = new List<float[]>();
        foreach (var text in texts)
            alone.Add((await EmbedAsync(payer.Spender, TestEmbeddings.ModelId, [text], NewKey()))[0]);
        var batches = await UsageAsync(key);

        Assert.Equal(texts.Count, together.Count);
        Assert.All(Enumerable.Range(0, texts.Count), i => Assert.Equal(1.0, Dot(together[i], alone[i]), 3));
        Assert.Equal([$"{key}:0", $"{key}:1", $"{key}:2"], batches.Select(r => r.IdempotencyKey));
    }

    [Fact]
    public async Task Each_batch_is_charged_once_at_the_tokens_the_provider_reported_and_the_same_call_key_again_charges_nothing()
    {
        var payer = await PayerAsync(100);
        var texts = Enumerable.Range(1, EmbeddingHost.BatchSize + 1).Select(Sentence).ToList();
        var key = NewKey();
        var before = await Host.BalanceAsync(payer.PoolId);

        await EmbedAsync(payer.Spender, TestEmbeddings.ModelId, texts, key);
        var charged = await Host.BalanceAsync(payer.PoolId);
        var records = await UsageAsync(key);
        var entries = await Host.EntryCountAsync(payer.PoolId);
        await EmbedAsync(payer.Spender, TestEmbeddings.ModelId, texts, key);
        var again = await Host.BalanceAsync(payer.PoolId);

        var reported = new[] { await ReportedTokensAsync(texts[..EmbeddingHost.BatchSize]), await ReportedTokensAsync(texts[EmbeddingHost.BatchSize..]) };
        Assert.Equal(reported, records.Select(r => r.InputTokens));
        // 1,000 credits per million tokens is 1,000 micro-credits a token.
        Assert.Equal(reported.Select(t => t * 1_000), records.Select(r => r.CostMicros));
        Assert.All(records, r => Assert.Equal((TestEmbeddings.Provider, TestEmbeddings.Model, UsageStatus.Succeeded), (r.Provider, r.Model, r.Status)));
        Assert.Equal((before.Balance - records.Sum(r => r.CostMicros), 0L), charged);
        Assert.Equal(charged, again);
        Assert.Equal(entries, await Host.EntryCountAsync(payer.PoolId));
        Assert.Equal(records.Count, (await UsageAsync(key)).Count);
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_payer_without_credits_gets_the_gates_402_and_nothing_is_held_or_recorded()
    {
        var payer = await PayerAsync(0);
        var key = NewKey();

        var refused = await Assert.ThrowsAsync<ProblemException>(() => EmbedAsync(payer.Spender, TestEmbeddings.ModelId, ["Anything at all"], key));

        Assert.Equal((402, ProblemTypes.InsufficientCredits), (refused.Status, refused.Type));
        Assert.Equal((0L, 0L), await Host.BalanceAsync(payer.PoolId));
        Assert.Empty(await UsageAsync(key));
    }

    [Fact]
    public async Task A_model_the_deployment_does_not_declare_is_a_400_on_embeddingModel_listing_the_ones_it_does()
    {
        var payer = await PayerAsync(100);

        var refused = await Assert.ThrowsAsync<ProblemException>(() => EmbedAsync(payer.Spender, "local/text-embedding-3-small", ["Anything"], NewKey()));

        Assert.Equal(400, refused.Status);
        var message = Assert.Single(refused.Errors![EmbeddingModels.Field]);
        Assert.Contains(TestEmbeddings.ModelId, message);
        Assert.Contains("down/use-lite", message);
    }

    [Fact]
    public async Task A_provider_that_cannot_be_reached_is_a_transient_failure_and_its_hold_is_given_back()
    {
        var payer = await PayerAsync(100);
        var before = await Host.BalanceAsync(payer.PoolId);
        var key = NewKey();

        var failed = await Assert.ThrowsAsync<IngestionException>(() => EmbedAsync(payer.Spender, "down/use-lite", ["Anything"], key));

        Assert.True(failed.Transient);
        Assert.Contains("down/use-lite", failed.Message);
        Assert.Equal(before, await Host.BalanceAsync(payer.PoolId));
        Assert.Equal((UsageStatus.Failed, 0L), (await UsageAsync(key)).Select(r => (r.Status, r.CostMicros)).Single());
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_provider_that_refuses_the_model_is_a_final_failure_whose_message_keeps_the_providers_words_out()
    {
        var payer = await PayerAsync(100);
        var before = await Host.BalanceAsync(payer.PoolId);

        var failed = await Assert.ThrowsAsync<IngestionException>(() => EmbedAsync(payer.Spender, $"{TestEmbeddings.Provider}/{EmbeddingHost.Unserved}", ["Anything"], NewKey()));

        Assert.False(failed.Transient);
        Assert.Contains("HTTP 404", failed.Message);
        Assert.DoesNotContain("does not exist", failed.Message);
        Assert.DoesNotContain("127.0.0.1", failed.Message);
        Assert.Equal(before, await Host.BalanceAsync(payer.PoolId));
    }

    async Task<IReadOnlyList<float[]>> EmbedAsync(Spender spender, string model, IReadOnlyList<string> texts, string key) =>
        await Host.App.Services.GetRequiredService<KnowledgeEmbedder>().EmbedAsync(spender, model, texts, key, Ct);

    /// <summary>A member of a new org whose pool holds <paramref name="credits"/>.</summary>
    async Task<(Spender Spender, Guid PoolId)> PayerAsync(long credits)
    {
        var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Embeddings " + Guid.NewGuid().ToString("N")[..6]);
        var poolId = credits > 0 ? await Host.FundPoolAsync(orgId, credits * Credit) : await PoolIdAsync(orgId);
        return (new Spender(orgId, UserIdOf(owner), null, null), poolId);
    }

    async Task<Guid> PoolIdAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<AiHub.Credits.Ledger>().OpenAsync(AiHub.Credits.CreditOwner.Organization, null, orgId, Ct)).Id;
    }

    async Task<List<UsageRecord>> UsageAsync(string key)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking()
            .Where(r => r.IdempotencyKey.StartsWith(key + ":")).OrderBy(r => r.IdempotencyKey).ToListAsync(Ct);
    }

    /// <summary>What the server itself reports for these texts in one request.</summary>
    static async Task<long> ReportedTokensAsync(IReadOnlyList<string> texts)
    {
        using var http = new HttpClient();
        var response = await http.PostAsJsonAsync(await TestEmbeddings.EndpointAsync() + "/embeddings", new { model = TestEmbeddings.Model, input = texts }, Ct);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return body.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt64();
    }

    static string Sentence(int i) => string.Create(CultureInfo.InvariantCulture,
        $"Note {i}: the {(i % 2 == 0 ? "invoice" : "meeting")} number {i * 7} was moved to room {i + 3} on floor {i % 5}.");

    static string NewKey() => $"embed-test:{Guid.NewGuid():N}";

    static double Dot(float[] a, float[] b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
            sum += (double)a[i] * b[i];
        return sum;
    }
}

/// <summary>
/// A host whose providers are the test embedding server (<c>local</c>, <c>use-lite</c> at 1,000 credits per million
/// tokens, and a model it does not serve) and <c>down</c>, a provider on a port nothing listens on.
/// </summary>
public abstract class EmbeddingHost(string provider) : IAsyncLifetime
{
    public const int BatchSize = 4;
    public const string Unserved = "not-served";

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var settings = await TestEmbeddings.SettingsAsync(0, inputPerMillion: 1_000);
        settings["Providers:0:EmbeddingModels:1"] = Unserved;
        settings["Providers:0:DefaultPrice:InputPerMillion"] = "0";
        settings["Providers:0:DefaultPrice:OutputPerMillion"] = "0";
        settings["Providers:1:Name"] = "down";
        settings["Providers:1:Kind"] = "OpenAICompatible";
        settings["Providers:1:BaseUrl"] = $"http://127.0.0.1:{ClosedPort()}/v1";
        settings["Providers:1:EmbeddingModels:0"] = TestEmbeddings.Model;
        settings["Providers:1:DefaultPrice:InputPerMillion"] = "1";
        settings["Providers:1:DefaultPrice:OutputPerMillion"] = "0";
        settings["Knowledge:EmbeddingBatchSize"] = BatchSize.ToString(CultureInfo.InvariantCulture);
        // The provider pipeline's retries stay on; only their backoff is cut, so a failing provider fails quickly.
        settings["Chat:Retry:BaseDelay"] = "00:00:00.010";
        Host = await IdentityHost.StartAsync(provider, settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    static int ClosedPort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public sealed class SqliteEmbeddingHost() : EmbeddingHost("Sqlite");

public sealed class PostgresEmbeddingHost() : EmbeddingHost("Postgres");

public sealed class EmbeddingsOnSqlite(SqliteEmbeddingHost fixture) : EmbeddingTests(fixture), IClassFixture<SqliteEmbeddingHost>;

public sealed class EmbeddingsOnPostgres(PostgresEmbeddingHost fixture) : EmbeddingTests(fixture), IClassFixture<PostgresEmbeddingHost>;
