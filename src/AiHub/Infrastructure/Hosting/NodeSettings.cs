namespace AiHub.Infrastructure.Hosting;

internal enum NodeRole
{
    All,
    Web,
    Worker,
}

internal sealed class NodeSettings
{
    public const string Section = "Node";

    /// <summary>Which work this node takes: <c>Web</c> serves requests, <c>Worker</c> runs jobs, <c>All</c> does both.</summary>
    public NodeRole Role { get; set; } = NodeRole.All;

    public bool RunsJobs => Role is NodeRole.All or NodeRole.Worker;
}
