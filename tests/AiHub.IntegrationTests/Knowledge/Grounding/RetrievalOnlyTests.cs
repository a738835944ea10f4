using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Data;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Ingestion;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Knowledge.Grounding.KnowledgeRows;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Knowledge.Grounding;

/// <summary>An AiHub with no language model at all, whose knowledge is searched by <see cref="LikeKnowledgeSearch"/>.</summary>
public sealed class NoModelFixture : IAsyncLifetime
{
    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Host = await IdentityHost.StartAsync("Sqlite", null, AddLikeSearch);

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// Without a language model, a question asked of knowledge is still answered: with the passages that match best,
/// labelled as such and cited, free; the creator's insight page then shows what was asked and what was missing.
/// </summary>
public sealed class RetrievalOnlyTests(NoModelFixture fixture) : IClassFixture<NoModelFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IdentityHost Host => fixture.Host;

    sealed record Creator(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId, Guid KbId, Guid DocumentId, Guid VideoId)
    {
        public string Conversations => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}/conversations";
    }

    /// <summary>A creator's org and workspace with a knowledge base of a PDF page and a video moment.</summary>
    async Task<Creator> CreatorAsync()
    {
        var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Creator");
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Course" });
        var user = UserIdOf(owner);
        var kb = await BaseAsync(Host, orgId, workspaceId, user);
        var document = await SourceAsync(Host, orgId, workspaceId, kb, user, "Course handbook", SourceFormat.Pdf, new Passage("Lessons are recorded and stay online for a year.", Page: 2));
        var video = await SourceAsync(Host, orgId, workspaceId, kb, user, "Lesson one", SourceFormat.Video, new Passage("Welcome: the lessons build on each other.", Start: 3725, End: 3740));
        return new Creator(client, owner, orgId, workspaceId, kb, document, video);
    }

    static async Task<string> ConversationAsync(Creator c, AuthTokens who, object body) =>
        $"{c.Conversations}/{(await SendAsync(c.Client, who, HttpMethod.Post, c.Conversations, body, HttpStatusCode.Created)).GetProperty("id").GetGuid()}";

    [Fact]
    public async Task A_question_is_answered_with_the_best_passages_labelled_cited_and_free()
    {
        var c = await CreatorAsync();
        var conversation = await ConversationAsync(c, c.Owner, new { knowledgeBaseIds = new[] { c.KbId } });

        var answer = await SendAsync(c.Client, c.Owner, HttpMethod.Post, conversation + "/messages", new { content = "How long do lessons stay online?" });

        Assert.Equal("complete", answer.GetProperty("status").GetString(), ignoreCase: true);
        Assert.Equal("retrieval", answer.GetProperty("provider").GetString());
        Assert.Equal("retrieval-only", answer.GetProperty("model").GetString());
        Assert.Equal(0, answer.GetProperty("costMicros").GetInt64());
        var content = answer.GetProperty("content").GetString()!;
        Assert.StartsWith("No language model is configured, so here are the passages from your knowledge that best match the question:", content);
        Assert.Contains("[1] **Course handbook** (p. 2)", content, StringComparison.Ordinal);
        Assert.Contains("> Lessons are recorded and stay online for a year.", content, StringComparison.Ordinal);
        var citations = answer.GetProperty("citations").EnumerateArray().ToList();
        Assert.Contains(citations, x => x.GetProperty("sourceId").GetGuid() == c.DocumentId && x.GetProperty("link").GetString() == $"/knowledge/{c.WorkspaceId}/sources/{c.DocumentId}#page=2");
        Assert.Contains(citations, x => x.GetProperty("sourceId").GetGuid() == c.VideoId && x.GetProperty("label").GetString() == "1:02:05");
        // Nothing was held or charged.
        await using var scope = Host.App.Services.CreateAsyncScope();
        Assert.Empty(await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().AsNoTracking().Where(h => h.OrganizationId == c.OrgId).ToListAsync(Ct));
        var stored = (await SendAsync(c.Client, c.Owner, HttpMethod.Get, conversation + "/messages")).GetProperty("messages").EnumerateArray().Last();
        Assert.Equal(content, stored.GetProperty("content").GetString());
        Assert.Equal(citations.Count, stored.GetProperty("citations").GetArrayLength());
    }

    [Fact]
    public async Task The_stream_has_the_shape_of_a_models_answer()
    {
        var c = await CreatorAsync();
        var conversation = await ConversationAsync(c, c.Owner, new { });
        using var request = As(c.Owner, HttpMethod.Post, conversation + "/messages", new { content = "Do the lessons build on each other?" });
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        using var response = await c.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in ChatStreamTests.EventsAsync(response))
            events.Add(e);

        // Not grounded: the whole workspace is searched.
        var names = events.Select(e => e.Event).Where(n => n != "title").ToList();
        Assert.Equal("message", names[0]);
        Assert.Contains("citation", names);
        Assert.True(names.LastIndexOf("citation") < names.IndexOf("delta"), string.Join(",", names));
        Assert.Equal("done", names[^1]);
        var done = events[^1].Data;
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.Equal("retrieval-only", done.GetProperty("model").GetString());
        Assert.Equal(0, done.GetProperty("costMicros").GetInt64());
    }

    [Fact]
    public async Task Without_any_knowledge_it_stays_503_no_provider()
    {
        var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Empty" });
        var conversation = (await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations", new { }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var path = $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations/{conversation}/messages";

        var problem = await SendAsync(client, owner, HttpMethod.Post, path, new { content = "Anyone there?" }, HttpStatusCode.ServiceUnavailable);

        Assert.Equal("urn:aihub:problem:no-provider", problem.GetProperty("type").GetString());
        Assert.Equal(0, (await SendAsync(client, owner, HttpMethod.Get, path)).GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public async Task A_guest_asks_in_a_creators_workspace_and_gets_its_sources()
    {
        var c = await CreatorAsync();
        var guest = await Host.NewUserAsync(c.Client);
        var email = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(guest.AccessToken).Claims.First(x => x.Type == "email").Value;
        await JoinAsync(Host, c.Client, c.Owner, c.OrgId, email, guest, "Guest");
        var conversation = await ConversationAsync(c, guest, new { knowledgeBaseIds = new[] { c.KbId } });

        var answer = await SendAsync(c.Client, guest, HttpMethod.Post, conversation + "/messages", new { content = "How long do lessons stay online?" });

        Assert.Contains(answer.GetProperty("citations").EnumerateArray(), x => x.GetProperty("sourceId").GetGuid() == c.DocumentId);
        // The insight page is the creator's, not the audience's.
        await SendAsync(c.Client, guest, HttpMethod.Get, $"/api/orgs/{c.OrgId}/workspaces/{c.WorkspaceId}/knowledge/insights", expected: HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task The_insight_page_counts_questions_sources_moments_and_gaps_and_exports_them()
    {
        var c = await CreatorAsync();
        var conversation = await ConversationAsync(c, c.Owner, new { knowledgeBaseIds = new[] { c.KbId } });
        foreach (var question in (string[])["How long do lessons stay online?", "how long do  lessons stay online", "Do the lessons build on each other?", "Is there a certificate?", "Is there a certificate?"])
            await SendAsync(c.Client, c.Owner, HttpMethod.Post, conversation + "/messages", new { content = question });
        var insights = $"/api/orgs/{c.OrgId}/workspaces/{c.WorkspaceId}/knowledge/insights";

        var report = await SendAsync(c.Client, c.Owner, HttpMethod.Get, insights + "?days=7");
        using var csv = await c.Client.SendAsync(As(c.Owner, HttpMethod.Get, insights + ".csv"), Ct);

        var top = report.GetProperty("topQuestions").EnumerateArray().ToList();
        Assert.Equal(2, top.Single(q => q.GetProperty("question").GetString()!.StartsWith("how long", StringComparison.OrdinalIgnoreCase)).GetProperty("count").GetInt32());
        var gap = Assert.Single(report.GetProperty("gaps").EnumerateArray());
        Assert.Equal("Is there a certificate?", gap.GetProperty("question").GetString());
        Assert.Equal(2, gap.GetProperty("count").GetInt32());
        var sources = report.GetProperty("topSources").EnumerateArray().ToDictionary(s => s.GetProperty("sourceId").GetGuid(), s => s.GetProperty("count").GetInt32());
        // Both "lessons" passages answer each of the three lesson questions.
        Assert.Equal(3, sources[c.DocumentId]);
        Assert.Equal(3, sources[c.VideoId]);
        var moment = report.GetProperty("topMoments").EnumerateArray().Single(m => m.GetProperty("sourceId").GetGuid() == c.VideoId);
        Assert.Equal("1:02:05", moment.GetProperty("label").GetString());
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        var lines = Encoding.UTF8.GetString(await csv.Content.ReadAsByteArrayAsync(Ct)).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("kind,question,source_id,title,page,start_seconds,label,count,last_asked_at", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("gap,Is there a certificate?,", StringComparison.Ordinal) && l.Contains(",2,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith($"moment,,{c.VideoId},Lesson one,,3725,1:02:05,3,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith($"source,,{c.DocumentId},Course handbook,", StringComparison.Ordinal));
    }
}
