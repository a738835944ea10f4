using System.Text.Json;
using System.Text.Json.Serialization;
using ModelContextProtocol;

namespace AiHub.Mcp.Server;

/// <summary>How tool results are written as structured content; pass <see cref="Options"/> to every <c>WithTools</c>.</summary>
internal static class McpJson
{
    /// <summary>
    /// The SDK's options, but writing nulls: its output schemas list every record property as required, and clients that
    /// validate structured content (the TypeScript SDK does) refuse a result that leaves a null property out.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = new(McpJsonUtilities.DefaultOptions) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };
}
