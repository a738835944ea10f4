using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Mcp.Server;

/// <summary>Limits of the MCP server at <c>/mcp</c>.</summary>
internal sealed class McpServerSettings
{
    public const string Section = "Mcp:Server";

    /// <summary>The longest a tool call, a resource read or a prompt may run; then it is stopped and the client told why.</summary>
    [Duration("00:00:01", "00:30:00")]
    public TimeSpan ToolTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Tool calls, resource reads and prompts one caller (a key, or an OAuth grant) may make a minute, on all nodes together.</summary>
    [Range(1, 1_000_000)]
    public int CallsPerMinute { get; set; } = 120;

    /// <summary>The largest arguments of one tool call, as JSON; larger ones are refused before anything runs or is charged.</summary>
    [Range(1024, 64L * 1024 * 1024)]
    public long MaxArgumentBytes { get; set; } = 512 * 1024;

    /// <summary>The largest request body of <c>/mcp</c>; a larger one gets 413 before it is read in full.</summary>
    [Range(64 * 1024, 256L * 1024 * 1024)]
    public long MaxRequestBytes { get; set; } = 4 * 1024 * 1024;
}
