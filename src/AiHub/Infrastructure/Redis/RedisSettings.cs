namespace AiHub.Infrastructure.Redis;

internal sealed class RedisSettings
{
    public const string Section = "Redis";

    /// <summary>StackExchange.Redis configuration (e.g. <c>redis:6379,password=…</c>). Unset when embedded: everything stays in process.</summary>
    public string? ConnectionString { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(ConnectionString);
}
