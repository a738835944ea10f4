using Microsoft.Extensions.AI;

namespace AiHub.Chat.Tools;

internal sealed record ToolDescription(string Name, string Description);

/// <summary>The registered tools: those a call may offer to the model, and a listing of them.</summary>
internal sealed class ChatTools(IEnumerable<IChatTool> tools)
{
    readonly IReadOnlyList<IChatTool> _tools = [.. tools.OrderBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>The functions to put in <c>ChatOptions.Tools</c> for a call made in <paramref name="context"/>.</summary>
    public IReadOnlyList<AITool> For(ToolContext context) =>
        [.. _tools.Where(t => t.IsAvailable(context)).Select(t => (AITool)t.Create(context))];

    /// <summary>The tools offered in <paramref name="context"/>, by name.</summary>
    public IReadOnlyList<ToolDescription> Describe(ToolContext context) =>
        [.. _tools.Where(t => t.IsAvailable(context)).Select(t => new ToolDescription(t.Name, t.Description))];
}
