using System.Net;
using System.Net.Sockets;
using AiHub.Infrastructure.Outbound;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiHub.Tests;

public sealed class OutboundAddressTests
{
    [Theory]
    // IPv4: loopback, RFC 1918, CGNAT.
    [InlineData("127.0.0.1", "Private")]
    [InlineData("127.255.255.254", "Private")]
    [InlineData("10.0.0.1", "Private")]
    [InlineData("10.255.255.255", "Private")]
    [InlineData("172.16.0.1", "Private")]
    [InlineData("172.31.255.255", "Private")]
    [InlineData("192.168.0.1", "Private")]
    [InlineData("100.64.0.1", "Private")]
    [InlineData("100.127.255.255", "Private")]
    // IPv4: link-local and metadata, unspecified, broadcast, multicast, reserved.
    [InlineData("169.254.169.254", "Never")]
    [InlineData("169.254.170.2", "Never")]
    [InlineData("169.254.0.1", "Never")]
    [InlineData("0.0.0.0", "Never")]
    [InlineData("0.1.2.3", "Never")]
    [InlineData("255.255.255.255", "Never")]
    [InlineData("224.0.0.1", "Never")]
    [InlineData("239.255.255.250", "Never")]
    [InlineData("240.0.0.1", "Never")]
    // IPv4: the edges of each range are public.
    [InlineData("172.15.255.255", "Public")]
    [InlineData("172.32.0.0", "Public")]
    [InlineData("100.63.255.255", "Public")]
    [InlineData("100.128.0.0", "Public")]
    [InlineData("192.169.0.1", "Public")]
    [InlineData("11.0.0.1", "Public")]
    [InlineData("8.8.8.8", "Public")]
    [InlineData("223.255.255.255", "Public")]
    // IPv6: loopback, unique-local, local-use NAT64.
    [InlineData("::1", "Private")]
    [InlineData("fc00::1", "Private")]
    [InlineData("fd12:3456::1", "Private")]
    [InlineData("64:ff9b:1::a00:1", "Private")]
    // IPv6: metadata, link-local, site-local, multicast, unspecified, discard.
    [InlineData("fd00:ec2::254", "Never")]
    [InlineData("fe80::1", "Never")]
    [InlineData("febf::1", "Never")]
    [InlineData("fec0::1", "Never")]
    [InlineData("ff02::1", "Never")]
    [InlineData("::", "Never")]
    [InlineData("100::1", "Never")]
    // IPv6 forms that carry an IPv4 address are judged by it.
    [InlineData("::ffff:127.0.0.1", "Private")]
    [InlineData("::ffff:10.1.2.3", "Private")]
    [InlineData("::ffff:169.254.169.254", "Never")]
    [InlineData("::ffff:8.8.8.8", "Public")]
    [InlineData("::127.0.0.1", "Private")]
    [InlineData("::169.254.169.254", "Never")]
    [InlineData("64:ff9b::10.0.0.1", "Private")]
    [InlineData("64:ff9b::169.254.169.254", "Never")]
    [InlineData("64:ff9b::8.8.8.8", "Public")]
    [InlineData("2002:7f00:1::", "Private")]
    [InlineData("2002:a9fe:a9fe::", "Never")]
    [InlineData("2002:808:808::", "Public")]
    // IPv6: public.
    [InlineData("2606:4700::1111", "Public")]
    [InlineData("2001:4860:4860::8888", "Public")]
    public void Every_range_is_classified(string address, string expected) =>
        Assert.Equal(Enum.Parse<OutboundAddressKind>(expected), OutboundAddresses.Classify(IPAddress.Parse(address)));

    [Theory]
    [InlineData("10.0.0.1", false, false)]
    [InlineData("10.0.0.1", true, true)]
    [InlineData("::1", true, true)]
    [InlineData("169.254.169.254", true, false)]
    [InlineData("fd00:ec2::254", true, false)]
    [InlineData("8.8.8.8", false, true)]
    public void Private_networks_open_only_with_the_setting_and_metadata_never(string address, bool allowPrivate, bool allowed) =>
        Assert.Equal(allowed, OutboundAddresses.IsAllowed(IPAddress.Parse(address), allowPrivate));
}

