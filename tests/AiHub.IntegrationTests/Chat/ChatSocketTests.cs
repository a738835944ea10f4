using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Credits;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Organizations;

namespace AiHub.IntegrationTests.Chat;

/// <summary>The <c>/ws</c> protocol over a real socket: several requests at once, errors per request, and the heartbeat.</summary>
public sealed class ChatSocketTests(SqliteChatFixture fixture) : IClassFixture<SqliteChatFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    Uri SocketUri
    {
        get
        {
            using var client = fixture.Host.App.CreateClient();
            return new UriBuilder(client.BaseAddress!) { Scheme = "ws", Path = "/ws" }.Uri;
        }
    }

    async Task<ClientWebSocket> ConnectAsync(string token)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
        await socket.ConnectAsync(SocketUri, Ct);
        return socket;
    }

    static Task SendAsync(ClientWebSocket socket, object message) =>
        socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message, JsonSerializerOptions.Web), WebSocketMessageType.Text, true, Ct);

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

    [Fact]
    public async Task Several_requests_run_at_once_on_one_socket_and_each_ends_with_its_own_done()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        using var socket = await ConnectAsync(space.Owner.AccessToken);
        string[] ids = ["a", "b", "c"];
        foreach (var id in ids)
            await SendAsync(socket, new
            {
                id, type = "chat", model = ChatFixture.Main, stream = true,
                messages = new[] { new { role = "user", content = $"[[fake:delay=60;chunks=5]] question {id}" } },
            });

        var text = ids.ToDictionary(i => i, _ => new StringBuilder());
        var done = new Dictionary<string, JsonElement>();
        var order = new List<string>();
        while (done.Count < ids.Length && await ReceiveAsync(socket) is { } message)
        {
            var id = message.GetProperty("id").GetString()!;
            var type = message.GetProperty("type").GetString();
            order.Add(id);
            if (type == "chunk")
                text[id].Append(message.GetProperty("data").GetString());
            else
            {
                Assert.Equal("done", type);
                done[id] = message;
            }
        }
        foreach (var id in ids)
        {
            Assert.Contains($"question {id}", text[id].ToString());
            var usage = done[id].GetProperty("usage");
            Assert.Equal("complete", usage.GetProperty("status").GetString());
            Assert.True(usage.GetProperty("costMicros").GetInt64() > 0);
        }
        // The answers were interleaved, not run one after another.
        Assert.NotEqual(order.OrderBy(i => i).ToList(), order);
        await ChatStreamTests.AssertAllSettledAsync(fixture.Host, space.OrgId);
    }

    [Fact]
    public async Task A_refused_request_gets_an_error_for_its_id_and_the_socket_stays_usable()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        using var socket = await ConnectAsync(space.Owner.AccessToken);
        await SendAsync(socket, new { id = "x", type = "chat", model = "no-such-model", messages = new[] { new { role = "user", content = "hi" } } });
        var error = (await ReceiveAsync(socket))!.Value;
        Assert.Equal("x", error.GetProperty("id").GetString());
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal(404, error.GetProperty("error").GetProperty("status").GetInt32());

        await SendAsync(socket, new { id = "y", type = "chat", model = ChatFixture.Main, stream = false, messages = new[] { new { role = "user", content = "still there?" } } });
        var done = (await ReceiveAsync(socket))!.Value;
        Assert.Equal("done", done.GetProperty("type").GetString());
        Assert.Contains("still there?", done.GetProperty("data").GetString());
    }

    [Fact]
    public async Task Another_orgs_id_is_not_found_on_the_socket_as_on_http_and_nothing_is_held_or_charged()
    {
        var mine = await ChatStreamTests.SpaceAsync(fixture.Host);
        var theirs = await ChatStreamTests.SpaceAsync(fixture.Host);
        var http = await OrgApi.SendAsync(mine.Client, mine.Owner, HttpMethod.Post, theirs.Messages, new { content = "hi", model = ChatFixture.Main }, HttpStatusCode.NotFound);

        using var socket = await ConnectAsync(mine.Owner.AccessToken);
        await SendAsync(socket, new
        {
            id = "x", type = "chat", model = ChatFixture.Main, stream = false, orgId = theirs.OrgId, workspaceId = theirs.WorkspaceId,
            messages = new[] { new { role = "user", content = "hi" } },
        });
        var error = (await ReceiveAsync(socket))!.Value;

        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal(404, error.GetProperty("error").GetProperty("status").GetInt32());
        Assert.Equal(http.GetProperty("type").GetString(), error.GetProperty("error").GetProperty("type").GetString());
        await using var scope = fixture.Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Guid[] orgs = [mine.OrgId, theirs.OrgId];
        Assert.Equal(0, await db.Set<LedgerHold>().CountAsync(h => h.OrganizationId != null && orgs.Contains(h.OrganizationId.Value), Ct));
        Assert.Equal(0, await db.Set<UsageRecord>().CountAsync(u => orgs.Contains(u.OrganizationId), Ct));
        Assert.Equal(0, await db.Set<StoredMessage>().CountAsync(m => orgs.Contains(m.OrganizationId), Ct));
        Assert.Empty(await fixture.Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_server_that_ignores_the_cap_is_cut_at_it_on_the_socket_too()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        using var socket = await ConnectAsync(space.Owner.AccessToken);
        var words = string.Join(' ', Enumerable.Range(1, 300).Select(i => $"word{i}"));
        await SendAsync(socket, new
        {
            id = "capped", type = "chat", model = ChatFixture.Main, stream = true, maxTokens = 5,
            messages = new[] { new { role = "user", content = $"[[fake:ignore-max-tokens;delay=20;text={words}]]" } },
        });

        var text = new StringBuilder();
        JsonElement done;
        while (true)
        {
            var message = (await ReceiveAsync(socket))!.Value;
            if (message.GetProperty("type").GetString() == "chunk")
                text.Append(message.GetProperty("data").GetString());
            else
            {
                done = message;
                break;
            }
        }
        Assert.Equal("done", done.GetProperty("type").GetString());
        var usage = done.GetProperty("usage");
        Assert.Equal("incomplete", usage.GetProperty("status").GetString());
        Assert.Equal("length", usage.GetProperty("finishReason").GetString());
        var tokens = fixture.Host.App.Services.GetRequiredService<AiHub.Chat.Tokens.TokenCounter>();
        Assert.Equal(5, tokens.Count(ChatFixture.Main, text.ToString()));
        Assert.InRange(usage.GetProperty("costMicros").GetInt64(), 1, (await ChatStreamTests.HoldOfAsync(fixture.Host, space.OrgId)).Amount);
        var request = fixture.Fake.Requests.Single(r => r.Model == ChatFixture.Main && r.MaxTokens == 5);
        Assert.Equal(AiHub.Fixtures.FakeLlmOutcome.ClientDisconnected, await request.Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        await ChatStreamTests.AssertAllSettledAsync(fixture.Host, space.OrgId);
    }

    [Fact]
    public async Task Connecting_without_credentials_is_refused()
    {
        using var socket = new ClientWebSocket();
        await Assert.ThrowsAnyAsync<WebSocketException>(() => socket.ConnectAsync(SocketUri, Ct));
    }

    [Fact]
    public async Task A_peer_that_answers_pings_stays_and_one_that_misses_two_is_closed()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        using var live = await ConnectAsync(space.Owner.AccessToken);
        // A client answers pings while it reads, as browsers always do.
        var next = ReceiveAsync(live);

        // A raw peer: it upgrades, then never reads, so it never answers the server's pings.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(SocketUri.Host, SocketUri.Port, Ct);
        var stream = tcp.GetStream();
        var handshake = $"GET /ws HTTP/1.1\r\nHost: {SocketUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {space.Owner.AccessToken}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(handshake), Ct);
        var watch = Stopwatch.StartNew();
        var buffer = new byte[4096];
        var received = new StringBuilder();
        while (!received.ToString().Contains("\r\n\r\n"))
            received.Append(Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer, Ct)));
        Assert.StartsWith("HTTP/1.1 101", received.ToString());

        // Reading now only to see the end: the pings (opcode 9) pile up unanswered until the server gives up.
        int read;
        var pings = 0;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            while ((read = await stream.ReadAsync(buffer, limit.Token)) > 0)
                pings += buffer.Take(read).Count(b => b == 0x89);
        }
        catch (IOException)
        {
            // The server aborted the connection: as good as a close.
        }
        Assert.True(pings >= 1, "the server pinged");
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10));

        // The well-behaved client answered every ping and is still served.
        Assert.Equal(WebSocketState.Open, live.State);
        await SendAsync(live, new { id = "z", type = "chat", model = ChatFixture.Main, stream = false, messages = new[] { new { role = "user", content = "alive" } } });
        Assert.Equal("done", (await next)!.Value.GetProperty("type").GetString());
    }
}
