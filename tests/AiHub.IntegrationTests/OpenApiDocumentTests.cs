using System.Net.Http.Json;
using System.Text.Json;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests;

/// <summary>The OpenAPI document says what the API does: every operation summarised, optional fields optional, numbers as numbers, every body's media type.</summary>
public sealed class OpenApiDocumentTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly Lazy<Task<JsonElement>> Document = new(async () =>
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = AiHubApp.On(database);
        using var client = app.CreateClient();
        return (await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json")).Clone();
    });

    static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    [Fact]
    public async Task Every_operation_has_a_summary()
    {
        var document = await Document.Value;
        var operations = Operations(document).ToList();
        var missing = operations.Where(o => !o.Operation.TryGetProperty("summary", out var s) || string.IsNullOrWhiteSpace(s.GetString())).Select(o => o.Name).ToList();
        Assert.Empty(missing);
        Assert.True(operations.Count >= 115, $"only {operations.Count} operations");
    }

    [Theory]
    [InlineData("RegisterRequest", "displayName")]
    [InlineData("ConversationRequest", "title")]
    [InlineData("ConversationRequest", "systemPrompt")]
    [InlineData("ConversationRequest", "model")]
    [InlineData("OrgProviderRequest", "baseUrl")]
    [InlineData("OrgProviderRequest", "apiKey")]
    public async Task A_member_that_may_be_null_is_not_required(string schema, string property)
    {
        var type = (await Document.Value).GetProperty("components").GetProperty("schemas").GetProperty(schema);
        Assert.True(type.GetProperty("properties").TryGetProperty(property, out _), $"{schema} has no {property}");
        var required = type.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(e => e.GetString()).ToList() : [];
        Assert.DoesNotContain(property, required);
    }

    [Fact]
    public async Task No_schema_in_the_document_lists_a_nullable_member_as_required()
    {
        var schemas = (await Document.Value).GetProperty("components").GetProperty("schemas");
        var wrong = new List<string>();
        foreach (var schema in schemas.EnumerateObject())
        {
            if (!schema.Value.TryGetProperty("required", out var required) || !schema.Value.TryGetProperty("properties", out var properties))
                continue;
            foreach (var name in required.EnumerateArray().Select(e => e.GetString()!))
                if (properties.TryGetProperty(name, out var p) && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.Array
                    && t.EnumerateArray().Any(x => x.GetString() == "null"))
                    wrong.Add($"{schema.Name}.{name}");
        }
        Assert.Empty(wrong);
    }

    [Fact]
    public async Task Numbers_are_plain_json_numbers_and_enums_camelCase_strings()
    {
        var document = await Document.Value;
        var wrong = new List<string>();
        Walk(document, "#", wrong);
        Assert.Empty(wrong);

        var role = document.GetProperty("components").GetProperty("schemas").GetProperty("MessageRole");
        Assert.Equal("string", role.GetProperty("type").GetString());
        Assert.Equal(["user", "assistant", "system", "tool"], role.GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Csv_answers_the_bulk_upload_the_event_stream_and_the_websocket_are_documented()
    {
        var paths = (await Document.Value).GetProperty("paths");

        var csv = Ok(paths, "/api/me/usage.csv", "get");
        Assert.Equal(["text/csv"], csv.GetProperty("content").EnumerateObject().Select(c => c.Name));
        var report = Ok(paths, "/api/admin/credits/report", "get").GetProperty("content");
        Assert.True(report.TryGetProperty("application/json", out _) && report.TryGetProperty("text/csv", out _), report.GetRawText());

        var upload = paths.GetProperty("/api/admin/credits/bulk").GetProperty("post").GetProperty("requestBody").GetProperty("content");
        var file = upload.GetProperty("multipart/form-data").GetProperty("schema").GetProperty("properties").GetProperty("file");
        Assert.Equal(("string", "binary"), (file.GetProperty("type").GetString(), file.GetProperty("format").GetString()));
        Assert.True(upload.TryGetProperty("text/csv", out _));

        var send = Ok(paths, "/api/orgs/{orgId}/workspaces/{wsId}/conversations/{id}/messages", "post");
        var events = send.GetProperty("content").GetProperty("text/event-stream").GetProperty("schema").GetProperty("description").GetString()!;
        foreach (var name in new[] { "message", "delta", "tool_call", "tool_result", "usage", "title", "follow_ups", "error", "done" })
            Assert.Contains($"`{name}`", events, StringComparison.Ordinal);
        Assert.True(send.GetProperty("content").TryGetProperty("application/json", out _));

        var socket = paths.GetProperty("/ws").GetProperty("get");
        Assert.False(string.IsNullOrWhiteSpace(socket.GetProperty("summary").GetString()));
        var protocol = socket.GetProperty("description").GetString()!;
        foreach (var word in new[] { "`chunk`", "`done`", "`error`", "maxTokens", "temperature", "messages", "stream" })
            Assert.Contains(word, protocol, StringComparison.Ordinal);
        Assert.True(socket.GetProperty("responses").TryGetProperty("101", out _));
    }

    static readonly string[] ServiceCreditOperations = ["checkCredits", "deductCredits", "createCreditHold", "getCreditHold", "settleCreditHold", "releaseCreditHold"];

    static readonly string[] GenerationOperations =
        ["createGeneration", "getGeneration", "listGenerations", "cancelGeneration", "deleteGeneration", "remixGeneration", "quoteGeneration", "listGenerationModels"];

    /// <summary>What a Custom GPT action or a generated client needs to import an operation: an id, words, the API-key scheme, and an example body.</summary>
    [Fact]
    public async Task Credits_for_services_and_generations_can_be_imported_with_an_api_key()
    {
        var document = await Document.Value;
        var byId = Operations(document).Where(o => o.Operation.TryGetProperty("operationId", out _))
            .ToDictionary(o => o.Operation.GetProperty("operationId").GetString()!, o => o.Operation);
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        var wrong = new List<string>();

        foreach (var id in ServiceCreditOperations.Concat(GenerationOperations))
        {
            if (!byId.TryGetValue(id, out var operation))
            {
                wrong.Add($"{id}: no such operationId");
                continue;
            }
            if (!operation.TryGetProperty("summary", out var summary) || string.IsNullOrWhiteSpace(summary.GetString()))
                wrong.Add($"{id}: no summary");
            if (!operation.TryGetProperty("description", out var description) || string.IsNullOrWhiteSpace(description.GetString()))
                wrong.Add($"{id}: no description");
            var schemes = operation.TryGetProperty("security", out var security)
                ? security.EnumerateArray().SelectMany(r => r.EnumerateObject().Select(p => p.Name)).ToList()
                : [];
            if (!schemes.Contains("ApiKey"))
                wrong.Add($"{id}: no ApiKey security requirement");
            if (ServiceCreditOperations.Contains(id) && schemes.Count != 1)
                wrong.Add($"{id}: takes only an API key, yet lists {string.Join(", ", schemes)}");
            if (operation.TryGetProperty("requestBody", out var body)
                && !(body.GetProperty("content").TryGetProperty("application/json", out var json) && json.TryGetProperty("example", out _)))
                wrong.Add($"{id}: a JSON body without an example");
        }

        Assert.Empty(wrong);
        Assert.Equal(("http", "bearer"), (scheme.GetProperty("type").GetString(), scheme.GetProperty("scheme").GetString()));
        var deduct = byId["deductCredits"];
        Assert.Equal("upscale-8812", deduct.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("example")
            .GetProperty("idempotencyKey").GetString());
        Assert.True(deduct.GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(deduct.GetProperty("responses").TryGetProperty("402", out _));
        // Routes that act as a person refuse keys, and the document says so: inviting is for users alone.
        var invite = document.GetProperty("paths").GetProperty("/api/orgs/{orgId}/invitations").GetProperty("post").GetProperty("security");
        Assert.DoesNotContain("ApiKey", invite.EnumerateArray().SelectMany(r => r.EnumerateObject().Select(p => p.Name)));
    }

    [Fact]
    public async Task An_openapi_linter_finds_the_document_valid()
    {
        var file = Path.Combine(Path.GetTempPath(), $"aihub-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, (await Document.Value).GetRawText(), Ct);
        try
        {
            var result = await NodeClients.RunAsync("openapi/validate.mjs", [file]);
            Assert.True(result.ExitCode == 0, result.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    static JsonElement Ok(JsonElement paths, string path, string method) => paths.GetProperty(path).GetProperty(method).GetProperty("responses").GetProperty("200");

    static IEnumerable<(string Name, JsonElement Operation)> Operations(JsonElement document) =>
        from path in document.GetProperty("paths").EnumerateObject()
        from method in path.Value.EnumerateObject()
        where Methods.Contains(method.Name)
        select ($"{method.Name.ToUpperInvariant()} {path.Name}", method.Value);

    /// <summary>A number typed also as a string (with a pattern) makes a generated client send strings; an enum value must be camelCase.</summary>
    static void Walk(JsonElement node, string at, List<string> wrong)
    {
        if (node.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in node.EnumerateArray())
                Walk(item, $"{at}/{i++}", wrong);
            return;
        }
        if (node.ValueKind != JsonValueKind.Object)
            return;
        if (node.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.Array)
        {
            var types = type.EnumerateArray().Select(t => t.GetString()).ToList();
            if (types.Contains("string") && (types.Contains("integer") || types.Contains("number")))
                wrong.Add($"{at}: typed {type.GetRawText()}");
        }
        if (node.TryGetProperty("type", out var t2) && t2.ValueKind == JsonValueKind.String && t2.GetString() is "integer" or "number" && node.TryGetProperty("pattern", out _))
            wrong.Add($"{at}: a number with a pattern");
        if (node.TryGetProperty("enum", out var values) && values.ValueKind == JsonValueKind.Array)
            foreach (var value in values.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String))
                if (value.GetString() is [var first, ..] && !char.IsLower(first))
                    wrong.Add($"{at}: enum value {value.GetString()}");
        foreach (var property in node.EnumerateObject())
            Walk(property.Value, $"{at}/{property.Name}", wrong);
    }
}
