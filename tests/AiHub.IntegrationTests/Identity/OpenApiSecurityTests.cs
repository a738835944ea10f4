using System.Net.Http.Json;
using System.Text.Json;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests.Identity;

public sealed class OpenApiSecurityTests
{
    [Fact]
    public async Task The_document_marks_the_operations_that_need_a_bearer_token()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = AiHubApp.On(database);
        using var client = app.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json", TestContext.Current.CancellationToken);
        var paths = document.GetProperty("paths");

        Assert.Equal("bearer", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("scheme").GetString());
        Assert.True(paths.GetProperty("/api/me").GetProperty("get").TryGetProperty("security", out _));
        Assert.True(paths.GetProperty("/api/admin/users").GetProperty("get").TryGetProperty("security", out _));
        Assert.False(paths.GetProperty("/api/auth/login").GetProperty("post").TryGetProperty("security", out _));
    }
}
