using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests;

/// <summary>
/// The API as a client sees it on a real port: every JSON answer matches the OpenAPI document's enums in one casing,
/// unknown paths are 404 problems, and a client generated from the document compiles strictly and works.
/// </summary>
public sealed partial class ApiContractTests(SqliteChatFixture fixture) : IClassFixture<SqliteChatFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;

    /// <summary>GET routes whose parameter no client of this test can know: a token that only arrives by mail.</summary>
    static readonly string[] Unreachable = ["/api/invitations/{token}"];

    static readonly string[] ChatUse = ["chat:use"];

    static readonly string[] CreditsSpend = ["credits:spend"];

    [Fact]
    public async Task Every_json_answer_spells_its_enums_in_camelCase_as_the_document_lists_them()
    {
        var client = _host.App.CreateClient();
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json", Ct);
        var owner = await _host.NewUserAsync(client);
        var admin = await _host.SuperAdminAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var wsId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Enums" });
        var conversationId = await CreateAsync(client, owner, orgId, $"workspaces/{wsId}/conversations", new { title = "Casing" });
        var teamId = await CreateAsync(client, owner, orgId, "teams", new { name = "Team" });
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = ChatUse }, HttpStatusCode.Created);
        var keyId = key.GetProperty("key").GetProperty("id").GetGuid();
        var keySecret = key.GetProperty("secret").GetString()!;
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email = NewEmail("invited"), role = "member" }, HttpStatusCode.Created);
        fixture.Fake.Enqueue(FakeScript.Reply("A short answer."), ChatFixture.Main);
        var answer = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{wsId}/conversations/{conversationId}/messages",
            new { content = "Say something short.", model = ChatFixture.Main });
        var share = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{wsId}/conversations/{conversationId}/share");
        var (kbId, sourceId, uploadId) = await AiHub.IntegrationTests.Knowledge.KnowledgeStart.SeedAsync(client, owner, orgId, wsId);
        var (checkoutId, invoiceId) = await AiHub.IntegrationTests.Billing.BillingSeed.SeedAsync(_host.App.Services, orgId, UserIdOf(owner), Ct);
        var mcpServerId = await CreateAsync(client, owner, orgId, "mcp-servers", new { name = "remote", url = "https://mcp.example.com/mcp" });
        // A finished generation stored directly: this host has no generation provider.
        var generationId = await AiHub.IntegrationTests.Generation.GenerationApi.SeedJobAsync(_host.App.Services, orgId, wsId, UserIdOf(owner));
        var spendKey = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "service", permissions = CreditsSpend },
            HttpStatusCode.Created);
        var spendSecret = spendKey.GetProperty("secret").GetString()!;
        using var holdRequest = WithApiKey(spendSecret, "/api/credits/holds", HttpMethod.Post);
        holdRequest.Content = JsonContent.Create(new { credits = 0.01m, service = "contract-walk", reference = "walk", idempotencyKey = "walk-1" });
        using var holdResponse = await client.SendAsync(holdRequest, Ct);
        Assert.True(holdResponse.IsSuccessStatusCode, $"POST /api/credits/holds answered {(int)holdResponse.StatusCode}: {await holdResponse.Content.ReadAsStringAsync(Ct)}");
        var holdId = (await holdResponse.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        var values = new Dictionary<string, string>
        {
            ["holds/{id}"] = holdId,
            ["generations/{id}"] = generationId.ToString(), ["index"] = "0",
            ["mcp-servers/{id}"] = mcpServerId.ToString(),
            ["checkoutId"] = checkoutId.ToString(), ["invoiceId"] = invoiceId.ToString(),
            ["kbId"] = kbId.ToString(), ["sources/{id}"] = sourceId.ToString(), ["uploadId"] = uploadId.ToString(),
            ["orgId"] = orgId.ToString(), ["wsId"] = wsId.ToString(), ["userId"] = UserIdOf(owner).ToString(),
            ["workspaces/{id}"] = wsId.ToString(), ["conversations/{id}"] = conversationId.ToString(),
            ["teams/{id}"] = teamId.ToString(), ["api-keys/{id}"] = keyId.ToString(), ["models/{id}"] = ChatFixture.Main,
            ["shared-conversations/{token}"] = share.GetProperty("token").GetString()!,
        };

        var problems = new List<string>();
        var shapes = new Shapes(document);
        var sendSchema = Operation(document, "/api/orgs/{orgId}/workspaces/{wsId}/conversations/{id}/messages", "post");
        shapes.Check(answer, JsonSchemaOf(sendSchema), "POST …/messages", problems);
        var walked = 0;
        foreach (var (path, operation) in JsonGets(document))
        {
            if (Unreachable.Contains(path))
                continue;
            var url = Fill(path, values);
            Assert.True(url is not null, $"{path} has a parameter this test cannot fill; add it to the values or to Unreachable.");
            var caller = path.StartsWith("/api/admin", StringComparison.Ordinal) ? admin : owner;
            // The OpenAI-compatible API answers org API keys only.
            // The OpenAI-compatible API answers org API keys only, and so do the credits of outside services.
            using var request = path.StartsWith("/v1/", StringComparison.Ordinal) ? WithApiKey(keySecret, url)
                : path.StartsWith("/api/credits/holds/", StringComparison.Ordinal) ? WithApiKey(spendSecret, url) : As(caller, HttpMethod.Get, url);
            using var response = await client.SendAsync(request, Ct);
            Assert.True(response.IsSuccessStatusCode, $"GET {url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
            if (response.Content.Headers.ContentType?.MediaType != "application/json")
            {
                problems.Add($"GET {path}: documented as JSON, answered {response.Content.Headers.ContentType}");
                continue;
            }
            shapes.Check(await response.Content.ReadFromJsonAsync<JsonElement>(Ct), JsonSchemaOf(operation), "GET " + path, problems);
            walked++;
        }

        Assert.Empty(problems);
        // Floor: the walk covers the document, not a handful of routes.
        Assert.True(walked >= 40, $"only {walked} GET operations were walked");
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("PATCH")]
    [InlineData("DELETE")]
    public async Task An_unknown_api_path_is_a_404_problem_whatever_the_method(string method)
    {
        var client = _host.App.CreateClient();
        foreach (var path in new[] { "/api/nothing-here", "/api/orgs/not-a-guid", $"/api/orgs/{Guid.NewGuid()}/no-such-collection/1" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "GET" ? null : JsonContent.Create(new { }) };
            using var response = await client.SendAsync(request, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path} answered {(int)response.StatusCode}");
            var problem = await ProblemAsync(response);
            Assert.Equal(404, problem.GetProperty("status").GetInt32());
            Assert.Contains(path, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_known_path_with_another_method_is_a_405_problem_that_names_the_methods_it_takes()
    {
        var client = _host.App.CreateClient();
        using var login = await client.DeleteAsync("/api/auth/login", Ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, login.StatusCode);
        Assert.Equal(["POST"], login.Content.Headers.Allow);
        Assert.Equal(405, (await ProblemAsync(login)).GetProperty("status").GetInt32());

        using var org = await client.PostAsJsonAsync($"/api/orgs/{Guid.NewGuid()}", new { }, Ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, org.StatusCode);
        Assert.Equal(["DELETE", "GET", "PATCH"], org.Content.Headers.Allow.Order(StringComparer.Ordinal));
        Assert.Equal(405, (await ProblemAsync(org)).GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task A_client_generated_from_the_document_compiles_strictly_and_chats()
    {
        var client = _host.App.CreateClient();
        var email = await _host.RegisterVerifiedAsync(client);
        fixture.Fake.Enqueue(FakeScript.Reply("Hello from a generated client, answered."), ChatFixture.Main);

        var result = await NodeClients.RunAsync("openapi/generated-client.mjs", [client.BaseAddress!.AbsoluteUri, email, Password, ChatFixture.Main],
            timeout: TimeSpan.FromMinutes(4));

        Assert.True(result.ExitCode == 0, result.ToString());
        var summary = JsonDocument.Parse(result.Stdout.Trim().Split('\n')[^1]).RootElement;
        Assert.True(summary.GetProperty("ok").GetBoolean());
        Assert.Equal(["question", "answer"], summary.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("No such workspace.", summary.GetProperty("problem").GetString());
    }

    static IEnumerable<(string Path, JsonElement Operation)> JsonGets(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject()
            .Where(p => p.Value.TryGetProperty("get", out var get) && JsonSchemaOf(get).ValueKind != JsonValueKind.Undefined)
            .Select(p => (p.Name, p.Value.GetProperty("get")));

    static JsonElement Operation(JsonElement document, string path, string method) => document.GetProperty("paths").GetProperty(path).GetProperty(method);

    static JsonElement JsonSchemaOf(JsonElement operation) =>
        operation.GetProperty("responses").TryGetProperty("200", out var ok) && ok.TryGetProperty("content", out var content)
        && content.TryGetProperty("application/json", out var json) ? json.GetProperty("schema") : default;

    /// <summary>The path with its parameters filled, by the segment before them when the name alone is ambiguous; null when one is unknown.</summary>
    static HttpRequestMessage WithApiKey(string secret, string url, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Get, url);
        request.Headers.Authorization = new("Bearer", secret);
        return request;
    }

    static string? Fill(string path, Dictionary<string, string> values)
    {
        var unknown = false;
        var filled = Parameter().Replace(path, m =>
        {
            var before = path[..m.Index].TrimEnd('/').Split('/')[^1];
            if (values.TryGetValue($"{before}/{m.Value}", out var specific) || values.TryGetValue(m.Groups[1].Value, out specific))
                return specific;
            unknown = true;
            return m.Value;
        });
        return unknown ? null : filled;
    }

    [GeneratedRegex(@"\{(\w+)\}")]
    private static partial Regex Parameter();

    /// <summary>Walks an answer beside its schema in the document: an enum's value must be one the document lists, and no role or status is PascalCase.</summary>
    sealed class Shapes(JsonElement document)
    {
        public void Check(JsonElement value, JsonElement schema, string at, List<string> problems)
        {
            schema = Resolve(schema);
            if (schema.ValueKind != JsonValueKind.Object || value.ValueKind == JsonValueKind.Null)
                return;
            if (schema.TryGetProperty("enum", out var allowed))
            {
                if (!allowed.EnumerateArray().Any(a => a.ToString() == value.ToString()))
                    problems.Add($"{at}: {value.GetRawText()} is not one of {allowed.GetRawText()}");
                return;
            }
            foreach (var combinator in new[] { "oneOf", "anyOf", "allOf" })
                if (schema.TryGetProperty(combinator, out var alternatives))
                    foreach (var alternative in alternatives.EnumerateArray())
                        Check(value, alternative, at, problems);
            if (value.ValueKind == JsonValueKind.Object)
            {
                schema.TryGetProperty("properties", out var properties);
                foreach (var property in value.EnumerateObject())
                {
                    var path = $"{at}.{property.Name}";
                    // An enum the document forgot to call one is still spelt like the others.
                    if (property.Name is "role" or "status" && property.Value.ValueKind == JsonValueKind.String && property.Value.GetString() is [var first, ..] && char.IsUpper(first))
                        problems.Add($"{path}: {property.Value.GetRawText()} is not camelCase");
                    if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(property.Name, out var child))
                        Check(property.Value, child, path, problems);
                }
            }
            else if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
            {
                var i = 0;
                foreach (var item in value.EnumerateArray())
                    Check(item, items, $"{at}[{i++}]", problems);
            }
        }

        JsonElement Resolve(JsonElement schema)
        {
            while (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("$ref", out var reference))
            {
                schema = document;
                foreach (var segment in reference.GetString()!.TrimStart('#', '/').Split('/'))
                    schema = schema.GetProperty(segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal));
            }
            return schema;
        }
    }
}
