using System.Net;
using System.Net.Sockets;

namespace AiHub.IntegrationTests.Support;

/// <summary>Sits between AiHub and a real server so that a test can make the server vanish and come back, connections and all.</summary>
public sealed class TcpForwarder(string targetHost, int targetPort) : IAsyncDisposable
{
    TcpListener? _listener;
    CancellationTokenSource? _running;
    readonly List<TcpClient> _open = [];
    readonly Lock _gate = new();

    public int Port { get; private set; }

    public void Start()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _running = new CancellationTokenSource();
        _ = AcceptAsync(_listener, _running.Token);
    }

    /// <summary>Refuses new connections and cuts the open ones, as a stopped server would.</summary>
    public void Stop()
    {
        _running?.Cancel();
        _listener?.Stop();
        lock (_gate)
        {
            foreach (var client in _open)
                client.Dispose();
            _open.Clear();
        }
    }

    async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = PipeAsync(inbound, ct);
        }
    }

    async Task PipeAsync(TcpClient inbound, CancellationToken ct)
    {
        var outbound = new TcpClient();
        lock (_gate)
        {
            _open.Add(inbound);
            _open.Add(outbound);
        }
        try
        {
            await outbound.ConnectAsync(targetHost, targetPort, ct);
            var a = inbound.GetStream().CopyToAsync(outbound.GetStream(), ct);
            var b = outbound.GetStream().CopyToAsync(inbound.GetStream(), ct);
            await Task.WhenAny(a, b);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            inbound.Dispose();
            outbound.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        _running?.Dispose();
        return ValueTask.CompletedTask;
    }
}
