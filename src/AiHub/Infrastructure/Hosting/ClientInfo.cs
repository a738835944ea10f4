namespace AiHub.Infrastructure.Hosting;

/// <summary>Who is on the other end of a request, as far as sessions and the audit log record it.</summary>
internal static class ClientInfo
{
    public static string? IpAddress(this HttpContext? http) => http?.Connection.RemoteIpAddress?.ToString();

    public static string? UserAgent(this HttpContext? http) =>
        http?.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent[..Math.Min(agent.Length, 512)] : null;
}
