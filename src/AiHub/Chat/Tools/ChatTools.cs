using Microsoft.Extensions.AI;

namespace AiHub.Chat.Tools;

internal sealed record ToolDescription(string Name, string Description);

/// <summary>The tools a call may offer to the model: the registered ones and those of the org's tool sources, and a listing of them.</summary>
internal sealed class ChatTools(IEnumerable<IChatTool> tools, IEnumerable<IChatToolSource> sources)
{
    readonly IReadOnlyList<IChatTool> _tools = [.. tools.OrderBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>The functions to put in <c>ChatOptions.Tools</c> for a call made in <paramref name="context"/>.</summary>
    public async Task<IReadOnlyList<AITool>> ForAsync(ToolContext context, CancellationToken ct) =>
        [.. (await AvailableAsync(context, ct)).Select(t => (AITool)t.Create(context))];

    /// <summary>The tools offered in <paramref name="context"/>, by name.</summary>
    public async Task<IReadOnlyList<ToolDescription>> DescribeAsync(ToolContext context, CancellationToken ct) =>
        [.. (await AvailableAsync(context, ct)).Select(t => new ToolDescription(t.Name, t.Description))];

    async Task<IReadOnlyList<IChatTool>> AvailableAsync(ToolContext context, CancellationToken ct)
    {
        var available = _tools.Where(t => t.IsAvailable(context)).ToList();
        var names = new HashSet<string>(_tools.Select(t => t.Name), StringComparer.Ordinal);
        foreach (var source in sources)
            foreach (var tool in await source.ToolsAsync(context, ct))
                if (tool.IsAvailable(context) && names.Add(tool.Name))
                    available.Add(tool);
        return available;
    }
}
