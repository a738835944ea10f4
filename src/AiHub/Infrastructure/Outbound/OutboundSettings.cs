using AiHub.Infrastructure.Configuration;

namespace AiHub.Infrastructure.Outbound;

/// <summary>The <c>Outbound</c> section: what URLs supplied by organisations (not by the operator) may reach.</summary>
internal sealed class OutboundSettings
{
    public const string Section = "Outbound";

    /// <summary>Lets tenant URLs reach loopback and private networks (a self-hosted server on the LAN); metadata and link-local stay closed.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Opening the TCP (and TLS) connection to a tenant's server.</summary>
    [Duration("00:00:00.100", "00:05:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The most a response read whole (not a stream) may hold.</summary>
    [System.ComponentModel.DataAnnotations.Range(1024, 1L << 30)]
    public long MaxResponseBytes { get; set; } = 10L << 20;
}
