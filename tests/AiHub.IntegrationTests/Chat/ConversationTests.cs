using System.Net;
using System.Text.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Chat.Conversations;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Chat;

/// <summary>
/// Conversations in a workspace on a real database: CRUD and listing, full-text search, the message tree that edits and
/// regenerations branch, share links, and the layered system prompt.
/// </summary>
public abstract class ConversationTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    sealed record Space(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId)
    {
        public string Conversations => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}/conversations";
    }

    async Task<Space> SpaceAsync()
    {
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Chatters");
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Research" });
        return new Space(client, owner, orgId, workspaceId);
    }

    static async Task<Guid> NewConversationAsync(Space space, string? title = null, AuthTokens? who = null) =>
        (await SendAsync(space.Client, who ?? space.Owner, HttpMethod.Post, space.Conversations, new { title }, HttpStatusCode.Created)).GetProperty("id").GetGuid();

    static async Task<List<string>> TitlesAsync(Space space, string query = "") =>
        (await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Conversations + query)).GetProperty("items").EnumerateArray().Select(c => c.GetProperty("title").GetString()!).ToList();

    /// <summary>Runs <paramref name="work"/> against the store in a scope of its own, as the engine does per request.</summary>
    async Task<T> StoreAsync<T>(Space space, Guid conversationId, AuthTokens owner, Func<AiHub.Chat.Conversations.ConversationService, Conversation, Task<T>> work)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var store = scope.ServiceProvider.GetRequiredService<AiHub.Chat.Conversations.ConversationService>();
        var conversation = await store.FindOwnAsync(space.OrgId, space.WorkspaceId, conversationId, UserIdOf(owner), Ct);
        return await work(store, conversation);
    }

    async Task<Guid> AnswerAsync(Space space, Guid conversationId, Guid userMessageId, string text)
    {
        var answer = await StoreAsync(space, conversationId, space.Owner, (store, c) => store.StartAssistantAsync(c, userMessageId, Ct));
        await using var scope = host.App.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<AiHub.Chat.Conversations.ConversationService>().FinishAssistantAsync(space.OrgId, answer.Id,
            new AnswerOutcome(text, MessageStatus.Complete, "openai", "gpt-4o-mini", "stop", 12, 7, 11, 7, true, 1_234, null, null), Ct);
        return answer.Id;
    }

    async Task<Guid> SayAsync(Space space, Guid conversationId, Guid? parentId, string text) =>
        (await StoreAsync(space, conversationId, space.Owner, (store, c) => store.AddUserMessageAsync(c, parentId, text, Ct))).Id;

    static List<(Guid Id, string Content, int Index, int Siblings)> Path(JsonElement path) =>
        path.GetProperty("messages").EnumerateArray()
            .Select(m => (m.GetProperty("id").GetGuid(), m.GetProperty("content").GetString()!, m.GetProperty("siblingIndex").GetInt32(), m.GetProperty("siblingIds").GetArrayLength()))
            .ToList();

    [Fact]
    public async Task Conversations_are_created_renamed_pinned_first_archived_out_of_the_list_paged_and_deleted()
    {
        var space = await SpaceAsync();
        var created = await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Conversations, new { systemPrompt = "  Be brief.  ", model = "gpt-4o-mini" }, HttpStatusCode.Created);
        var a = created.GetProperty("id").GetGuid();
        var b = await NewConversationAsync(space, "Bravo");
        var c = await NewConversationAsync(space, "Charlie");
        var d = await NewConversationAsync(space, "Delta");

        var renamed = await SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{a}", new { title = " Alpha " });
        var before = await TitlesAsync(space);
        await SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{a}", new { pinned = true });
        await SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{c}", new { archived = true });
        var listed = await TitlesAsync(space);
        var archived = await TitlesAsync(space, "?archived=true");
        var first = await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Conversations + "?limit=1");
        var cursor = Uri.EscapeDataString(first.GetProperty("before").GetDateTimeOffset().ToString("O"));
        var second = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}?limit=2&before={cursor}");
        await SendAsync(space.Client, space.Owner, HttpMethod.Delete, $"{space.Conversations}/{d}", expected: HttpStatusCode.NoContent);

        Assert.Equal(("New conversation", false, "Be brief.", "gpt-4o-mini"),
            (created.GetProperty("title").GetString(), created.GetProperty("titleGenerated").GetBoolean(), created.GetProperty("systemPrompt").GetString(), created.GetProperty("model").GetString()));
        Assert.Equal(("Alpha", true), (renamed.GetProperty("title").GetString(), renamed.GetProperty("titleGenerated").GetBoolean()));
        Assert.Equal(["Alpha", "Delta", "Charlie", "Bravo"], before);
        Assert.Equal(["Alpha", "Delta", "Bravo"], listed);
        Assert.Equal(["Charlie"], archived);
        Assert.Equal(["Alpha", "Delta"], first.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("title").GetString()));
        Assert.Equal(["Bravo"], second.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("title").GetString()));
        Assert.Equal(JsonValueKind.Null, second.GetProperty("before").ValueKind);
        await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{d}", expected: HttpStatusCode.NotFound);
        Assert.Equal(["Alpha", "Bravo"], await TitlesAsync(space));
        var unpinned = await SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{a}", new { pinned = false, archived = false, systemPrompt = "", model = "" });
        Assert.Equal((false, JsonValueKind.Null, JsonValueKind.Null),
            (unpinned.GetProperty("pinned").GetBoolean(), unpinned.GetProperty("systemPrompt").ValueKind, unpinned.GetProperty("model").ValueKind));
        Assert.Equal(b, (await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{b}")).GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task Deleting_a_conversation_removes_its_messages()
    {
        var space = await SpaceAsync();
        var id = await NewConversationAsync(space);
        var question = await SayAsync(space, id, null, "What is a quasar?");
        await AnswerAsync(space, id, question, "A very bright galactic nucleus.");

        await SendAsync(space.Client, space.Owner, HttpMethod.Delete, $"{space.Conversations}/{id}", expected: HttpStatusCode.NoContent);

        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.Set<StoredMessage>().CountAsync(m => m.ConversationId == id, Ct));
        Assert.Empty(await TitlesAsync(space, "?q=quasar"));
    }

    [Fact]
    public async Task Search_finds_a_word_in_a_message_or_a_title_among_the_callers_own_conversations_in_the_workspace_only()
    {
        var space = await SpaceAsync();
        var bread = await NewConversationAsync(space, "Baking");
        var question = await SayAsync(space, bread, null, "How do I bake a good sourdough loaf at home?");
        await AnswerAsync(space, bread, question, "Feed the levain starter the night before, then shape the dough.");
        await NewConversationAsync(space, "Quarterly zeppelin budget");
        var archived = await NewConversationAsync(space, "Old sourdough notes");
        await SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{archived}", new { archived = true });
        var otherWorkspace = space with { WorkspaceId = await CreateAsync(space.Client, space.Owner, space.OrgId, "workspaces", new { name = "Kitchen" }) };
        await SayAsync(otherWorkspace, await NewConversationAsync(otherWorkspace, "Elsewhere"), null, "sourdough elsewhere");
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(space.Client, memberEmail);
        await JoinAsync(host, space.Client, space.Owner, space.OrgId, memberEmail, member);
        var theirs = await NewConversationAsync(space, "Sourdough too", member);
        await StoreAsync(space, theirs, member, (store, c) => store.AddUserMessageAsync(c, null, "my sourdough", Ct));

        var inMessage = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}?q=SOURDOUGH");
        var inAnswer = await TitlesAsync(space, "?q=levain%20starter");
        var inTitle = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}?q=zeppelin");
        var both = await TitlesAsync(space, "?q=levain%20zeppelin");
        var inArchive = await TitlesAsync(space, "?archived=true&q=sourdough");

        var hit = Assert.Single(inMessage.GetProperty("items").EnumerateArray());
        Assert.Equal("Baking", hit.GetProperty("title").GetString());
        Assert.Contains("sourdough", hit.GetProperty("snippet").GetString(), StringComparison.Ordinal);
        Assert.Equal(["Baking"], inAnswer);
        var titleHit = Assert.Single(inTitle.GetProperty("items").EnumerateArray());
        Assert.Equal(("Quarterly zeppelin budget", JsonValueKind.Null), (titleHit.GetProperty("title").GetString(), titleHit.GetProperty("snippet").ValueKind));
        Assert.Empty(both);
        Assert.Equal(["Old sourdough notes"], inArchive);
    }

    [Fact]
    public async Task Edits_and_regenerations_branch_the_tree_and_the_path_follows_the_chosen_branch()
    {
        var space = await SpaceAsync();
        var id = await NewConversationAsync(space);
        var u1 = await SayAsync(space, id, null, "Name a planet.");
        var a1 = await AnswerAsync(space, id, u1, "Mars.");
        var u2 = await SayAsync(space, id, null, "Another one?");
        var a2 = await AnswerAsync(space, id, u2, "Venus.");

        // Editing u2 is a sibling under the same parent: a new branch that becomes the shown one.
        var parentOfU2 = await StoreAsync(space, id, space.Owner, async (store, c) => (await store.PathAsync(c, u2, Ct))[^1].ParentId);
        var u2Edited = await SayAsync(space, id, parentOfU2, "Another one, but a gas giant?");
        var a2Edited = await AnswerAsync(space, id, u2Edited, "Jupiter.");
        var edited = Path(await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages"));
        var back = await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Conversations}/{id}/branch", new { messageId = u2 });
        var regenerated = await AnswerAsync(space, id, u2, "Mercury.");
        var afterRegeneration = Path(await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages"));
        var otherLeaf = Path(await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages?leaf={a2Edited}"));
        var storePath = await StoreAsync(space, id, space.Owner, (store, c) => store.PathAsync(c, null, Ct));

        Assert.Equal(a1, parentOfU2);
        Assert.Equal([(u1, "Name a planet.", 0, 1), (a1, "Mars.", 0, 1), (u2Edited, "Another one, but a gas giant?", 1, 2), (a2Edited, "Jupiter.", 0, 1)], edited);
        Assert.Equal(a2, back.GetProperty("leafId").GetGuid());
        Assert.Equal([u1, a1, u2, a2], Path(back).Select(m => m.Id));
        Assert.Equal((0, 2), (Path(back)[2].Index, Path(back)[2].Siblings));
        Assert.Equal([(u1, "Name a planet.", 0, 1), (a1, "Mars.", 0, 1), (u2, "Another one?", 0, 2), (regenerated, "Mercury.", 1, 2)], afterRegeneration);
        Assert.Equal([u1, a1, u2Edited, a2Edited], otherLeaf.Select(m => m.Id));
        Assert.Equal([u1, a1, u2, regenerated], storePath.Select(m => m.Id));
        Assert.All(storePath, m => Assert.Equal(MessageStatus.Complete, m.Status));
        var answer = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages");
        var last = answer.GetProperty("messages")[3];
        Assert.Equal(("openai", "gpt-4o-mini", 12L, 1_234L), (last.GetProperty("provider").GetString(), last.GetProperty("model").GetString(),
            last.GetProperty("inputTokens").GetInt64(), last.GetProperty("costMicros").GetInt64()));

        // Selecting the first message shows its newest branch, all the way down.
        var newest = Path(await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Conversations}/{id}/branch", new { messageId = u1 }));
        Assert.Equal([u1, a1, u2, regenerated], newest.Select(m => m.Id));

        // Editing the very first message makes a second root.
        var root = await StoreAsync(space, id, space.Owner, (store, c) => store.EditUserMessageAsync(c, u1, "Name a moon.", Ct));
        var rootPath = Path(await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages"));
        Assert.Null(root.ParentId);
        Assert.Equal([(root.Id, "Name a moon.", 1, 2)], rootPath);
    }

    [Fact]
    public async Task An_answer_that_ended_keeps_its_outcome_and_an_automatic_title_never_replaces_a_set_one()
    {
        var space = await SpaceAsync();
        var id = await NewConversationAsync(space);
        var question = await SayAsync(space, id, null, "Tell me a long story.");
        var answer = await StoreAsync(space, id, space.Owner, (store, c) => store.StartAssistantAsync(c, question, Ct));
        var streaming = (await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages")).GetProperty("messages")[1];
        var error = JsonSerializer.Serialize(new { type = ProblemTypes.NotFound, title = "Stream cut", status = 502 });
        ToolCallRecord[] tools = [new("call_1", "clock", "{}", "12:00")];
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var store = scope.ServiceProvider.GetRequiredService<AiHub.Chat.Conversations.ConversationService>();
            await store.FinishAssistantAsync(space.OrgId, answer.Id, new AnswerOutcome("Once upon", MessageStatus.Cancelled, "openai", "gpt-4o", null, null, null, 5, 2, false, 10, tools, error), Ct);
            await store.FinishAssistantAsync(space.OrgId, answer.Id, new AnswerOutcome("Once upon a time", MessageStatus.Incomplete, "openai", "gpt-4o", null, null, null, 5, 4, false, 20, null, null), Ct);
        }
        var first = await StoreAsync(space, id, space.Owner, (store, _) => store.SetGeneratedTitleAsync(space.OrgId, id, "\"A long story\"", Ct));
        var second = await StoreAsync(space, id, space.Owner, (store, _) => store.SetGeneratedTitleAsync(space.OrgId, id, "Another title", Ct));
        var renamed = await NewConversationAsync(space, "Mine");
        var overRename = await StoreAsync(space, renamed, space.Owner, (store, _) => store.SetGeneratedTitleAsync(space.OrgId, renamed, "Generated", Ct));

        var message = (await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}/messages")).GetProperty("messages")[1];
        Assert.Equal((answer.Id, "streaming", ""), (streaming.GetProperty("id").GetGuid(), streaming.GetProperty("status").GetString(), streaming.GetProperty("content").GetString()));
        Assert.Equal(("Once upon", "cancelled", 10L), (message.GetProperty("content").GetString(), message.GetProperty("status").GetString(), message.GetProperty("costMicros").GetInt64()));
        Assert.Equal("clock", message.GetProperty("toolCalls")[0].GetProperty("name").GetString());
        Assert.Equal("Stream cut", message.GetProperty("error").GetProperty("title").GetString());
        Assert.Equal((true, false, false), (first, second, overRename));
        Assert.Equal("A long story", (await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}")).GetProperty("title").GetString());
        Assert.Equal("Mine", (await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{renamed}")).GetProperty("title").GetString());
    }

    [Fact]
    public async Task A_share_link_is_read_by_members_of_the_org_only_until_it_is_replaced_or_revoked()
    {
        var space = await SpaceAsync();
        var id = await NewConversationAsync(space, "Shared plans");
        var question = await SayAsync(space, id, null, "Plan a trip.");
        await AnswerAsync(space, id, question, "Go north.");
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(space.Client, memberEmail);
        await JoinAsync(host, space.Client, space.Owner, space.OrgId, memberEmail, member);
        var stranger = await host.NewUserAsync(space.Client);

        var share = await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Conversations}/{id}/share");
        var token = share.GetProperty("token").GetString()!;
        var link = $"/api/orgs/{space.OrgId}/shared-conversations/{token}";
        var read = await SendAsync(space.Client, member, HttpMethod.Get, link);
        await SendAsync(space.Client, stranger, HttpMethod.Get, link, expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, stranger, HttpMethod.Get, $"/api/orgs/{await PersonalOrgAsync(space.Client, stranger)}/shared-conversations/{token}", expected: HttpStatusCode.NotFound);
        // The member cannot reach it as a conversation of their own.
        await SendAsync(space.Client, member, HttpMethod.Get, $"{space.Conversations}/{id}", expected: HttpStatusCode.NotFound);
        var again = (await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Conversations}/{id}/share")).GetProperty("token").GetString()!;
        await SendAsync(space.Client, member, HttpMethod.Get, link, expected: HttpStatusCode.NotFound);
        var readAgain = await SendAsync(space.Client, member, HttpMethod.Get, $"/api/orgs/{space.OrgId}/shared-conversations/{again}");
        var shown = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}");
        await SendAsync(space.Client, space.Owner, HttpMethod.Delete, $"{space.Conversations}/{id}/share", expected: HttpStatusCode.NoContent);

        Assert.StartsWith("https://aihub.test/", share.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.EndsWith(token, share.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.Equal("Shared plans", read.GetProperty("title").GetString());
        Assert.Equal(["Plan a trip.", "Go north."], read.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("content").GetString()));
        Assert.False(read.TryGetProperty("systemPrompt", out _));
        Assert.Equal(id, readAgain.GetProperty("id").GetGuid());
        Assert.True(shown.GetProperty("shared").GetBoolean());
        await SendAsync(space.Client, member, HttpMethod.Get, $"/api/orgs/{space.OrgId}/shared-conversations/{again}", expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, member, HttpMethod.Get, $"/api/orgs/{space.OrgId}/shared-conversations/not-a-token", expected: HttpStatusCode.NotFound);
        Assert.False((await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}/{id}")).GetProperty("shared").GetBoolean());
        await using var scope = host.App.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Conversation>().AsNoTracking().SingleAsync(c => c.Id == id, Ct);
        Assert.Null(stored.ShareTokenHash);
    }

    [Fact]
    public async Task Control_characters_in_a_search_are_spaces_so_NUL_alone_lists_as_without_a_search_and_next_to_a_word_still_finds_it()
    {
        var space = await SpaceAsync();
        var bread = await NewConversationAsync(space, "Baking");
        await SayAsync(space, bread, null, "A sourdough loaf needs a levain.");
        await NewConversationAsync(space, "Travel");

        var all = await TitlesAsync(space);
        foreach (var query in new[] { "%00", "%01%1F%7F", "%00%00%09" })
            Assert.Equal(all, await TitlesAsync(space, $"?q={query}"));
        var problem = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Conversations}?q=%22%00--%22", expected: HttpStatusCode.BadRequest);
        Assert.Equal(ProblemTypes.Validation, problem.GetProperty("type").GetString());
        Assert.Equal(["Baking"], await TitlesAsync(space, "?q=sourdough%00"));
        Assert.Equal(["Baking"], await TitlesAsync(space, "?q=%00levain%1Bsourdough"));
        Assert.Empty(await TitlesAsync(space, "?q=zeppelin%00"));
    }

    [Fact]
    public async Task Concurrent_first_writes_of_a_system_prompt_all_succeed_and_one_of_them_is_kept()
    {
        var space = await SpaceAsync();
        var id = await NewConversationAsync(space);
        var orgPrompt = $"/api/orgs/{space.OrgId}/system-prompt";
        var workspacePrompt = $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/system-prompt";
        var texts = Enumerable.Range(1, 8).Select(i => $"Prompt number {i}.").ToList();

        await Task.WhenAll(texts.Select(text => Task.Run(() => SendAsync(space.Client, space.Owner, HttpMethod.Put, orgPrompt, new { text }))));
        await Task.WhenAll(texts.Select(text => Task.Run(() => SendAsync(space.Client, space.Owner, HttpMethod.Put, workspacePrompt, new { text }))));
        await Task.WhenAll(texts.Select(text => Task.Run(() => SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{id}", new { systemPrompt = text }))));

        Assert.Contains((await SendAsync(space.Client, space.Owner, HttpMethod.Get, orgPrompt)).GetProperty("text").GetString(), texts);
        Assert.Contains((await SendAsync(space.Client, space.Owner, HttpMethod.Get, workspacePrompt)).GetProperty("text").GetString(), texts);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(1, await db.Set<OrgSystemPrompt>().CountAsync(p => p.OrganizationId == space.OrgId, Ct));
        Assert.Equal(16, await db.AuditEvents.CountAsync(e => e.OrganizationId == space.OrgId && e.Kind == AuditKinds.SystemPromptChanged, Ct));
    }

    [Fact]
    public async Task The_system_prompt_layers_org_then_workspace_then_conversation_and_only_managers_read_and_change_the_upper_layers()
    {
        var space = await SpaceAsync();
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(space.Client, memberEmail);
        await JoinAsync(host, space.Client, space.Owner, space.OrgId, memberEmail, member);
        var orgPrompt = $"/api/orgs/{space.OrgId}/system-prompt";
        var workspacePrompt = $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/system-prompt";
        var id = await NewConversationAsync(space);
        var none = await StoreAsync(space, id, space.Owner, (store, c) => store.SystemPromptAsync(c, Ct));

        await SendAsync(space.Client, space.Owner, HttpMethod.Put, orgPrompt, new { text = "Answer in English." });
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, workspacePrompt, new { text = "You help with research." });
        await SendAsync(space.Client, space.Owner, HttpMethod.Patch, $"{space.Conversations}/{id}", new { systemPrompt = "Cite sources." });
        var layered = await StoreAsync(space, id, space.Owner, (store, c) => store.SystemPromptAsync(c, Ct));
        var readByOwner = await SendAsync(space.Client, space.Owner, HttpMethod.Get, orgPrompt);
        var workspaceRead = await SendAsync(space.Client, space.Owner, HttpMethod.Get, workspacePrompt);
        var workspace = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}");
        var workspaceOfMember = await SendAsync(space.Client, member, HttpMethod.Get, $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}");
        await SendAsync(space.Client, member, HttpMethod.Get, orgPrompt, expected: HttpStatusCode.Forbidden);
        await SendAsync(space.Client, member, HttpMethod.Get, workspacePrompt, expected: HttpStatusCode.Forbidden);
        await SendAsync(space.Client, member, HttpMethod.Put, orgPrompt, new { text = "Mine now." }, HttpStatusCode.Forbidden);
        await SendAsync(space.Client, member, HttpMethod.Put, workspacePrompt, new { text = "Mine now." }, HttpStatusCode.Forbidden);
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, orgPrompt, new { text = new string('x', 20_001) }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, workspacePrompt, new { text = new string('x', 20_001) }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, orgPrompt, new { text = "" });
        var withoutOrg = await StoreAsync(space, id, space.Owner, (store, c) => store.SystemPromptAsync(c, Ct));

        Assert.Null(none);
        Assert.Equal("Answer in English.\n\nYou help with research.\n\nCite sources.", layered);
        Assert.Equal("Answer in English.", readByOwner.GetProperty("text").GetString());
        Assert.Equal(UserIdOf(space.Owner), readByOwner.GetProperty("updatedBy").GetGuid());
        Assert.Equal("You help with research.", workspaceRead.GetProperty("text").GetString());
        Assert.Equal("You help with research.", workspace.GetProperty("systemPrompt").GetString());
        Assert.Equal(JsonValueKind.Null, workspaceOfMember.GetProperty("systemPrompt").ValueKind);
        Assert.Equal("You help with research.\n\nCite sources.", withoutOrg);
        Assert.Equal(JsonValueKind.Null, (await SendAsync(space.Client, space.Owner, HttpMethod.Get, orgPrompt)).GetProperty("text").ValueKind);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(3, await db.AuditEvents.CountAsync(e => e.OrganizationId == space.OrgId && e.Kind == AuditKinds.SystemPromptChanged, Ct));
    }

    [Fact]
    public async Task Another_users_conversation_is_not_found_and_never_listed()
    {
        var space = await SpaceAsync();
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(space.Client, memberEmail);
        await JoinAsync(host, space.Client, space.Owner, space.OrgId, memberEmail, member);
        var id = await NewConversationAsync(space, "Private");
        var path = $"{space.Conversations}/{id}";

        await SendAsync(space.Client, member, HttpMethod.Get, path, expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, member, HttpMethod.Patch, path, new { title = "Taken" }, HttpStatusCode.NotFound);
        await SendAsync(space.Client, member, HttpMethod.Get, path + "/messages", expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, member, HttpMethod.Post, path + "/branch", new { messageId = Guid.NewGuid() }, HttpStatusCode.NotFound);
        await SendAsync(space.Client, member, HttpMethod.Post, path + "/share", expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, member, HttpMethod.Delete, path, expected: HttpStatusCode.NotFound);
        var listed = await SendAsync(space.Client, member, HttpMethod.Get, space.Conversations);
        await using var scope = host.App.Services.CreateAsyncScope();
        var store = scope.ServiceProvider.GetRequiredService<AiHub.Chat.Conversations.ConversationService>();
        var refused = await Assert.ThrowsAsync<ProblemException>(() => store.FindOwnAsync(space.OrgId, space.WorkspaceId, id, UserIdOf(member), Ct));

        Assert.Empty(listed.GetProperty("items").EnumerateArray());
        Assert.Equal(404, refused.Status);
        Assert.Equal("Private", (await SendAsync(space.Client, space.Owner, HttpMethod.Get, path)).GetProperty("title").GetString());
    }

    [Fact]
    public async Task Bad_input_is_a_validation_problem_and_a_workspace_of_another_org_is_not_found()
    {
        var space = await SpaceAsync();
        var id = await NewConversationAsync(space);
        var path = $"{space.Conversations}/{id}";
        var other = await SpaceAsync();
        var question = await SayAsync(space, id, null, "Hello?");
        var answer = await AnswerAsync(space, id, question, "Hi.");

        await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Conversations, new { title = new string('t', 201) }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Conversations, new { systemPrompt = new string('p', 20_001) }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Conversations, new { model = new string('m', 201) }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Patch, path, new { title = "   " }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Conversations + "?limit=0", expected: HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Conversations + "?q=" + new string('q', 201), expected: HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Conversations + "?q=%22--%22", expected: HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, path + "/branch", new { }, HttpStatusCode.BadRequest);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, path + "/branch", new { messageId = Guid.NewGuid() }, HttpStatusCode.NotFound);
        await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{path}/messages?leaf={Guid.NewGuid()}", expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"/api/orgs/{space.OrgId}/workspaces/{other.WorkspaceId}/conversations", expected: HttpStatusCode.NotFound);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"/api/orgs/{space.OrgId}/workspaces/{other.WorkspaceId}/conversations", new { }, HttpStatusCode.NotFound);

        async Task<int> StatusOf(Func<AiHub.Chat.Conversations.ConversationService, Conversation, Task> work) =>
            (await Assert.ThrowsAsync<ProblemException>(() => StoreAsync(space, id, space.Owner, async (store, c) => { await work(store, c); return 0; }))).Status;
        Assert.Equal(400, await StatusOf((store, c) => store.AddUserMessageAsync(c, null, "  ", Ct)));
        Assert.Equal(400, await StatusOf((store, c) => store.AddUserMessageAsync(c, null, new string('c', 100_001), Ct)));
        Assert.Equal(400, await StatusOf((store, c) => store.AddUserMessageAsync(c, question, "Under a user message", Ct)));
        Assert.Equal(404, await StatusOf((store, c) => store.AddUserMessageAsync(c, Guid.NewGuid(), "Under nothing", Ct)));
        Assert.Equal(400, await StatusOf((store, c) => store.StartAssistantAsync(c, answer, Ct)));
        Assert.Equal(400, await StatusOf((store, c) => store.EditUserMessageAsync(c, answer, "An answer is not edited", Ct)));
        Assert.Equal([question, answer], Path(await SendAsync(space.Client, space.Owner, HttpMethod.Get, path + "/messages")).Select(m => m.Id));
    }
}

public sealed class ConversationsOnSqlite(SqliteIdentityFixture fixture) : ConversationTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class ConversationsOnPostgres(PostgresIdentityFixture fixture) : ConversationTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
