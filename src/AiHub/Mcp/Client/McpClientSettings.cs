using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Mcp.Client;

/// <summary>The <c>Mcp:Client</c> section: limits on the remote MCP servers organisations register as chat tools.</summary>
internal sealed class McpClientSettings
{
    public const string Section = "Mcp:Client";

    /// <summary>A tool call's time limit when the server sets none.</summary>
    [Duration("00:00:00.100", "00:10:00")]
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest time limit an org may set for a server's calls.</summary>
    [Duration("00:00:00.100", "00:30:00")]
    public TimeSpan MaxTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The most a tool's response may hold, when the server sets no lower limit.</summary>
    [Range(1024, 64 << 20)]
    public int DefaultMaxResultBytes { get; set; } = 256 << 10;

    /// <summary>The highest result limit an org may set for a server.</summary>
    [Range(1024, 64 << 20)]
    public int MaxResultBytes { get; set; } = 4 << 20;

    /// <summary>How long connecting and listing a server's tools (Refresh) may take.</summary>
    [Duration("00:00:00.100", "00:05:00")]
    public TimeSpan DiscoveryTimeout { get; set; } = TimeSpan.FromSeconds(20);

    [Range(1, 1000)]
    public int MaxServersPerOrg { get; set; } = 25;

    /// <summary>Tools kept from one server's listing; a server that lists more keeps its first ones.</summary>
    [Range(1, 1000)]
    public int MaxToolsPerServer { get; set; } = 128;
}
