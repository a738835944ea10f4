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

    /// <summary>An upgrade request as a raw peer sends it: the status line, the headers and the body of the answer.</summary>
    async Task<(int Status, Dictionary<string, string> Headers, string Body)> UpgradeAsync(string pathAndQuery, string? authorization = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(SocketUri.Host, SocketUri.Port, Ct);
        var stream = tcp.GetStream();
        var handshake = $"GET {pathAndQuery} HTTP/1.1\r\nHost: {SocketUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\nSec-WebSocket-Version: 13\r\n" +
            (authorization is null ? "" : $"Authorization: {authorization}\r\n") + "Accept: text/html\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(handshake), Ct);
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(10));
        async Task<bool> ReadMoreAsync()
        {
            var read = await stream.ReadAsync(buffer, limit.Token);
            received.AddRange(buffer.AsSpan(0, read));
            return read > 0;
        }
        int HeadEnd() => Encoding.ASCII.GetString([.. received]).IndexOf("\r\n\r\n", StringComparison.Ordinal);
        while (HeadEnd() < 0 && await ReadMoreAsync()) { }
        var headEnd = HeadEnd();
        var lines = Encoding.ASCII.GetString([.. received], 0, headEnd).Split("\r\n");
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).GroupBy(p => p[0].Trim(), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First()[1].Trim(), StringComparer.OrdinalIgnoreCase);
        // The server keeps the connection open, so the body ends where its length or its last chunk says.
        var bodyStart = headEnd + 4;
        var body = new List<byte>();
        if (headers.TryGetValue("Content-Length", out var length))
        {
            var size = int.Parse(length, System.Globalization.CultureInfo.InvariantCulture);
            while (received.Count - bodyStart < size && await ReadMoreAsync()) { }
            body.AddRange(received.Skip(bodyStart).Take(size));
        }
        else if (headers.GetValueOrDefault("Transfer-Encoding") == "chunked")
        {
            while (!Encoding.ASCII.GetString([.. received]).EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal) && await ReadMoreAsync()) { }
            var raw = received.Skip(bodyStart).ToArray();
            for (var at = 0; ;)
            {
                var lineEnd = Array.IndexOf(raw, (byte)'\r', at);
                var size = Convert.ToInt32(Encoding.ASCII.GetString(raw, at, lineEnd - at), 16);
                if (size == 0)
                    break;
                body.AddRange(raw.AsSpan(lineEnd + 2, size));
                at = lineEnd + 2 + size + 2;
            }
        }
        return (int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), headers, Encoding.UTF8.GetString([.. body]));
    }

    [Fact]
    public async Task An_upgrade_without_credentials_or_with_a_bad_token_is_a_401_problem_and_never_a_redirect_that_copies_the_token()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        const string bad = "not-a-valid-token-5d1c";
        foreach (var (path, authorization) in new[]
        {
            ("/ws", (string?)null),
            ($"/ws?access_token={bad}", null),
            ($"/ws?token={bad}", null),
            ($"/ws?access_token={space.Owner.AccessToken}x", null),
            ("/ws", $"Bearer {bad}"),
        })
        {
            var (status, headers, body) = await UpgradeAsync(path, authorization);
            Assert.True(status == 401, $"{path}: {status}");
            Assert.False(headers.ContainsKey("Location"), $"{path} redirected to {headers.GetValueOrDefault("Location")}");
            Assert.StartsWith("application/problem+json", headers["Content-Type"]);
            var problem = JsonDocument.Parse(body).RootElement;
            Assert.Equal(401, problem.GetProperty("status").GetInt32());
            Assert.DoesNotContain(bad, body, StringComparison.Ordinal);
        }

        // Both query parameters and the header let a good token in.
        Assert.Equal(101, (await UpgradeAsync($"/ws?access_token={space.Owner.AccessToken}")).Status);
        Assert.Equal(101, (await UpgradeAsync($"/ws?token={space.Owner.AccessToken}")).Status);
        Assert.Equal(101, (await UpgradeAsync("/ws", $"Bearer {space.Owner.AccessToken}")).Status);
    }

    [Fact]
    public async Task A_token_in_the_query_is_for_socket_upgrades_only_and_api_paths_answer_401_problems_not_redirects()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new UriBuilder(SocketUri) { Scheme = "http", Path = "/" }.Uri };
        var withHeader = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        withHeader.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
        using var allowed = await client.SendAsync(withHeader, Ct);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);

        foreach (var path in new[] { $"/api/me?access_token={space.Owner.AccessToken}", $"/api/me?token={space.Owner.AccessToken}", "/api/me", "/ws" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            // A browser's Accept, which on a page would earn the sign-in redirect.
            request.Headers.Accept.ParseAdd("text/html");
            using var response = await client.SendAsync(request, Ct);
            var body = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{path}: {(int)response.StatusCode} {response.Headers.Location}");
            Assert.Null(response.Headers.Location);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Bearer", JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Tokens_sent_in_the_query_of_an_upgrade_never_reach_the_log()
    {
        var logs = new LogCapture();
        // Everything at Trace, ASP.NET Core's request lines (with their query strings) included.
        await using var host = await fixture.StartHostAsync(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
        }, services => services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));
        var space = await ChatStreamTests.SpaceAsync(host);
        using var probe = host.App.CreateClient();
        var uri = new UriBuilder(probe.BaseAddress!) { Scheme = "ws", Path = "/ws" }.Uri;
        const string bad = "qs-secret-5f0b8c1e9a7d";

        using (var socket = new ClientWebSocket())
        {
            await socket.ConnectAsync(new UriBuilder(uri) { Query = $"access_token={space.Owner.AccessToken}" }.Uri, Ct);
            await SendAsync(socket, new { id = "log", type = "chat", model = ChatFixture.Main, stream = false, messages = new[] { new { role = "user", content = "hello" } } });
            Assert.Equal("done", (await ReceiveAsync(socket))!.Value.GetProperty("type").GetString());
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
        }
        foreach (var query in new[] { $"token={space.Owner.AccessToken}x", $"access_token={bad}", $"token={bad}" })
        {
            using var socket = new ClientWebSocket();
            await Assert.ThrowsAnyAsync<WebSocketException>(() => socket.ConnectAsync(new UriBuilder(uri) { Query = query }.Uri, Ct));
        }

        var written = string.Join("\n", logs.Written);
        // ASP.NET Core's request line carries the query as it came, so the masking below is what keeps the token out.
        Assert.Contains(logs.Lines, l => l.Contains(bad, StringComparison.Ordinal));
        // The request lines were written, with their queries masked.
        Assert.Contains("/ws?access_token=***", written, StringComparison.Ordinal);
        Assert.Contains("/ws?token=***", written, StringComparison.Ordinal);
        Assert.Contains(logs.Entries, e => e.Category.StartsWith("Microsoft.AspNetCore.Authentication", StringComparison.Ordinal));
        Assert.DoesNotContain(space.Owner.AccessToken, written, StringComparison.Ordinal);
        Assert.DoesNotContain(space.Owner.AccessToken.Split('.')[2], written, StringComparison.Ordinal);
        Assert.DoesNotContain(bad, written, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_written_from_the_brief_alone_speaks_the_protocol_over_a_real_port()
    {
        var space = await ChatStreamTests.SpaceAsync(fixture.Host);
        // The script asks more questions than the free plan's three.
        await QuotaTests.OnPlanAsync(space.Client, await fixture.Host.SuperAdminAsync(space.Client), space.OrgId, "SOCKET100", chatQuestions: 100);
        var address = new UriBuilder(SocketUri) { Scheme = "http", Path = "/" }.Uri.AbsoluteUri;
        // A host that pings every 3 s, so the script measures the cadence without waiting the default 30 s.
        await using var pinging = await fixture.StartHostAsync(new Dictionary<string, string?> { ["Chat:WebSocket:PingInterval"] = "00:00:03" });
        var pinged = await ChatStreamTests.SpaceAsync(pinging);
        using var probe = pinging.App.CreateClient();
        var result = await NodeClients.RunAsync("ws/protocol.mjs",
            [address, space.Owner.AccessToken, ChatFixture.Main, ChatFixture.Claude, probe.BaseAddress!.AbsoluteUri, pinged.Owner.AccessToken, "3"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("a duplicate id is refused", result.Stdout, StringComparison.Ordinal);
        await ChatStreamTests.AssertAllSettledAsync(fixture.Host, space.OrgId);
    }

    [Fact]
    public void The_default_ping_is_every_30_seconds_on_dotnets_heartbeat()
    {
        var settings = new AiHub.Chat.Sockets.SocketSettings();
        var (interval, timeout) = AiHub.Chat.Sockets.SocketSettings.KeepAlive(settings.PingInterval);
        // .NET checks on a beat of min(interval, timeout) / 4 and pings on the first beat after the interval since
        // the peer's last frame: its pong, which comes back some time after the previous ping. The script of
        // A_client_written_from_the_brief_alone… measures the same on a real socket with a shorter period.
        var beat = (interval < timeout ? interval : timeout) / 4;
        var afterPong = TimeSpan.FromMilliseconds(150);
        var beats = (int)Math.Floor((interval + afterPong) / beat) + 1;
        Assert.Equal(TimeSpan.FromSeconds(30), settings.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(30), beat * beats);
        Assert.True(timeout >= settings.PingInterval, "a peer has until the next ping is due to answer");
    }

    [Fact]
    public async Task A_peer_that_answers_pings_stays_and_one_that_leaves_a_ping_unanswered_is_closed()
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
