using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// What a client gets wrong reaches /v1 as it would reach OpenAI or Anthropic: a clear 4xx in that format's own error
/// shape, and nothing is charged, held, recorded or sent to a provider.
/// </summary>
public abstract class GatewayBadInputTests(SdkFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;

    public const string OpenAi = "openai";
    public const string Anthropic = "anthropic";

    /// <summary>Anthropic's format with the key as a bearer token, as some of its SDKs send it.</summary>
    public const string AnthropicBearer = "anthropic-bearer";

    public static TheoryData<string, string, int> Cases
    {
        get
        {
            var cases = new TheoryData<string, string, int>();
            foreach (var format in new[] { OpenAi, Anthropic, AnthropicBearer })
            {
                cases.Add(format, "malformed JSON", 400);
                cases.Add(format, "a field of the wrong type", 400);
                cases.Add(format, "a 10 MB message", 413);
                cases.Add(format, "an unknown model", 404);
                cases.Add(format, "empty messages", 400);
                cases.Add(format, "a revoked key", 401);
                cases.Add(format, "an expired key", 401);
            }
            cases.Add(OpenAi, "n>1", 400);
            return cases;
        }
    }

    static string Path(string format) => format == OpenAi ? "/v1/chat/completions" : "/v1/messages";

    static string Shape(string format) => format == OpenAi ? OpenAi : Anthropic;

    static Dictionary<string, object?> ValidBody(string format) => format == OpenAi
        ? new() { ["model"] = SdkFixture.Gpt, ["messages"] = new[] { new { role = "user", content = "Hi" } } }
        : new() { ["model"] = SdkFixture.Claude, ["max_tokens"] = 20, ["messages"] = new[] { new { role = "user", content = "Hi" } } };

    static HttpRequestMessage Call(string format, string key, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Path(format)) { Content = content };
        if (format == Anthropic)
            request.Headers.Add("x-api-key", key);
        else
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (format != OpenAi)
            request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    static StringContent Json(Dictionary<string, object?> body) => Json(JsonSerializer.Serialize(body));

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_gets_a_clear_4xx_in_the_format_s_own_shape_and_nothing_is_charged(string format, string @case, int status)
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var key = tenant.Secret;
        var keyId = tenant.KeyId;
        var body = ValidBody(format);
        HttpContent content;
        switch (@case)
        {
            case "malformed JSON":
                content = Json(format == OpenAi ? """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}""" : """{"model":"x", max_tokens: 20}""");
                break;
            case "a field of the wrong type":
                body["max_tokens"] = "twenty";
                content = Json(body);
                break;
            case "a 10 MB message":
                body["messages"] = new[] { new { role = "user", content = new string('a', 10 * 1024 * 1024) } };
                content = Json(body);
                break;
            case "an unknown model":
                body["model"] = "no-such-model-anywhere";
                content = Json(body);
                break;
            case "empty messages":
                body["messages"] = Array.Empty<object>();
                content = Json(body);
                break;
            case "n>1":
                body["n"] = 2;
                content = Json(body);
                break;
            case "a revoked key":
                (keyId, key) = await GatewayTenants.NewKeyAsync(tenant.Client, tenant.Owner, tenant.OrgId);
                await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Delete, $"/api/orgs/{tenant.OrgId}/api-keys/{keyId}", expected: HttpStatusCode.NoContent);
                content = Json(body);
                break;
            case "an expired key":
                var expires = DateTimeOffset.UtcNow.AddSeconds(2);
                (keyId, key) = await GatewayTenants.NewKeyAsync(tenant.Client, tenant.Owner, tenant.OrgId, expiresAt: expires);
                await Task.Delay(expires - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(500), Ct);
                content = Json(body);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(@case), @case, null);
        }
        var upstreamBefore = fixture.Fake.Requests.Count;

        using var client = new HttpClient { BaseAddress = fixture.Root };
        using var call = Call(format, key, content);
        // As curl does for a large body: the server can refuse it before it is sent.
        call.Headers.ExpectContinue = @case == "a 10 MB message";
        using var response = await client.SendAsync(call, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);

        Assert.True((int)response.StatusCode == status, $"{format} {@case}: {(int)response.StatusCode} {text}");
        AssertErrorShape(Shape(format), status, text);
        Assert.Equal(upstreamBefore, fixture.Fake.Requests.Count);
        Assert.Equal((SdkFixture.Funds, 0L), await _host.BalanceAsync(tenant.OrgId));
        Assert.Equal(0, (await _host.HoldsAsync(tenant.OrgId)).All);
        Assert.Empty(await _host.UsageAsync(keyId));
        Assert.Empty(await _host.UsageAsync(tenant.KeyId));
    }

    /// <summary>OpenAI: <c>{"error":{"message","type","param","code"}}</c>. Anthropic: <c>{"type":"error","error":{"type","message"}}</c> with its type per status.</summary>
    internal static void AssertErrorShape(string format, int status, string text)
    {
        var root = JsonDocument.Parse(text).RootElement;
        var error = root.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), text);
        if (format == OpenAi)
        {
            Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("type").GetString()), text);
            Assert.True(error.TryGetProperty("param", out _), text);
            Assert.True(error.TryGetProperty("code", out _), text);
            return;
        }
        Assert.Equal("error", root.GetProperty("type").GetString());
        var expected = status switch
        {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            _ => "api_error",
        };
        Assert.Equal(expected, error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_key_lists_and_reaches_none_of_another_org_s_own_provider_models()
    {
        const string Private = "orgb-private-finetune";
        var a = await GatewayTenants.NewAsync(_host, name: "Org A");
        var b = await GatewayTenants.NewAsync(_host, name: "Org B");
        await SendAsync(b.Client, b.Owner, HttpMethod.Post, $"/api/orgs/{b.OrgId}/providers",
            new { name = "own", kind = "OpenAICompatible", baseUrl = "https://api.provider.test/v1", apiKey = "sk-org-b", models = new[] { Private } }, HttpStatusCode.Created);
        using var client = new HttpClient { BaseAddress = fixture.Root };

        async Task<(HttpStatusCode Status, string Text)> GetAsync(string path, string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var response = await client.SendAsync(request, Ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }

        var listedForB = await GetAsync("/v1/models", b.Secret);
        var listedForA = await GetAsync("/v1/models", a.Secret);
        var oneForA = await GetAsync($"/v1/models/{Private}", a.Secret);
        var upstreamBefore = fixture.Fake.Requests.Count;
        using var chat = await client.SendAsync(Call(OpenAi, a.Secret, Json(new Dictionary<string, object?>
        {
            ["model"] = Private, ["messages"] = new[] { new { role = "user", content = "Hi" } },
        })), Ct);
        using var chatAsProvider = await client.SendAsync(Call(OpenAi, a.Secret, Json(new Dictionary<string, object?>
        {
            ["model"] = "own/" + Private, ["messages"] = new[] { new { role = "user", content = "Hi" } },
        })), Ct);

        static IEnumerable<string> Ids(string text) => JsonDocument.Parse(text).RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!);
        Assert.Equal(HttpStatusCode.OK, listedForB.Status);
        Assert.Contains(Ids(listedForB.Text), id => id.Contains(Private, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, listedForA.Status);
        Assert.DoesNotContain(Ids(listedForA.Text), id => id.Contains(Private, StringComparison.Ordinal));
        Assert.Contains(SdkFixture.Gpt, Ids(listedForA.Text));
        Assert.Equal(HttpStatusCode.NotFound, oneForA.Status);
        AssertErrorShape(OpenAi, 404, oneForA.Text);
        Assert.Equal(HttpStatusCode.NotFound, chat.StatusCode);
        AssertErrorShape(OpenAi, 404, await chat.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.NotFound, chatAsProvider.StatusCode);
        Assert.Equal(upstreamBefore, fixture.Fake.Requests.Count);
        Assert.Equal((SdkFixture.Funds, 0L), await _host.BalanceAsync(a.OrgId));
        Assert.Empty(await _host.UsageAsync(a.KeyId));
    }
}

public sealed class GatewayBadInputTestsOnSqlite(SqliteSdkFixture fixture) : GatewayBadInputTests(fixture), IClassFixture<SqliteSdkFixture>;

public sealed class GatewayBadInputTestsOnPostgres(PostgresSdkFixture fixture) : GatewayBadInputTests(fixture), IClassFixture<PostgresSdkFixture>;
