using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Outbound;

/// <summary>
/// The one way to reach a URL an organisation supplied: http(s) only, every resolved address checked at connect time,
/// no redirects, no proxy, a connect timeout, and failures that never describe the target.
/// </summary>
/// <remarks>
/// The check runs in <see cref="SocketsHttpHandler.ConnectCallback"/> on the address actually connected to, so neither a
/// DNS answer that changes between checks nor a redirect can lead a request somewhere the check did not see.
/// </remarks>
internal sealed class OutboundPolicy(IOptions<OutboundSettings> settings, OutboundNetwork network, ILogger<OutboundPolicy> log)
{
    /// <summary>The named HttpClient for tenant URLs that need nothing of their own (URL import, MCP, webhooks).</summary>
    public const string ClientName = "outbound";

    public OutboundSettings Settings => settings.Value;

    /// <summary>A handler for tenant URLs; <paramref name="connectTimeout"/> overrides the setting (a provider's own).</summary>
    public SocketsHttpHandler CreateHandler(TimeSpan? connectTimeout = null) => new()
    {
        ConnectCallback = ConnectAsync,
        ConnectTimeout = connectTimeout ?? Settings.ConnectTimeout,
        // A provider API does not redirect; following one would let a public host send the request (and its key) inward.
        AllowAutoRedirect = false,
        // A proxy would connect on our behalf to an address this check never saw.
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    };

    /// <summary>Applies to an HttpClient the limits a whole-body read needs.</summary>
    public void Configure(HttpClient client) => client.MaxResponseContentBufferSize = Settings.MaxResponseBytes;

    /// <summary>Refuses, before saving it, a URL that could never be fetched: not http(s), or a literal address that is closed.</summary>
    /// <returns>Why the URL is refused, in words for the tenant; null when it may be saved.</returns>
    public string? Refuse(Uri url)
    {
        if (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            return "is an http or https URL.";
        if (!string.IsNullOrEmpty(url.UserInfo))
            return "carries no user name or password; put credentials in the key field.";
        var kind = IPAddress.TryParse(url.IdnHost, out var literal) ? OutboundAddresses.Classify(literal)
            : IsLocalhostName(url.IdnHost) ? OutboundAddressKind.Private : OutboundAddressKind.Public;
        return kind switch
        {
            OutboundAddressKind.Never => "points to an address this deployment never lets organisations reach (link-local, metadata, multicast or reserved).",
            OutboundAddressKind.Private when !Settings.AllowPrivateNetworks =>
                "points to a loopback or private-network address, which this deployment does not let organisations reach.",
            _ => null,
        };
    }

    async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var allowPrivate = Settings.AllowPrivateNetworks;
        if (IsLocalhostName(host) && !allowPrivate)
            throw Refused(host, "a localhost name is loopback");
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await network.ResolveAsync(host, ct);
        var allowed = addresses.Where(a => OutboundAddresses.IsAllowed(a, allowPrivate)).ToList();
        // One closed address among several is a sign of a rebinding trick, not a reason to try the others.
        if (allowed.Count == 0 || allowed.Count != addresses.Length)
            throw Refused(host, addresses.Length == 0 ? "it has no address" : "it resolves to a closed address");
        Exception? last = null;
        foreach (var address in allowed)
        {
            try
            {
                return await network.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct);
            }
            catch (SocketException e)
            {
                last = e;
            }
        }
        throw new HttpRequestException(HttpRequestError.ConnectionError, "The server could not be reached.", last);
    }

    OutboundRefusedException Refused(string host, string why)
    {
        log.LogWarning("An outbound request to {Host} was refused: {Why}", host, why);
        return new OutboundRefusedException();
    }

    /// <summary>localhost and *.localhost are loopback by definition (RFC 6761), whatever a resolver says.</summary>
    static bool IsLocalhostName(string host)
    {
        var name = host.TrimEnd('.');
        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>Name resolution and the TCP connect, apart so that a test can stand a public-looking host in front of a local listener.</summary>
internal class OutboundNetwork
{
    public virtual async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) =>
        await Dns.GetHostAddressesAsync(host, ct);

    public virtual async Task<Stream> ConnectAsync(IPEndPoint endpoint, CancellationToken ct)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A tenant URL led to an address the policy closes; its message says nothing of where.</summary>
internal sealed class OutboundRefusedException() : HttpRequestException(HttpRequestError.ConnectionError, "The outbound policy refused the connection.")
{
    /// <summary>Whether the policy refused somewhere under <paramref name="failure"/>: the handler wraps what its connect callback throws.</summary>
    public static bool Caused(Exception? failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
            if (e is OutboundRefusedException)
                return true;
        return false;
    }
}
