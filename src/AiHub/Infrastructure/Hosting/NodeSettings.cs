using System.ComponentModel.DataAnnotations;

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

    /// <summary>
    /// This node's name, unique among the nodes that run at once and the same across its restarts: what it leaves open
    /// under its name (credit leases) it closes when it starts again. Defaults to the machine's name.
    /// </summary>
    [Required, StringLength(100, MinimumLength = 1)]
    [RegularExpression("^[A-Za-z0-9._-]+$")]
    public string Name { get; set; } = Environment.MachineName;

    public bool RunsJobs => Role is NodeRole.All or NodeRole.Worker;
}
