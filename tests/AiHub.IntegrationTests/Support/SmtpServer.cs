using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;

namespace AiHub.IntegrationTests.Support;

/// <summary>
/// A real SMTP server on loopback: Debian's aiosmtpd, which stores every mail it accepts in a Maildir that tests read back.
/// Use it as a class fixture, or start one on a chosen port with <see cref="StartAsync"/> (e.g. where AiHub already
/// failed to connect).
/// </summary>
public sealed class SmtpServer : IAsyncLifetime
{
    // apt installs aiosmtpd for Debian's interpreter, which a python3 earlier on PATH (pyenv) does not see.
    static readonly string Python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    readonly string _directory = Directory.CreateTempSubdirectory("aihub-smtp-").FullName;
    readonly HashSet<string> _returned = [];
    readonly StringBuilder _output = new();
    readonly int? _maxMessageSize;
    Process? _process;

    public SmtpServer()
    {
    }

    /// <param name="port">0 for any free port.</param>
    /// <param name="maxMessageSize">Larger mails are refused for good (552), as a real server's size limit does.</param>
    public SmtpServer(int port, int? maxMessageSize = null)
    {
        Port = port;
        _maxMessageSize = maxMessageSize;
    }

    public string Host { get; } = "127.0.0.1";

    public int Port { get; private set; }

    string Maildir => Path.Combine(_directory, "maildir");

    public static async Task<SmtpServer> StartAsync(int port = 0, int? maxMessageSize = null)
    {
        var server = new SmtpServer(port, maxMessageSize);
        try
        {
            await server.InitializeAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>A loopback port that nothing listens on right now.</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask InitializeAsync()
    {
        var chosen = Port != 0;
        for (var attempt = 1; ; attempt++)
        {
            if (!chosen)
                Port = FreePort();
            try
            {
                await StartProcessAsync();
                return;
            }
            catch (InvalidOperationException) when (!chosen && attempt < 3)
            {
                // Another process took the free port between our look and aiosmtpd's bind.
            }
        }
    }

    async Task StartProcessAsync()
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-m", "aiosmtpd", "-n", "-l", $"{Host}:{Port}", "-c", "aiosmtpd.handlers.Mailbox" })
            start.ArgumentList.Add(arg);
        if (_maxMessageSize is { } size)
        {
            start.ArgumentList.Add("-s");
            start.ArgumentList.Add(size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        start.ArgumentList.Add(Maildir);
        start.Environment["PYTHONUNBUFFERED"] = "1";

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Python} -m aiosmtpd.");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                _process = null;
                process.Dispose();
                throw new InvalidOperationException(
                    $"aiosmtpd exited with code {process.ExitCode} before accepting connections on port {Port} " +
                    $"(is python3-aiosmtpd installed? scripts/test.sh installs it): {Output()}");
            }
            if (await AcceptsConnectionsAsync())
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"aiosmtpd did not accept connections on port {Port} within 20 s: {Output()}");
            await Task.Delay(50);
        }
    }

    async Task<bool> AcceptsConnectionsAsync()
    {
        using var client = new TcpClient();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await client.ConnectAsync(Host, Port, timeout.Token);
            // The greeting shows that aiosmtpd, not some other listener, owns the port.
            var buffer = new byte[3];
            var read = await client.GetStream().ReadAsync(buffer, timeout.Token);
            return read == 3 && Encoding.ASCII.GetString(buffer) == "220";
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The first mail to <paramref name="to"/> (envelope or header) that this method has not returned before.</summary>
    public async Task<MimeMessage> WaitForMessageAsync(string to, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var (file, message) in await ReadAsync(to))
            {
                lock (_returned)
                {
                    if (_returned.Add(file))
                        return message;
                }
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"No new mail to {to} reached the SMTP server on port {Port} within {timeout.TotalSeconds:0.#} s.");
            await Task.Delay(50);
        }
    }

    /// <summary>Every mail to <paramref name="to"/> received so far, oldest first.</summary>
    public async Task<IReadOnlyList<MimeMessage>> MessagesToAsync(string to) =>
        [.. (await ReadAsync(to)).Select(m => m.Message)];

    async Task<List<(string File, MimeMessage Message)>> ReadAsync(string to)
    {
        var folder = new DirectoryInfo(Path.Combine(Maildir, "new"));
        if (!folder.Exists)
            return [];
        var found = new List<(string, MimeMessage)>();
        // aiosmtpd writes into tmp/ and renames into new/, so every file here is complete.
        foreach (var file in folder.GetFiles().OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal))
        {
            var message = await MimeMessage.LoadAsync(file.FullName);
            if (IsAddressedTo(message, to))
                found.Add((file.Name, message));
        }
        return found;
    }

    static bool IsAddressedTo(MimeMessage message, string to)
    {
        // aiosmtpd's Maildir handler records the envelope recipients, which are the truth for Bcc too.
        var envelope = message.Headers["X-RcptTo"]?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];
        return envelope.Contains(to, StringComparer.OrdinalIgnoreCase)
            || message.To.Mailboxes.Any(m => string.Equals(m.Address, to, StringComparison.OrdinalIgnoreCase));
    }

    void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    string Output()
    {
        lock (_output)
            return _output.ToString().Trim();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        if (Directory.Exists(_directory))
            Directory.Delete(_directory, recursive: true);
    }
}
