using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Chat.Tools;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Mcp.Client;

/// <summary>
/// The enabled tools of the org's enabled MCP servers, as chat tools, from the catalog stored at the last refresh: a
/// chat turn lists them without reaching any server, and only a call the model makes connects.
/// </summary>
/// <remarks>Servers are read by the call's organisation; a workspace that turned a server off is not offered its tools.</remarks>
internal sealed partial class McpToolSource(AppDbContext db, McpConnector connector, IOptions<McpClientSettings> settings, ILogger<McpToolSource> log) : IChatToolSource
{
    public const string Separator = "__";

    public async Task<IReadOnlyList<IChatTool>> ToolsAsync(ToolContext context, CancellationToken ct)
    {
        try
        {
            var servers = await db.Set<McpServerRegistration>().AsNoTracking()
                .Where(s => s.OrganizationId == context.OrganizationId && s.Enabled)
                .OrderBy(s => s.Name).ToListAsync(ct);
            if (servers.Count == 0)
                return [];
            if (context.WorkspaceId is { } workspaceId)
            {
                var off = await db.Set<McpServerWorkspaceOff>().AsNoTracking()
                    .Where(o => o.OrganizationId == context.OrganizationId && o.WorkspaceId == workspaceId).Select(o => o.ServerId).ToListAsync(ct);
                servers.RemoveAll(s => off.Contains(s.Id));
            }
            return [.. servers.SelectMany(server =>
            {
                var endpoint = McpEndpoint.Of(server, settings.Value);
                return server.Tools.Where(t => server.EnabledTools.Contains(t.Name))
                    .Select(t => (IChatTool)new McpChatTool(ToolName(server.Name, t.Name), server.Name, t, endpoint, connector));
            })];
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A chat never fails for its MCP servers: it goes on with the built-in tools.
            log.LogWarning(e, "The MCP tools of organisation {OrgId} could not be listed", context.OrganizationId);
            return [];
        }
    }

    /// <summary>
    /// <c>server__tool</c>, with every character a provider refuses replaced by <c>_</c>; a name over 64 characters keeps
    /// its start and ends with a hash of the whole, so it is the same on every turn and differs between tools.
    /// </summary>
    public static string ToolName(string server, string tool)
    {
        var name = Unsafe().Replace(server + Separator + tool, "_");
        if (name.Length <= 64 && name == server + Separator + tool)
            return name;
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(server + "\n" + tool)))[..8];
        return name[..Math.Min(name.Length, 64 - 9)] + "_" + hash;
    }

    [GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial Regex Unsafe();
}

/// <summary>One remote tool offered in a chat.</summary>
internal sealed class McpChatTool(string name, string server, McpToolInfo tool, McpEndpoint endpoint, McpConnector connector) : IChatTool
{
    public string Name => name;

    public string Description => string.IsNullOrWhiteSpace(tool.Description)
        ? $"The tool {tool.Name} of the MCP server {server}."
        : $"{tool.Description} (from the MCP server {server})";

    public bool IsAvailable(ToolContext context) => true;

    public AIFunction Create(ToolContext context) => new McpRemoteFunction(this, tool, endpoint, connector);

    /// <summary>The function the model sees: the remote tool's own schema, and a call that always comes back as text.</summary>
    sealed class McpRemoteFunction(McpChatTool owner, McpToolInfo tool, McpEndpoint endpoint, McpConnector connector) : AIFunction
    {
        readonly JsonElement _schema = SchemaOf(tool.InputSchema);

        public override string Name => owner.Name;

        public override string Description => owner.Description;

        public override JsonElement JsonSchema => _schema;

        protected override async ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken)
        {
            var args = arguments.ToDictionary(a => a.Key, a => a.Value);
            return await connector.CallAsync(endpoint, tool.Name, owner.Name, args, cancellationToken);
        }

        static JsonElement SchemaOf(string json)
        {
            try
            {
                var schema = JsonDocument.Parse(json).RootElement.Clone();
                if (schema.ValueKind == JsonValueKind.Object)
                    return schema;
            }
            catch (JsonException)
            {
            }
            return JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement.Clone();
        }
    }
}
