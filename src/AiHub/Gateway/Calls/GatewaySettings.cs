using System.ComponentModel.DataAnnotations;

namespace AiHub.Gateway.Calls;

/// <summary>Limits of the <c>/v1</c> chat endpoints.</summary>
internal sealed class GatewaySettings
{
    public const string Section = "Gateway";

    /// <summary>The largest request body of a chat call; a larger one gets 413 before it is read in full. Images sent inline count.</summary>
    [Range(64 * 1024, 256L * 1024 * 1024)]
    public long MaxRequestBytes { get; set; } = 8 * 1024 * 1024;
}
