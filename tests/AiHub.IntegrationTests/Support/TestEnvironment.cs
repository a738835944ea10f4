namespace AiHub.IntegrationTests.Support;

/// <summary>The real servers that scripts/test.sh starts and announces through environment variables.</summary>
internal static class TestEnvironment
{
    public static string PostgresAdmin => Environment.GetEnvironmentVariable("AIHUB_TEST_POSTGRES") is { Length: > 0 } cs
        ? cs
        : throw new InvalidOperationException(
            "AIHUB_TEST_POSTGRES is not set: run the suite with scripts/test.sh, which starts PostgreSQL with pgvector.");

    public static string Redis => Environment.GetEnvironmentVariable("AIHUB_TEST_REDIS") is { Length: > 0 } endpoint
        ? endpoint
        : throw new InvalidOperationException("AIHUB_TEST_REDIS is not set: run the suite with scripts/test.sh, which starts Redis.");

    /// <summary>The key-encryption key every test host shares, as the nodes of one cluster would (32 bytes in base64).</summary>
    public const string KeyEncryptionKey = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=";
}
