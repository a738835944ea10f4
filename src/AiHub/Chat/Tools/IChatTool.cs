using AiHub.Chat.Grounding;
using AiHub.Credits.Pools;
using Microsoft.Extensions.AI;

namespace AiHub.Chat.Tools;

/// <summary>Who a call is for: a tool decides from it whether it is offered, and scopes what it reads to it.</summary>
/// <remarks>A tool that reads tenant data fetches it by <see cref="OrganizationId"/>, never by id alone.</remarks>
internal sealed record ToolContext(Guid OrganizationId, Guid UserId, Guid? WorkspaceId, Guid? ApiKeyId)
{
    /// <summary>Where a tool that cites sources numbers them for this call; null when the caller shows no citations.</summary>
    public CitationCollector? Citations { get; init; }

    public static ToolContext Of(Spender spender) => new(spender.OrganizationId, spender.UserId, spender.WorkspaceId, spender.ApiKeyId);
}

/// <summary>A function the model may call during a chat; registered with <see cref="ToolsExtensions.AddChatTool{T}"/>.</summary>
internal interface IChatTool
{
    /// <summary>Unique among tools; letters, digits, <c>_</c> and <c>-</c>, at most 64 (what every provider accepts).</summary>
    string Name { get; }

    /// <summary>What the model and the tool listing are told it does.</summary>
    string Description { get; }

    bool IsAvailable(ToolContext context);

    /// <summary>The function for one call, bound to <paramref name="context"/>; named <see cref="Name"/>.</summary>
    AIFunction Create(ToolContext context);
}

/// <summary>
/// Tools that exist per organisation rather than per deployment (those of a connected MCP server); asked for its
/// tools each time a call starts, after the registered <see cref="IChatTool"/>s.
/// </summary>
/// <remarks>
/// Names must satisfy the same rule as <see cref="IChatTool.Name"/> and not repeat a registered tool's; a repeated name
/// is dropped. A source that cannot list its tools now returns none and logs why: a chat never fails for it.
/// </remarks>
internal interface IChatToolSource
{
    Task<IReadOnlyList<IChatTool>> ToolsAsync(ToolContext context, CancellationToken ct);
}
