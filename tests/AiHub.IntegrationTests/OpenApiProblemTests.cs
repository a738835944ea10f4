using System.Net.Http.Json;
using System.Text.Json;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests;

/// <summary>The OpenAPI document lists the problems an endpoint can answer, as ProblemDetails, beside its results.</summary>
public sealed class OpenApiProblemTests
{
    static readonly Lazy<Task<JsonElement>> Paths = new(async () =>
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = AiHubApp.On(database);
        using var client = app.CreateClient();
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        return document.GetProperty("paths").Clone();
    });

    [Fact]
    public async Task The_message_endpoint_lists_its_refusals_and_its_typed_answer()
    {
        var send = Operation(await Paths.Value, "/conversations/{id}/messages", "post");
        var responses = send.GetProperty("responses");

        foreach (var status in new[] { "400", "401", "402", "403", "404", "503" })
            AssertProblem(responses, status);
        Assert.Contains("AnswerResponse", responses.GetProperty("200").GetProperty("content").GetProperty("application/json").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_org_endpoint_and_an_admin_endpoint_list_their_problems()
    {
        var paths = await Paths.Value;
        var members = Operation(paths, "/api/orgs/{orgId}/members", "get").GetProperty("responses");
        foreach (var status in new[] { "401", "403", "404" })
            AssertProblem(members, status);
        var users = Operation(paths, "/api/admin/users", "get").GetProperty("responses");
        foreach (var status in new[] { "401", "403" })
            AssertProblem(users, status);
    }

    static JsonElement Operation(JsonElement paths, string pathEnd, string method) =>
        paths.EnumerateObject().Single(p => p.Name.EndsWith(pathEnd, StringComparison.Ordinal)).Value.GetProperty(method);

    static void AssertProblem(JsonElement responses, string status)
    {
        Assert.True(responses.TryGetProperty(status, out var response), $"no {status} in {responses.GetRawText()}");
        var schema = response.GetProperty("content").GetProperty("application/problem+json").GetProperty("schema");
        Assert.Contains("ProblemDetails", schema.GetRawText(), StringComparison.Ordinal);
    }
}
