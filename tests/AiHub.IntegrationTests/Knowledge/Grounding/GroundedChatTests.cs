using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Ingestion;
using static AiHub.IntegrationTests.Knowledge.Grounding.KnowledgeRows;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Knowledge.Grounding;

/// <summary>
/// Chat grounded in a workspace's knowledge: the passages reach the model as a system message, and the answer's
/// numbered citations reach the client (SSE, JSON, WebSocket) and come back with the stored conversation.
/// </summary>
public abstract class GroundedChatTests(GroundedChatFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IdentityHost Host => fixture.Grounded;
    FakeLlm Fake => fixture.Fake;

    const string Refunds = "Refunds are paid within fourteen days of the request, to the card that paid.";
    const string Moment = "In this video, refunds are explained with an example.";

    internal sealed record Grounded(ChatStreamTests.Space Space, Guid KbId, Guid DocumentId, Guid VideoId)
    {
        public string Conversation => $"/api/orgs/{Space.OrgId}/workspaces/{Space.WorkspaceId}/conversations/{Space.ConversationId}";
    }

    /// <summary>A workspace with a knowledge base (a PDF's page 3 and a video's moment at 1:23) and a conversation grounded in it.</summary>
    async Task<Grounded> GroundedAsync(bool ground = true)
    {
        var space = await ChatStreamTests.SpaceAsync(Host);
        var user = UserIdOf(space.Owner);
        var kb = await BaseAsync(Host, space.OrgId, space.WorkspaceId, user);
        var document = await SourceAsync(Host, space.OrgId, space.WorkspaceId, kb, user, "Refund policy", SourceFormat.Pdf, new Passage("Cover page.", Page: 1), new Passage(Refunds, Page: 3));
        var video = await SourceAsync(Host, space.OrgId, space.WorkspaceId, kb, user, "Refunds explained", SourceFormat.Video, new Passage(Moment, Start: 83.4, End: 97));
        var grounded = new Grounded(space, kb, document, video);
        if (ground)
        {
            var patched = await SendAsync(space.Client, space.Owner, HttpMethod.Patch, grounded.Conversation, new { knowledgeBaseIds = new[] { kb } });
            Assert.Equal([kb], patched.GetProperty("knowledgeBaseIds").EnumerateArray().Select(e => e.GetGuid()));
        }
        return grounded;
    }

    static HttpRequestMessage Post(ChatStreamTests.Space space, string path, object body, bool stream)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
        if (stream)
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return request;
    }

    internal static async Task<List<Sse>> StreamAsync(ChatStreamTests.Space space, object body)
    {
        using var response = await space.Client.SendAsync(Post(space, space.Messages, body, stream: true), HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in ChatStreamTests.EventsAsync(response))
            events.Add(e);
        return events;
    }

    /// <summary>The system messages of the last request the fake received for <paramref name="model"/>.</summary>
    List<string> SystemMessagesSent(string model)
    {
        var body = Fake.Requests.Last(r => r.Model == model).Body!.Value;
        return [.. body.GetProperty("messages").EnumerateArray()
            .Where(m => m.GetProperty("role").GetString() == "system")
            .Select(m => m.GetProperty("content") is { ValueKind: JsonValueKind.String } text ? text.GetString()! : m.GetProperty("content").ToString())];
    }

    [Fact]
    public async Task A_grounded_answer_streams_its_citations_before_the_first_delta_and_keeps_them()
    {
        var g = await GroundedAsync();
        Fake.Enqueue(FakeScript.Reply("Refunds take fourteen days [1], as the video shows [2].", chunks: 4), ChatFixture.Main);

        var events = await StreamAsync(g.Space, new { content = "How are refunds paid?", model = ChatFixture.Main });

        var names = events.Select(e => e.Event).ToList();
        var firstDelta = names.IndexOf("delta");
        Assert.True(firstDelta > 0, string.Join(",", names));
        var citations = events.Where(e => e.Event == "citation").Select(e => e.Data).ToList();
        Assert.Equal(2, citations.Count);
        Assert.All(events.Select((e, i) => (e, i)).Where(x => x.e.Event == "citation"), x => Assert.True(x.i < firstDelta));
        var page = citations.Single(c => c.GetProperty("sourceId").GetGuid() == g.DocumentId);
        Assert.Equal(3, page.GetProperty("page").GetInt32());
        Assert.Equal("p. 3", page.GetProperty("label").GetString());
        Assert.Equal("Refund policy", page.GetProperty("title").GetString());
        Assert.Equal($"/knowledge/{g.Space.WorkspaceId}/sources/{g.DocumentId}#page=3", page.GetProperty("link").GetString());
        Assert.StartsWith("Refunds are paid within fourteen days", page.GetProperty("snippet").GetString());
        var moment = citations.Single(c => c.GetProperty("sourceId").GetGuid() == g.VideoId);
        Assert.Equal("1:23", moment.GetProperty("label").GetString());
        Assert.Equal(83.4, moment.GetProperty("start").GetDouble());
        Assert.Equal($"/knowledge/{g.Space.WorkspaceId}/sources/{g.VideoId}#t=83", moment.GetProperty("link").GetString());
        Assert.Equal([1, 2], citations.Select(c => c.GetProperty("index").GetInt32()).Order());

        // The model read the passages, numbered as cited, in a system message.
        var system = Assert.Single(SystemMessagesSent(ChatFixture.Main), s => s.Contains("Answer from these sources", StringComparison.Ordinal));
        Assert.Contains(Refunds, system, StringComparison.Ordinal);
        Assert.Contains($"[{page.GetProperty("index").GetInt32()}] Refund policy (p. 3)", system, StringComparison.Ordinal);
        Assert.Contains($"[{moment.GetProperty("index").GetInt32()}] Refunds explained (1:23)", system, StringComparison.Ordinal);

        // Read later, the answer still has them.
        var stored = await SendAsync(g.Space.Client, g.Space.Owner, HttpMethod.Get, g.Conversation + "/messages");
        var answer = stored.GetProperty("messages").EnumerateArray().Last();
        Assert.Equal("assistant", answer.GetProperty("role").GetString(), ignoreCase: true);
        Assert.Equal(citations.Select(c => c.GetProperty("link").GetString()), answer.GetProperty("citations").EnumerateArray().Select(c => c.GetProperty("link").GetString()));

        // And the question is counted for the insight page, as answered.
        var question = Assert.Single(await QuestionsAsync(Host, g.Space.OrgId));
        Assert.True(question.Answered);
        Assert.Equal("how are refunds paid", question.Normalized);
    }

    [Fact]
    public async Task A_json_answer_carries_its_citations()
    {
        var g = await GroundedAsync();

        using var response = await g.Space.Client.SendAsync(Post(g.Space, g.Space.Messages, new { content = "When are refunds paid?", model = ChatFixture.Main }, stream: false), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        var citations = answer.GetProperty("citations").EnumerateArray().ToList();
        Assert.Contains(citations, c => c.GetProperty("label").GetString() == "p. 3" && c.GetProperty("sourceId").GetGuid() == g.DocumentId);
    }

    [Fact]
    public async Task The_focused_knowledge_base_grounds_a_conversation_that_names_none_and_without_it_nothing_is_cited()
    {
        var g = await GroundedAsync(ground: false);

        var unfocused = await StreamAsync(g.Space, new { content = "How are refunds paid?", model = ChatFixture.Main });
        await FocusAsync(Host, g.Space.OrgId, g.Space.WorkspaceId, UserIdOf(g.Space.Owner), g.KbId);
        var focused = await StreamAsync(g.Space, new { content = "How are refunds paid?", model = ChatFixture.Main });

        Assert.DoesNotContain(unfocused, e => e.Event == "citation");
        Assert.Contains(focused, e => e.Event == "citation" && e.Data.GetProperty("sourceId").GetGuid() == g.DocumentId);
    }

    [Fact]
    public async Task A_second_org_never_cites_the_first_orgs_sources_even_with_the_same_text()
    {
        var first = await GroundedAsync();
        var second = await GroundedAsync();
        const string Question = "How are refunds paid?";

        var mine = await StreamAsync(first.Space, new { content = Question, model = ChatFixture.Main });
        var theirs = await StreamAsync(second.Space, new { content = Question, model = ChatFixture.Main });
        // Naming the first org's knowledge base is refused, so it cannot ground the second org's conversation.
        var refused = await SendAsync(second.Space.Client, second.Space.Owner, HttpMethod.Patch, second.Conversation, new { knowledgeBaseIds = new[] { first.KbId } }, HttpStatusCode.BadRequest);

        Assert.Equal([first.DocumentId, first.VideoId], mine.Where(e => e.Event == "citation").Select(e => e.Data.GetProperty("sourceId").GetGuid()).Order());
        Assert.Equal([second.DocumentId, second.VideoId], theirs.Where(e => e.Event == "citation").Select(e => e.Data.GetProperty("sourceId").GetGuid()).Order());
        Assert.True(refused.GetProperty("errors").TryGetProperty("knowledgeBaseIds", out _));
    }

    [Fact]
    public async Task Knowledge_bases_of_another_workspace_are_refused_naming_the_field()
    {
        var g = await GroundedAsync(ground: false);
        var otherWorkspace = await CreateAsync(g.Space.Client, g.Space.Owner, g.Space.OrgId, "workspaces", new { name = "Other" });
        var otherKb = await BaseAsync(Host, g.Space.OrgId, otherWorkspace, UserIdOf(g.Space.Owner));
        var conversations = $"/api/orgs/{g.Space.OrgId}/workspaces/{g.Space.WorkspaceId}/conversations";

        var created = await SendAsync(g.Space.Client, g.Space.Owner, HttpMethod.Post, conversations, new { knowledgeBaseIds = new[] { otherKb } }, HttpStatusCode.BadRequest);
        var patched = await SendAsync(g.Space.Client, g.Space.Owner, HttpMethod.Patch, g.Conversation, new { knowledgeBaseIds = new[] { g.KbId, otherKb } }, HttpStatusCode.BadRequest);
        var kept = await SendAsync(g.Space.Client, g.Space.Owner, HttpMethod.Get, g.Conversation);
        var good = await SendAsync(g.Space.Client, g.Space.Owner, HttpMethod.Post, conversations, new { knowledgeBaseIds = new[] { g.KbId } }, HttpStatusCode.Created);

        Assert.Contains(otherKb.ToString(), created.GetProperty("errors").GetProperty("knowledgeBaseIds")[0].GetString(), StringComparison.Ordinal);
        Assert.True(patched.GetProperty("errors").TryGetProperty("knowledgeBaseIds", out _));
        Assert.Empty(kept.GetProperty("knowledgeBaseIds").EnumerateArray());
        Assert.Equal([g.KbId], good.GetProperty("knowledgeBaseIds").EnumerateArray().Select(e => e.GetGuid()));
    }

    [Fact]
    public async Task The_search_knowledge_tool_returns_numbered_passages_whose_citations_follow_the_groundings()
    {
        var g = await GroundedAsync();
        var user = UserIdOf(g.Space.Owner);
        // A second knowledge base of the workspace, outside the conversation's: only the tool, which searches the whole workspace, finds it.
        var other = await BaseAsync(Host, g.Space.OrgId, g.Space.WorkspaceId, user, "Shipping");
        var shipping = await SourceAsync(Host, g.Space.OrgId, g.Space.WorkspaceId, other, user, "Shipping guide", SourceFormat.Markdown, new Passage("Parcels ship overseas by courier within three days."));
        Fake.Enqueue(FakeScript.ToolCall("search_knowledge", """{"query":"overseas parcels"}"""), ChatFixture.Main);

        var events = await StreamAsync(g.Space, new { content = "How are refunds paid, and how do parcels ship?", model = ChatFixture.Main });

        var result = events.Single(e => e.Event == "tool_result").Data;
        Assert.Equal("search_knowledge", result.GetProperty("name").GetString());
        var passages = JsonDocument.Parse(result.GetProperty("result").GetString()!).RootElement;
        var passage = Assert.Single(passages.EnumerateArray());
        Assert.Equal("Shipping guide", passage.GetProperty("title").GetString());
        var citations = events.Where(e => e.Event == "citation").Select(e => e.Data).ToList();
        var grounding = citations.Where(c => c.GetProperty("sourceId").GetGuid() != shipping).ToList();
        var tool = Assert.Single(citations, c => c.GetProperty("sourceId").GetGuid() == shipping);
        Assert.Equal(grounding.Count + 1, tool.GetProperty("index").GetInt32());
        Assert.Equal(tool.GetProperty("index").GetInt32(), passage.GetProperty("citation").GetInt32());
        // Its citation follows its result, and is stored with the answer.
        Assert.True(events.FindIndex(e => e.Event == "citation" && e.Data.GetProperty("sourceId").GetGuid() == shipping) > events.FindIndex(e => e.Event == "tool_result"));
        var stored = await SendAsync(g.Space.Client, g.Space.Owner, HttpMethod.Get, g.Conversation + "/messages");
        Assert.Contains(stored.GetProperty("messages").EnumerateArray().Last().GetProperty("citations").EnumerateArray(), c => c.GetProperty("sourceId").GetGuid() == shipping);
    }

    [Fact]
    public async Task The_socket_sends_citation_frames_before_the_first_chunk()
    {
        var g = await GroundedAsync(ground: false);
        using var client = Host.App.CreateClient();
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {g.Space.Owner.AccessToken}");
        await socket.ConnectAsync(new UriBuilder(client.BaseAddress!) { Scheme = "ws", Path = "/ws" }.Uri, Ct);
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(new
        {
            id = "k", type = "chat", model = ChatFixture.Main, stream = true, orgId = g.Space.OrgId, workspaceId = g.Space.WorkspaceId, knowledgeBaseIds = new[] { g.KbId },
            messages = new[] { new { role = "user", content = "How are refunds paid?" } },
        }, JsonSerializerOptions.Web), WebSocketMessageType.Text, true, Ct);

        var frames = new List<JsonElement>();
        while (await ReceiveAsync(socket) is { } frame)
        {
            frames.Add(frame);
            if (frame.GetProperty("type").GetString() is "done" or "error")
                break;
        }

        var types = frames.Select(f => f.GetProperty("type").GetString()).ToList();
        Assert.Equal("done", types[^1]);
        Assert.True(types.LastIndexOf("citation") < types.IndexOf("chunk"), string.Join(",", types));
        Assert.Contains(frames, f => f.GetProperty("type").GetString() == "citation" && f.GetProperty("data").GetProperty("label").GetString() == "p. 3");
    }

    static async Task<JsonElement?> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var stream = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, Ct);
            if (result.MessageType == WebSocketMessageType.Close)
                return null;
            stream.Write(buffer, 0, result.Count);
        } while (!result.EndOfMessage);
        return JsonDocument.Parse(stream.ToArray()).RootElement.Clone();
    }
}

public sealed class GroundedChatOnSqlite(SqliteGroundedChatFixture fixture) : GroundedChatTests(fixture), IClassFixture<SqliteGroundedChatFixture>;

public sealed class GroundedChatOnPostgres(PostgresGroundedChatFixture fixture) : GroundedChatTests(fixture), IClassFixture<PostgresGroundedChatFixture>;