public sealed class OutboundPolicyTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("lan.test", false, false)]
    [InlineData("lan.test", true, true)]
    [InlineData("metadata.test", true, false)]
    [InlineData("metadata6.test", true, false)]
    [InlineData("mixed.test", false, false)]
    [InlineData("mapped.test", false, false)]
    [InlineData("localhost", false, false)]
    [InlineData("api.localhost", false, false)]
    [InlineData("public.test", false, true)]
    public async Task Every_connection_checks_each_address_the_host_resolves_to_before_connecting(string host, bool allowPrivate, bool connects)
    {
        var network = new RecordingNetwork();
        using var http = new HttpClient(Policy(network, allowPrivate).CreateHandler());

        var failure = await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"http://{host}:8080/v1", Ct));

        Assert.Equal(connects, network.Connected.Count > 0);
        Assert.Equal(!connects, OutboundRefusedException.Caused(failure));
        Assert.All(network.Connected, e => Assert.Equal(8080, e.Port));
    }

    [Theory]
    [InlineData("ftp://api.example.com/v1", false, "http or https")]
    [InlineData("https://user:secret@api.example.com/v1", false, "user name")]
    [InlineData("http://127.0.0.1:11434/v1", false, "private-network")]
    [InlineData("http://localhost:11434/v1", false, "private-network")]
    [InlineData("http://[::ffff:10.0.0.1]/v1", false, "private-network")]
    [InlineData("http://169.254.169.254/", true, "never")]
    [InlineData("http://[fe80::1]/", true, "never")]
    public void A_url_that_could_never_be_fetched_is_refused_before_it_is_saved(string url, bool allowPrivate, string why) =>
        Assert.Contains(why, Policy(new RecordingNetwork(), allowPrivate).Refuse(new Uri(url)), StringComparison.Ordinal);

    [Theory]
    [InlineData("https://api.example.com/v1", false)]
    [InlineData("http://127.0.0.1:11434/v1", true)]
    [InlineData("http://192.168.1.20:11434/v1", true)]
    [InlineData("http://ollama.lan:11434/v1", false)]
    public void A_url_that_may_be_fetched_is_accepted(string url, bool allowPrivate) =>
        Assert.Null(Policy(new RecordingNetwork(), allowPrivate).Refuse(new Uri(url)));

    [Fact]
    public void The_handler_follows_no_redirect_and_uses_no_proxy()
    {
        using var handler = Policy(new RecordingNetwork(), false).CreateHandler();

        Assert.False(handler.AllowAutoRedirect);
        Assert.False(handler.UseProxy);
        Assert.NotNull(handler.ConnectCallback);
    }

    static OutboundPolicy Policy(OutboundNetwork network, bool allowPrivate) =>
        new(Options.Create(new OutboundSettings { AllowPrivateNetworks = allowPrivate }), network, NullLogger<OutboundPolicy>.Instance);

    /// <summary>Resolves a few made-up names and records every connection attempt, which it then fails: nothing leaves the test.</summary>
    sealed class RecordingNetwork : OutboundNetwork
    {
        public List<IPEndPoint> Connected { get; } = [];

        public override Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) => Task.FromResult(host switch
        {
            "lan.test" => [IPAddress.Parse("10.1.2.3")],
            "metadata.test" => [IPAddress.Parse("169.254.169.254")],
            "metadata6.test" => [IPAddress.Parse("fd00:ec2::254")],
            "mixed.test" => [IPAddress.Parse("93.184.215.14"), IPAddress.Loopback],
            "mapped.test" => [IPAddress.Parse("::ffff:127.0.0.1")],
            "public.test" => [IPAddress.Parse("93.184.215.14")],
            // localhost names are refused before any lookup; answering public here proves the name alone decides.
            _ => new[] { IPAddress.Parse("93.184.215.14") },
        });

        public override Task<Stream> ConnectAsync(IPEndPoint endpoint, CancellationToken ct)
        {
            Connected.Add(endpoint);
            throw new SocketException((int)SocketError.ConnectionRefused);
        }
    }
}
