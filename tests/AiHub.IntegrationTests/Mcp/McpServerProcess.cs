using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>A real MCP server run under Node.js on a free loopback port: started, waited for, and killed on dispose.</summary>
public sealed class McpServerProcess : IAsyncDisposable
{
    readonly Process _process;

    McpServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The server's Streamable HTTP endpoint.</summary>
    public string Url => $"http://127.0.0.1:{Port}/mcp";

    /// <summary>npm <c>@modelcontextprotocol/server-everything</c> in Streamable HTTP mode (it listens on <c>PORT</c>).</summary>
    public static Task<McpServerProcess> EverythingAsync() =>
        StartAsync(NodeClients.Module("@modelcontextprotocol/server-everything/dist/index.js"), ["streamableHttp"]);

    /// <summary>tests/fixtures/node/mcp/mcp-client-misbehaving.mjs: tools that hang, flood, fail and echo the credential.</summary>
    public static Task<McpServerProcess> MisbehavingAsync() =>
        StartAsync(Path.Combine(NodeClients.Directory, "mcp", "mcp-client-misbehaving.mjs"), []);

    static async Task<McpServerProcess> StartAsync(string script, IReadOnlyList<string> args)
    {
        var port = FreePort();
        var start = new ProcessStartInfo("node") { WorkingDirectory = NodeClients.Directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        // Drained so a chatty server never blocks on a full pipe.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new McpServerProcess(process, port);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{script} exited with {process.ExitCode} before listening on {port}.");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
