using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Knowledge;

/// <summary>A signed-up member in their personal org's General workspace, and the calls the knowledge tests make.</summary>
public sealed record KnowledgeStart(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public string Ws => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}";

    public static async Task<KnowledgeStart> SignUpAsync(IdentityHost host, string? email = null)
    {
        var client = host.App.CreateClient();
        var owner = await host.NewUserAsync(client, email);
        var orgId = await PersonalOrgAsync(client, owner);
        var workspaces = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        return new KnowledgeStart(client, owner, orgId, workspaces.EnumerateArray().First().GetProperty("id").GetGuid());
    }

    public async Task<Guid> CreateBaseAsync(string name = "Docs", string? embeddingModel = null) =>
        (await SendAsync(Client, Owner, HttpMethod.Post, $"{Ws}/knowledge-bases", new { name, embeddingModel }, HttpStatusCode.Created)).GetProperty("id").GetGuid();

    public async Task<HttpResponseMessage> UploadAsync(Guid kbId, string fileName, byte[] content, AuthTokens? who = null)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        using var request = As(who ?? Owner, HttpMethod.Post, $"{Ws}/knowledge-bases/{kbId}/sources");
        request.Content = form;
        return await Client.SendAsync(request, Ct);
    }

    /// <summary>Uploads and returns the new source's id; the upload must be accepted.</summary>
    public async Task<Guid> AddAsync(Guid kbId, string fileName, byte[] content)
    {
        using var response = await UploadAsync(kbId, fileName, content);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
    }

    public Task<JsonElement> SourceAsync(Guid sourceId) => SendAsync(Client, Owner, HttpMethod.Get, $"{Ws}/sources/{sourceId}");

    /// <summary>Polls until the source is completed or failed; fails the test with its last state after <paramref name="seconds"/>.</summary>
    public async Task<JsonElement> SettledAsync(Guid sourceId, int seconds = 90)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        JsonElement source;
        do
        {
            source = await SourceAsync(sourceId);
            if (source.GetProperty("status").GetString() is "completed" or "failed")
                return source;
            await Task.Delay(200, Ct);
        }
        while (DateTime.UtcNow < until);
        Assert.Fail($"The source did not settle within {seconds} s: {source}");
        return source;
    }

    public async Task<JsonElement> CompletedAsync(Guid sourceId, int seconds = 90)
    {
        var source = await SettledAsync(sourceId, seconds);
        Assert.True(source.GetProperty("status").GetString() == "completed", source.ToString());
        return source;
    }

    public async Task<JsonElement> SearchAsync(string query, int topK = 5, Guid[]? knowledgeBaseIds = null) =>
        await SendAsync(Client, Owner, HttpMethod.Post, $"{Ws}/search", new { query, topK, knowledgeBaseIds });

    /// <summary>One of each knowledge resource in a workspace: a knowledge base, a source in it, and a resumable upload in progress.</summary>
    public static async Task<(Guid KnowledgeBase, Guid Source, Guid Upload)> SeedAsync(HttpClient client, AuthTokens owner, Guid orgId, Guid workspaceId)
    {
        var start = new KnowledgeStart(client, owner, orgId, workspaceId);
        var kb = await start.CreateBaseAsync("Knowledge");
        var source = await start.AddAsync(kb, "notes.md", System.Text.Encoding.UTF8.GetBytes("# Notes\n\nThe ferry leaves at nine.\n"));
        var upload = await SendAsync(client, owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/uploads",
            new { fileName = "later.txt", sizeBytes = 10 }, HttpStatusCode.Created);
        return (kb, source, upload.GetProperty("id").GetGuid());
    }

    public async Task<JsonElement> QuotaAsync(string kind)
    {
        var plan = await SendAsync(Client, Owner, HttpMethod.Get, $"/api/orgs/{OrgId}/plan");
        return plan.GetProperty("quotas").EnumerateArray().Single(q => q.GetProperty("kind").GetString() == kind);
    }
}
