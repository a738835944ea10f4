using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests.Blobs;

/// <summary>A wrong blob setting stops the node at start with one line naming it, and never prints a secret.</summary>
public sealed class BlobSettingsTests
{
    const string Secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

    [Theory]
    [InlineData("Provider=Ftp", "Blobs:Provider: 'Ftp' is not valid; expected one of Disk, S3")]
    [InlineData("Provider=S3", "Blobs:S3:Bucket: is required when Blobs:Provider is S3")]
    [InlineData("Provider=S3;S3__Bucket=b;S3__ServiceUrl=minio:9000", "Blobs:S3:ServiceUrl: must be an absolute http or https URL")]
    [InlineData("Provider=S3;S3__Bucket=b;S3__ForcePathStyle=maybe", "Blobs:S3:ForcePathStyle: 'maybe' is not valid; expected true or false")]
    [InlineData("Provider=S3;S3__Bucket=b;S3__SecretKey=" + Secret, "Blobs:S3:AccessKey: AccessKey and SecretKey are set together")]
    public async Task A_bad_blob_setting_stops_the_process_with_one_line_naming_it(string settings, string expected)
    {
        await using var database = TestDatabase.Sqlite();
        var environment = new Dictionary<string, string> { ["AIHUB_Database__ConnectionString"] = database.ConnectionString };
        foreach (var pair in settings.Split(';'))
            environment["AIHUB_Blobs__" + pair.Split('=')[0]] = pair.Split('=', 2)[1];

        var result = await AiHubProcess.RunAsync(environment);

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("aihub: invalid configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, result.Stdout + result.Stderr, StringComparison.Ordinal);
    }
}
