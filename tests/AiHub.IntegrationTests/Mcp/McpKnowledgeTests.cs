using System.Text.Json;
using AiHub.Fixtures;
using AiHub.Data;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Knowledge.Grounding;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using static AiHub.IntegrationTests.Mcp.KnowledgeWorld;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>
/// The org's knowledge through /mcp with the official C# client and an org key: search with citations, grounded
/// answers metered as MCP, the retrieval-only answer, sources read in parts and as resources, the workspace's
/// instructions as prompts, and nothing of another org or another workspace.
/// </summary>
public abstract class McpKnowledgeTests(McpKnowledgeFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] Reader = ["knowledge:read", "workspaces:read", "chat:use"];

    static string TextOf(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    static JsonElement Structured(CallToolResult result)
    {
        Assert.True(result.IsError != true, TextOf(result));
        return Assert.IsType<JsonElement>(result.StructuredContent);
    }

    static async Task<CallToolResult> CallAsync(McpClient client, string tool, object? arguments = null) =>
        await client.CallToolAsync(tool, arguments is null ? null : JsonSerializer.SerializeToElement(arguments, JsonSerializerOptions.Web)
            .EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value), cancellationToken: Ct);

    async Task<(KnowledgeWorld World, McpClient Client)> ReaderAsync()
    {
        var world = await fixture.WorldAsync();
        var (_, secret) = await KeyAsync(world.A.Start, null, Reader);
        return (world, await ConnectAsync(fixture.Root, secret));
    }

    [Fact]
    public async Task Search_knowledge_returns_the_passage_with_its_citation()
    {
        var (world, client) = await ReaderAsync();
        await using var _ = client;

        var result = await CallAsync(client, "search_knowledge", new { query = "When does the ferry leave the north pier?", topK = 3 });

        var passages = Structured(result).GetProperty("passages").EnumerateArray().ToList();
        var first = passages[0];
        Assert.Equal(1, first.GetProperty("citation").GetInt32());
        Assert.Equal(world.A.HandbookId, first.GetProperty("sourceId").GetGuid());
        Assert.Equal(world.A.WorkspaceId, first.GetProperty("workspaceId").GetGuid());
        Assert.Equal($"aihub://orgs/{world.A.OrgId}/sources/{world.A.HandbookId}", first.GetProperty("uri").GetString());
        Assert.Contains("nine o'clock", first.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(first.GetProperty("title").GetString()));
        Assert.Contains($"[1] {first.GetProperty("title").GetString()}", TextOf(result), StringComparison.Ordinal);
        // Everything the key can read was searched, and nothing of org B.
        Assert.DoesNotContain(passages, p => p.GetProperty("sourceId").GetGuid() == world.B.HandbookId);
    }

    [Fact]
    public async Task Ask_answers_citing_the_passage_and_records_one_usage_record_tagged_mcp_with_the_key()
    {
        var world = await fixture.WorldAsync();
        var (keyId, secret) = await KeyAsync(world.A.Start, null, Reader);
        await using var client = await ConnectAsync(fixture.Root, secret);
        fixture.Fake.Enqueue(FakeScript.Reply("The ferry leaves at nine [1]."), McpKnowledgeFixture.Model);
        var before = fixture.Fake.Requests.Count;

        var result = await CallAsync(client, "ask", new { question = "When does the morning ferry leave?", workspaceId = world.A.WorkspaceId, model = McpKnowledgeFixture.Model });

        var answer = Structured(result);
        Assert.Equal("The ferry leaves at nine [1].", answer.GetProperty("answer").GetString());
        Assert.False(answer.GetProperty("retrievalOnly").GetBoolean());
        var citation = answer.GetProperty("citations").EnumerateArray().First();
        Assert.Equal(1, citation.GetProperty("citation").GetInt32());
        Assert.Equal(world.A.HandbookId, citation.GetProperty("sourceId").GetGuid());
        Assert.Contains($"aihub://orgs/{world.A.OrgId}/sources/{world.A.HandbookId}", TextOf(result), StringComparison.Ordinal);
        // The model was given the passage under its number, after the workspace's instructions.
        var sent = fixture.Fake.Requests.Skip(before).Single(r => r.Path.EndsWith("/chat/completions", StringComparison.Ordinal)).Body!.Value.ToString();
        Assert.Contains(Instructions, sent, StringComparison.Ordinal);
        Assert.Contains("[1] ", sent, StringComparison.Ordinal);
        Assert.Contains("nine o'clock", sent, StringComparison.Ordinal);

        var tenant = new GatewayTenant(world.A.Start.Client, world.A.Start.Owner, world.A.OrgId, keyId, secret);
        var (_, recorded, records) = await fixture.Host.SettledAsync(tenant);
        var record = Assert.Single(records, r => r.Model == McpKnowledgeFixture.Model);
        Assert.Equal("mcp", record.Channel);
        Assert.Equal(keyId, record.ApiKeyId);
        Assert.True(record.CostMicros > 0);
        Assert.Equal(answer.GetProperty("costMicros").GetInt64(), record.CostMicros);
    }

    [Fact]
    public async Task Ask_with_no_model_configured_returns_the_passages_and_charges_nothing()
    {
        var org = await OrgAsync(fixture.Bare, "Harbour", Handbook);
        var (keyId, secret) = await KeyAsync(org.Start, null, Reader);
        await using var client = await ConnectAsync(fixture.BareRoot, secret);
        var (balanceBefore, _) = await fixture.Bare.BalanceAsync(org.OrgId);

        var result = await CallAsync(client, "ask", new { question = "When does the morning ferry leave?" });

        var answer = Structured(result);
        Assert.True(answer.GetProperty("retrievalOnly").GetBoolean());
        Assert.Equal(0, answer.GetProperty("costMicros").GetInt64());
        Assert.StartsWith("No language model is configured", TextOf(result), StringComparison.Ordinal);
        Assert.Contains("Nothing was charged.", TextOf(result), StringComparison.Ordinal);
        Assert.Equal(org.HandbookId, answer.GetProperty("citations").EnumerateArray().First().GetProperty("sourceId").GetGuid());
        Assert.Contains("nine o'clock", TextOf(result), StringComparison.Ordinal);
        Assert.Equal(balanceBefore, (await fixture.Bare.BalanceAsync(org.OrgId)).Balance);
        // Only the question's embedding (free here) was metered: no model call, nothing held or charged.
        Assert.All(await fixture.Bare.UsageAsync(keyId), r => Assert.Equal((TestEmbeddings.Model, 0L), (r.Model, r.CostMicros)));
        Assert.Equal(0, (await fixture.Bare.HoldsAsync(org.OrgId)).Pending);
    }

    [Fact]
    public async Task Get_source_reads_a_document_in_parts_that_join_into_its_text()
    {
        var (world, client) = await ReaderAsync();
        await using var _ = client;

        var parts = new List<string>();
        int? offset = 0;
        string? lastText = null;
        while (offset is { } at)
        {
            var result = await CallAsync(client, "get_source", new { sourceId = world.A.HandbookId, offset = at, maxChars = 80 });
            var page = Structured(result);
            Assert.Equal(at, page.GetProperty("offset").GetInt32());
            Assert.True(page.GetProperty("length").GetInt32() <= 80);
            parts.Add(page.GetProperty("text").GetString()!);
            offset = page.GetProperty("nextOffset").ValueKind == JsonValueKind.Null ? null : page.GetProperty("nextOffset").GetInt32();
            if (offset is { } next)
                Assert.Contains($"offset {next}", TextOf(result), StringComparison.Ordinal);
            lastText = TextOf(result);
        }
        Assert.True(parts.Count > 2);
        Assert.Contains("[End of the source", lastText, StringComparison.Ordinal);
        var whole = Structured(await CallAsync(client, "get_source", new { sourceId = world.A.HandbookId }));
        Assert.Equal(whole.GetProperty("text").GetString(), string.Concat(parts));
        Assert.Contains("Pets must stay on a lead", string.Concat(parts), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_source_reads_a_recording_as_its_transcript_with_a_timestamp_on_each_line()
    {
        var (world, client) = await ReaderAsync();
        await using var _ = client;
        var userId = Organizations.OrgApi.UserIdOf(world.A.Start.Owner);
        var video = await KnowledgeRows.SourceAsync(fixture.Host, world.A.OrgId, world.A.WorkspaceId, world.A.KnowledgeBaseId, userId, "Harbour tour", SourceFormat.Video,
            new KnowledgeRows.Passage("Welcome aboard the harbour tour.", Start: 0, End: 4));
        await using (var scope = fixture.Host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.AddRange(
                new TranscriptSegmentRow { OrganizationId = world.A.OrgId, SourceId = video, Index = 0, Start = 0, End = 4, Text = "Welcome aboard the harbour tour." },
                new TranscriptSegmentRow { OrganizationId = world.A.OrgId, SourceId = video, Index = 1, Start = 3725.4, End = 3731, Text = "On the left,\nthe old lighthouse." });
            await db.SaveChangesAsync(Ct);
        }

        var result = await CallAsync(client, "get_source", new { sourceId = video });

        var page = Structured(result);
        Assert.Equal("video", page.GetProperty("kind").GetString());
        Assert.Equal("[0:00] Welcome aboard the harbour tour.\n[1:02:05] On the left, the old lighthouse.\n", page.GetProperty("text").GetString());
        Assert.Null(page.GetProperty("nextOffset").GetString());
        var pages = await CallAsync(client, "get_source", new { sourceId = video, page = 1 });
        Assert.True(pages.IsError);
        Assert.Contains("no pages", TextOf(pages), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resources_list_the_sources_the_key_can_read_and_read_their_text()
    {
        var (world, client) = await ReaderAsync();
        await using var _ = client;
        var handbook = $"aihub://orgs/{world.A.OrgId}/sources/{world.A.HandbookId}";

        var resources = await client.ListResourcesAsync(cancellationToken: Ct);
        Assert.Contains(resources, r => r.Uri == handbook && r.MimeType == "text/plain");
        Assert.Contains(resources, r => r.Uri == $"aihub://orgs/{world.A.OrgId}/sources/{world.ContractId}");
        Assert.DoesNotContain(resources, r => r.Uri.Contains(world.B.OrgId.ToString(), StringComparison.Ordinal));
        var templates = await client.ListResourceTemplatesAsync(cancellationToken: Ct);
        Assert.Contains(templates, t => t.UriTemplate == "aihub://orgs/{orgId}/sources/{sourceId}");

        var read = await client.ReadResourceAsync(handbook, cancellationToken: Ct);
        var text = Assert.IsType<TextResourceContents>(Assert.Single(read.Contents));
        Assert.Equal(handbook, text.Uri);
        Assert.Contains("The morning ferry to Lindholm leaves the north pier", text.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompts_give_the_workspace_instructions_with_the_question()
    {
        var (_, client) = await ReaderAsync();
        await using var __ = client;

        var prompts = await client.ListPromptsAsync(cancellationToken: Ct);
        var general = Assert.Single(prompts, p => p.Name == "workspace-general");
        Assert.Contains(general.ProtocolPrompt.Arguments!, a => a.Name == "question");
        // Legal has no instructions of its own and the org has none: no prompt for it.
        Assert.DoesNotContain(prompts, p => p.Name == "workspace-legal");

        var prompt = await client.GetPromptAsync("workspace-general", new Dictionary<string, object?> { ["question"] = "Can I bring my bicycle?" }, cancellationToken: Ct);
        var message = Assert.Single(prompt.Messages);
        Assert.Equal(Role.User, message.Role);
        var text = Assert.IsType<TextContentBlock>(message.Content).Text;
        Assert.Contains(Instructions, text, StringComparison.Ordinal);
        Assert.EndsWith("Can I bring my bicycle?", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_of_org_A_finds_nothing_of_org_B_through_any_tool_resource_or_prompt()
    {
        var (world, client) = await ReaderAsync();
        await using var _ = client;
        var b = world.B;

        async Task NotFoundAsync(string tool, object arguments)
        {
            var result = await CallAsync(client, tool, arguments);
            Assert.True(result.IsError, $"{tool}: {TextOf(result)}");
            Assert.Contains("There is no", TextOf(result), StringComparison.Ordinal);
            Assert.DoesNotContain("Marigold", TextOf(result), StringComparison.Ordinal);
        }

        await NotFoundAsync("list_knowledge_bases", new { workspaceId = b.WorkspaceId });
        await NotFoundAsync("search_knowledge", new { query = "launch codename", knowledgeBaseId = b.KnowledgeBaseId });
        await NotFoundAsync("search_knowledge", new { query = "launch codename", workspaceId = b.WorkspaceId });
        await NotFoundAsync("ask", new { question = "What is the launch codename?", knowledgeBaseId = b.KnowledgeBaseId });
        await NotFoundAsync("ask", new { question = "What is the launch codename?", workspaceId = b.WorkspaceId });
        await NotFoundAsync("get_source", new { sourceId = b.HandbookId });
        // The same words as for an id that never existed.
        await NotFoundAsync("get_source", new { sourceId = Guid.NewGuid() });

        var everything = Structured(await CallAsync(client, "search_knowledge", new { query = "secret launch codename orbital greenhouse Marigold", topK = 20 }));
        Assert.DoesNotContain("Marigold", everything.GetProperty("passages").ToString(), StringComparison.Ordinal);
        var bases = Structured(await CallAsync(client, "list_knowledge_bases"));
        Assert.DoesNotContain(bases.GetProperty("knowledgeBases").EnumerateArray(), k => k.GetProperty("id").GetGuid() == b.KnowledgeBaseId);

        foreach (var uri in new[] { $"aihub://orgs/{b.OrgId}/sources/{b.HandbookId}", $"aihub://orgs/{world.A.OrgId}/sources/{b.HandbookId}", "aihub://orgs/x/sources/y" })
        {
            var e = await Assert.ThrowsAsync<McpProtocolException>(() => client.ReadResourceAsync(uri, cancellationToken: Ct).AsTask());
            Assert.Equal(McpErrorCode.ResourceNotFound, e.ErrorCode);
            Assert.Contains("Resource not found", e.Message, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(await client.ListResourcesAsync(cancellationToken: Ct), r => r.Uri.Contains(b.HandbookId.ToString(), StringComparison.Ordinal));

        // Org B's workspace has the same name, but its prompt is not one org A's key can get.
        var bClient = world.B.Start;
        await OrgApiSetPromptAsync(bClient, "Org B's private instructions.");
        Assert.DoesNotContain(await client.ListPromptsAsync(cancellationToken: Ct), p => p.Name != "workspace-general");
        var prompt = await client.GetPromptAsync("workspace-general", cancellationToken: Ct);
        Assert.DoesNotContain("Org B", Assert.IsType<TextContentBlock>(Assert.Single(prompt.Messages).Content).Text, StringComparison.Ordinal);
    }

    static Task<JsonElement> OrgApiSetPromptAsync(Knowledge.KnowledgeStart org, string text) =>
        Organizations.OrgApi.SendAsync(org.Client, org.Owner, HttpMethod.Put, $"/api/orgs/{org.OrgId}/workspaces/{org.WorkspaceId}/system-prompt", new { text });

    [Fact]
    public async Task A_key_bound_to_one_workspace_sees_only_that_workspace()
    {
        var world = await fixture.WorldAsync();
        var (_, secret) = await KeyAsync(world.A.Start, world.LegalWorkspaceId, Reader);
        await using var client = await ConnectAsync(fixture.Root, secret);

        var bases = Structured(await CallAsync(client, "list_knowledge_bases")).GetProperty("knowledgeBases").EnumerateArray().ToList();
        Assert.Equal(world.LegalBaseId, Assert.Single(bases).GetProperty("id").GetGuid());
        Assert.Equal(1, bases[0].GetProperty("ready").GetInt32());

        var found = Structured(await CallAsync(client, "search_knowledge", new { query = "ferry north pier nine o'clock", topK = 20 }));
        Assert.DoesNotContain(found.GetProperty("passages").EnumerateArray(), p => p.GetProperty("sourceId").GetGuid() == world.A.HandbookId);
        var rent = Structured(await CallAsync(client, "search_knowledge", new { query = "quarterly rent of the warehouse" }));
        Assert.Equal(world.ContractId, rent.GetProperty("passages").EnumerateArray().First().GetProperty("sourceId").GetGuid());

        var other = await CallAsync(client, "get_source", new { sourceId = world.A.HandbookId });
        Assert.True(other.IsError);
        var outside = await CallAsync(client, "search_knowledge", new { query = "ferry", workspaceId = world.A.WorkspaceId });
        Assert.True(outside.IsError);
        var resources = await client.ListResourcesAsync(cancellationToken: Ct);
        Assert.Equal($"aihub://orgs/{world.A.OrgId}/sources/{world.ContractId}", Assert.Single(resources).Uri);
        await Assert.ThrowsAsync<McpProtocolException>(() => client.ReadResourceAsync($"aihub://orgs/{world.A.OrgId}/sources/{world.A.HandbookId}", cancellationToken: Ct).AsTask());
        // General's instructions are not this key's to get.
        Assert.Empty(await client.ListPromptsAsync(cancellationToken: Ct));
    }

    [Fact]
    public async Task A_key_without_knowledge_read_is_told_which_permission_it_lacks()
    {
        var world = await fixture.WorldAsync();
        var (_, secret) = await KeyAsync(world.A.Start, null, "workspaces:read");
        await using var client = await ConnectAsync(fixture.Root, secret);

        foreach (var (tool, arguments) in new (string, object)[]
        {
            ("list_knowledge_bases", new { }),
            ("search_knowledge", new { query = "ferry" }),
            ("ask", new { question = "When does the ferry leave?" }),
            ("get_source", new { sourceId = world.A.HandbookId }),
        })
        {
            var result = await CallAsync(client, tool, arguments);
            Assert.True(result.IsError, tool);
            Assert.Contains("This API key may not do that: it needs the knowledge:read permission.", TextOf(result), StringComparison.Ordinal);
        }
        var e = await Assert.ThrowsAnyAsync<McpException>(() => client.ReadResourceAsync($"aihub://orgs/{world.A.OrgId}/sources/{world.A.HandbookId}", cancellationToken: Ct).AsTask());
        Assert.Contains("knowledge:read", e.Message, StringComparison.Ordinal);
    }
}

[Collection(nameof(McpKnowledgeTests))]
public sealed class SqliteMcpKnowledgeTests(SqliteMcpKnowledgeFixture fixture) : McpKnowledgeTests(fixture), IClassFixture<SqliteMcpKnowledgeFixture>;

[Collection(nameof(McpKnowledgeTests))]
public sealed class PostgresMcpKnowledgeTests(PostgresMcpKnowledgeFixture fixture) : McpKnowledgeTests(fixture), IClassFixture<PostgresMcpKnowledgeFixture>;
