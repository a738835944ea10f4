using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// What an org API key may call on <c>/v1</c> besides chat: the models it may use, in OpenAI's and Anthropic's list
/// shapes, and embeddings in OpenAI's shape over the knowledge bases' metered embedder; with its tokens a minute.
/// </summary>
public abstract class GatewayKeysTests(GatewayKeysHost fixture)
{
    const long Credit = 1_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    IdentityHost Host => fixture.Host;

    static readonly string[] ChatUse = ["chat:use"];
    static readonly string[] WorkspacesRead = ["workspaces:read"];

    [Fact]
    public async Task The_model_list_holds_the_priced_models_of_the_keys_org_by_id_and_by_provider_where_two_serve_one()
    {
        var (client, _, _, secret, _) = await KeyAsync(ChatUse);

        using var response = await client.SendAsync(WithKey(secret, HttpMethod.Get, "/v1/models"), Ct);
        var body = await JsonAsync(response);
        var data = body.GetProperty("data").EnumerateArray().ToList();
        var ids = data.Select(m => m.GetProperty("id").GetString()).ToList();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("list", body.GetProperty("object").GetString());
        Assert.Equal(["gpt-4o-mini", "alpha/gpt-4o-mini", "beta/gpt-4o-mini", "claude-sonnet-4"], ids);
        Assert.All(data, m => Assert.Equal("model", m.GetProperty("object").GetString()));
        Assert.All(data, m => Assert.True(m.GetProperty("created").GetInt64() > 1_700_000_000));
        Assert.Equal(["alpha", "alpha", "beta", "beta"], data.Select(m => m.GetProperty("owned_by").GetString()));
        Assert.DoesNotContain(GatewayKeysHost.Unpriced, ids);
    }

    [Fact]
    public async Task An_anthropic_client_gets_anthropics_list_shape_and_pages_with_after_id()
    {
        var (client, _, _, secret, _) = await KeyAsync(ChatUse);

        using var first = await client.SendAsync(Anthropic(WithKey(secret, HttpMethod.Get, "/v1/models?limit=3")), Ct);
        var page = await JsonAsync(first);
        using var rest = await client.SendAsync(Anthropic(WithKey(secret, HttpMethod.Get, $"/v1/models?limit=3&after_id={page.GetProperty("last_id").GetString()}")), Ct);
        var next = await JsonAsync(rest);
        using var one = await client.SendAsync(Anthropic(WithKey(secret, HttpMethod.Get, "/v1/models/claude-sonnet-4")), Ct);
        var model = await JsonAsync(one);

        Assert.Equal(["gpt-4o-mini", "alpha/gpt-4o-mini", "beta/gpt-4o-mini"], page.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.True(page.GetProperty("has_more").GetBoolean());
        Assert.Equal("gpt-4o-mini", page.GetProperty("first_id").GetString());
        Assert.Equal(["claude-sonnet-4"], next.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.False(next.GetProperty("has_more").GetBoolean());
        Assert.Equal(("model", "claude-sonnet-4", "Claude Sonnet 4"),
            (model.GetProperty("type").GetString(), model.GetProperty("id").GetString(), model.GetProperty("display_name").GetString()));
        Assert.True(model.GetProperty("created_at").GetDateTimeOffset() > new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public async Task One_model_is_found_by_id_or_provider_and_id_and_any_other_is_404()
    {
        var (client, _, _, secret, _) = await KeyAsync(ChatUse);

        using var bare = await client.SendAsync(WithKey(secret, HttpMethod.Get, "/v1/models/GPT-4o-mini"), Ct);
        using var named = await client.SendAsync(WithKey(secret, HttpMethod.Get, "/v1/models/beta/gpt-4o-mini"), Ct);
        using var unpriced = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/v1/models/{GatewayKeysHost.Unpriced}"), Ct);
        using var unknown = await client.SendAsync(WithKey(secret, HttpMethod.Get, "/v1/models/gpt-9"), Ct);
        var namedBody = await JsonAsync(named);

        Assert.Equal(HttpStatusCode.OK, bare.StatusCode);
        Assert.Equal("gpt-4o-mini", (await JsonAsync(bare)).GetProperty("id").GetString());
        Assert.Equal(("beta/gpt-4o-mini", "beta"), (namedBody.GetProperty("id").GetString(), namedBody.GetProperty("owned_by").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, unpriced.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("gpt-9", await unknown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_need_a_valid_key_with_chat_use()
    {
        var (client, _, _, secret, _) = await KeyAsync(WorkspacesRead);

        using var without = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/models"), Ct);
        using var wrong = await client.SendAsync(WithKey("ahk_abcdefgh_" + new string('A', 43), HttpMethod.Get, "/v1/models"), Ct);
        using var narrow = await client.SendAsync(WithKey(secret, HttpMethod.Get, "/v1/models"), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        // Every /v1 endpoint names what is wrong with the key, not only the chat ones.
        Assert.Contains("unknown", await wrong.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, narrow.StatusCode);
        Assert.Contains("chat:use", await narrow.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_x_api_key_header_works_like_a_bearer_key_and_a_bad_one_is_401()
    {
        var (client, _, orgId, secret, _) = await KeyAsync(["chat:use", "workspaces:read"]);

        using var models = await client.SendAsync(WithHeaderKey(secret, HttpMethod.Get, "/v1/models"), Ct);
        using var workspaces = await client.SendAsync(WithHeaderKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var unknown = await client.SendAsync(WithHeaderKey("ahk_abcdefgh_" + new string('A', 43), HttpMethod.Get, "/v1/models"), Ct);
        using var notAKey = await client.SendAsync(WithHeaderKey("sk-not-ours", HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var badBearer = await client.SendAsync(WithKey("ahk_abcdefgh_" + new string('A', 43), HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);

        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal(HttpStatusCode.OK, workspaces.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, notAKey.StatusCode);
        Assert.Contains("not an AiHub API key", await notAKey.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, badBearer.StatusCode);
    }

    [Fact]
    public async Task Embeddings_come_back_as_floats_or_as_base64_of_the_same_floats_and_are_charged_to_the_key()
    {
        var (client, owner, orgId, secret, keyId) = await KeyAsync(ChatUse);
        var poolId = await Host.FundPoolAsync(orgId, 100 * Credit);
        string[] input = ["How do I reset my password?", "Our office is closed on Sunday"];

        using var floats = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input }), Ct);
        var asFloats = await JsonAsync(floats);
        using var base64 = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.ModelId, input, encoding_format = "base64" }), Ct);
        var asBase64 = await JsonAsync(base64);
        var records = await UsageAsync(keyId);

        Assert.Equal(HttpStatusCode.OK, floats.StatusCode);
        Assert.Equal(("list", TestEmbeddings.Model), (asFloats.GetProperty("object").GetString(), asFloats.GetProperty("model").GetString()));
        var vectors = asFloats.GetProperty("data").EnumerateArray().Select(d => d.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToList();
        Assert.Equal([0, 1], asFloats.GetProperty("data").EnumerateArray().Select(d => d.GetProperty("index").GetInt32()));
        Assert.All(asFloats.GetProperty("data").EnumerateArray(), d => Assert.Equal("embedding", d.GetProperty("object").GetString()));
        Assert.All(vectors, v => Assert.Equal(512, v.Length));
        Assert.All(vectors, v => Assert.Equal(1.0, v.Sum(x => (double)x * x), 4));
        var decoded = asBase64.GetProperty("data").EnumerateArray().Select(d => Decode(d.GetProperty("embedding").GetString()!)).ToList();
        Assert.Equal(HttpStatusCode.OK, base64.StatusCode);
        Assert.All(decoded.Zip(vectors), pair => Assert.Equal(pair.Second, pair.First));

        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.Equal((UsageStatus.Succeeded, orgId, TestEmbeddings.Model), (r.Status, r.OrganizationId, r.Model)));
        var tokens = asFloats.GetProperty("usage").GetProperty("prompt_tokens").GetInt64();
        Assert.True(tokens > 0);
        Assert.Equal(tokens, asFloats.GetProperty("usage").GetProperty("total_tokens").GetInt64());
        Assert.Equal([tokens, tokens], records.Select(r => r.InputTokens));
        // 1,000 credits per million tokens is 1,000 micro-credits a token.
        Assert.Equal((100 * Credit - 2 * tokens * 1_000, 0L), await Host.BalanceAsync(poolId));
        Assert.Empty(await Host.VerifyLedgerAsync());
        _ = owner;
    }

    [Fact]
    public async Task Bad_embedding_requests_are_clear_4xx_and_charge_nothing()
    {
        var (client, _, orgId, secret, keyId) = await KeyAsync(ChatUse);
        var poolId = await Host.FundPoolAsync(orgId, 100 * Credit);
        var tooMany = Enumerable.Repeat("word", 2049).ToArray();
        var tooLong = string.Join(' ', Enumerable.Range(0, 9_000).Select(i => i.ToString(CultureInfo.InvariantCulture)));
        string[] empty = ["fine", ""];
        int[][] tokenArrays = [[1, 2, 3]];

        var cases = new (object Body, HttpStatusCode Status, string Field)[]
        {
            (new { model = TestEmbeddings.Model, input = empty }, HttpStatusCode.BadRequest, "input[1]"),
            (new { model = TestEmbeddings.Model, input = tooMany }, HttpStatusCode.BadRequest, "input"),
            (new { model = TestEmbeddings.Model, input = tooLong }, HttpStatusCode.BadRequest, "input[0]"),
            (new { model = TestEmbeddings.Model, input = tokenArrays }, HttpStatusCode.BadRequest, "input"),
            (new { model = TestEmbeddings.Model, input = "hi", encoding_format = "int8" }, HttpStatusCode.BadRequest, "encoding_format"),
            (new { model = TestEmbeddings.Model, input = 42 }, HttpStatusCode.BadRequest, "input"),
            (new { input = "hi" }, HttpStatusCode.BadRequest, "model"),
            (new { model = "text-embedding-9", input = "hi" }, HttpStatusCode.NotFound, "use-lite"),
        };
        foreach (var (body, status, field) in cases)
        {
            using var response = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", body), Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == status, $"{JsonSerializer.Serialize(body)[..Math.Min(80, JsonSerializer.Serialize(body).Length)]}: {(int)response.StatusCode} {text}");
            Assert.Contains(field, text, StringComparison.Ordinal);
        }
        using var malformed = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", "{\"model\": "), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal((100 * Credit, 0L), await Host.BalanceAsync(poolId));
        Assert.Empty(await UsageAsync(keyId));
    }

    [Fact]
    public async Task Dimensions_are_refused_unless_they_are_the_models_own_and_once_known_before_any_charge()
    {
        var (client, _, orgId, secret, keyId) = await KeyAsync(ChatUse);
        var poolId = await Host.FundPoolAsync(orgId, 100 * Credit);

        using var same = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "hello", dimensions = 512 }), Ct);
        var after = await Host.BalanceAsync(poolId);
        using var shorter = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "hello", dimensions = 256 }), Ct);

        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, shorter.StatusCode);
        Assert.Contains("512", await shorter.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(after, await Host.BalanceAsync(poolId));
        Assert.Single(await UsageAsync(keyId));
    }

    [Fact]
    public async Task A_key_over_its_tokens_a_minute_is_told_when_to_come_back_and_is_not_charged()
    {
        var (client, owner, orgId, secret, keyId) = await KeyAsync(ChatUse, tokensPerMinute: 5);
        var poolId = await Host.FundPoolAsync(orgId, 100 * Credit);

        using var first = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "one two three four five six seven" }), Ct);
        var charged = await Host.BalanceAsync(poolId);
        using var second = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "one" }), Ct);
        var listed = (await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys")).EnumerateArray().Single(k => k.GetProperty("id").GetGuid() == keyId);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal((HttpStatusCode)429, second.StatusCode);
        Assert.True(second.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Contains("tokens a minute", await second.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(charged, await Host.BalanceAsync(poolId));
        Assert.Single(await UsageAsync(keyId));
        Assert.Equal(5, listed.GetProperty("tokensPerMinute").GetInt32());
    }

    [Fact]
    public async Task Token_limits_are_validated_and_can_be_changed_and_the_change_applies_at_once()
    {
        using var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Limits " + Guid.NewGuid().ToString("N")[..6]);
        await Host.FundPoolAsync(orgId, 100 * Credit);

        var zero = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = ChatUse, tokensPerMinute = 0 }, HttpStatusCode.BadRequest);
        var huge = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = ChatUse, tokensPerMinute = 100_000_001 }, HttpStatusCode.BadRequest);
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = ChatUse, tokensPerMinute = 1 }, HttpStatusCode.Created);
        var (keyId, secret) = (created.GetProperty("key").GetProperty("id").GetGuid(), created.GetProperty("secret").GetString()!);
        using var spend = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "one two" }), Ct);
        using var refused = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "one" }), Ct);
        var badLimits = await SendAsync(client, owner, HttpMethod.Put, $"/api/orgs/{orgId}/api-keys/{keyId}/limits", new { tokensPerMinute = -3 }, HttpStatusCode.BadRequest);
        var changed = await SendAsync(client, owner, HttpMethod.Put, $"/api/orgs/{orgId}/api-keys/{keyId}/limits", new { rateLimitPerMinute = 50, tokensPerMinute = 1_000_000 });
        using var allowed = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "one" }), Ct);

        Assert.True(zero.GetProperty("errors").TryGetProperty("tokensPerMinute", out _));
        Assert.True(huge.GetProperty("errors").TryGetProperty("tokensPerMinute", out _));
        Assert.True(badLimits.GetProperty("errors").TryGetProperty("tokensPerMinute", out _));
        Assert.Equal(1, created.GetProperty("key").GetProperty("tokensPerMinute").GetInt32());
        Assert.Equal(HttpStatusCode.OK, spend.StatusCode);
        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Assert.Equal((50, 1_000_000), (changed.GetProperty("rateLimitPerMinute").GetInt32(), changed.GetProperty("tokensPerMinute").GetInt32()));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        await using var scope = Host.App.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<AppDbContext>().ApiKeys.IgnoreQueryFilters().SingleAsync(k => k.Id == keyId, Ct);
        Assert.Equal((50, 1_000_000), (stored.RateLimitPerMinute, stored.TokensPerMinute));
        Assert.Contains("api_key.limits_changed", await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEvents
            .Where(e => e.OrganizationId == orgId).Select(e => e.Kind).ToListAsync(Ct));
    }

    [Fact]
    public async Task The_orgs_usage_splits_spend_by_key_with_key_names_and_no_secrets()
    {
        var (client, owner, orgId, secret, keyId) = await KeyAsync(ChatUse);
        await Host.FundPoolAsync(orgId, 100 * Credit);
        using var embedded = await client.SendAsync(WithKey(secret, HttpMethod.Post, "/v1/embeddings", new { model = TestEmbeddings.Model, input = "spend by key" }), Ct);

        var usage = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage?groupBy=key");
        using var csv = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage.csv?groupBy=key"), Ct);
        var csvText = await csv.Content.ReadAsStringAsync(Ct);
        var row = Assert.Single(usage.GetProperty("rows").EnumerateArray());

        Assert.Equal(HttpStatusCode.OK, embedded.StatusCode);
        Assert.Equal((keyId, "ci"), (row.GetProperty("apiKeyId").GetGuid(), row.GetProperty("apiKeyName").GetString()));
        Assert.True(row.GetProperty("costMicros").GetInt64() > 0);
        Assert.Equal(1, row.GetProperty("requests").GetInt64());
        Assert.StartsWith("api_key_id,api_key_name,requests", csvText, StringComparison.Ordinal);
        Assert.Contains($"{keyId},ci,1,", csvText, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, usage.ToString() + csvText, StringComparison.Ordinal);
    }

    /// <summary>A new org of a new owner, with a key named <c>ci</c> holding <paramref name="permissions"/>.</summary>
    async Task<(HttpClient Client, AuthTokens Owner, Guid OrgId, string Secret, Guid KeyId)> KeyAsync(string[] permissions, int? tokensPerMinute = null)
    {
        var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Gateway " + Guid.NewGuid().ToString("N")[..6]);
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions, tokensPerMinute }, HttpStatusCode.Created);
        return (client, owner, orgId, created.GetProperty("secret").GetString()!, created.GetProperty("key").GetProperty("id").GetGuid());
    }

    async Task<List<UsageRecord>> UsageAsync(Guid keyId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking()
            .Where(r => r.ApiKeyId == keyId).OrderBy(r => r.IdempotencyKey).ToListAsync(Ct);
    }

    static HttpRequestMessage WithKey(string key, HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, path)
        {
            Content = body switch { null => null, string raw => new StringContent(raw, System.Text.Encoding.UTF8, "application/json"), _ => JsonContent.Create(body) },
        };
        request.Headers.Authorization = new("Bearer", key);
        return request;
    }

    static HttpRequestMessage WithHeaderKey(string key, HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("x-api-key", key);
        return request;
    }

    static HttpRequestMessage Anthropic(HttpRequestMessage request)
    {
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>As the JS SDK decodes it: little-endian float32.</summary>
    static float[] Decode(string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        var floats = new float[bytes.Length / 4];
        for (var i = 0; i < floats.Length; i++)
            floats[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return floats;
    }
}

/// <summary>
/// A host with two chat providers that both serve <c>gpt-4o-mini</c> (<c>alpha</c>, <c>beta</c>), a Claude model on
/// <c>beta</c>, a model nothing prices, and the test embedding server's <c>use-lite</c> at 1,000 credits per million tokens.
/// </summary>
public abstract class GatewayKeysHost(string provider, bool redis = false) : IAsyncLifetime
{
    public const string Unpriced = "mystery-model";

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var settings = await TestEmbeddings.SettingsAsync(2, inputPerMillion: 1_000);
        var nowhere = "http://127.0.0.1:9/v1";
        settings["Providers:0:Name"] = "alpha";
        settings["Providers:0:Kind"] = "OpenAICompatible";
        settings["Providers:0:BaseUrl"] = nowhere;
        settings["Providers:0:Models:0"] = "gpt-4o-mini";
        settings["Providers:0:Models:1"] = Unpriced;
        settings["Providers:0:Prices:0:Model"] = "gpt-4o-mini";
        settings["Providers:0:Prices:0:InputPerMillion"] = "1";
        settings["Providers:0:Prices:0:OutputPerMillion"] = "2";
        settings["Providers:1:Name"] = "beta";
        settings["Providers:1:Kind"] = "OpenAICompatible";
        settings["Providers:1:BaseUrl"] = nowhere;
        settings["Providers:1:Models:0"] = "gpt-4o-mini";
        settings["Providers:1:Models:1"] = "claude-sonnet-4";
        settings["Providers:1:DefaultPrice:InputPerMillion"] = "3";
        settings["Providers:1:DefaultPrice:OutputPerMillion"] = "4";
        if (redis)
            settings["Redis:ConnectionString"] = TestEnvironment.Redis;
        Host = await IdentityHost.StartAsync(provider, settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteGatewayKeysHost() : GatewayKeysHost("Sqlite");

public sealed class PostgresGatewayKeysHost() : GatewayKeysHost("Postgres");

public sealed class GatewayKeysOnSqlite(SqliteGatewayKeysHost fixture) : GatewayKeysTests(fixture), IClassFixture<SqliteGatewayKeysHost>;

public sealed class GatewayKeysOnPostgres(PostgresGatewayKeysHost fixture) : GatewayKeysTests(fixture), IClassFixture<PostgresGatewayKeysHost>;
