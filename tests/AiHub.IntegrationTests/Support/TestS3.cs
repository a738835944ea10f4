using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AiHub.IntegrationTests.Support;

/// <summary>
/// The S3-compatible server (npm s3rver) that scripts/test.sh starts and announces in AIHUB_TEST_S3; when a test runs
/// on its own without it, the server is started here from tests/fixtures/s3 and stopped when the test process ends.
/// </summary>
public static class TestS3
{
    /// <summary>s3rver accepts these credentials and no others.</summary>
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    static readonly Lazy<Task<string>> Server = new(LocateOrStartAsync);

    public static Task<string> UrlAsync() => Server.Value;

    /// <summary>A bucket name no other test uses (S3 names: lower case, digits and hyphens).</summary>
    public static string NewBucket() => "aihub-test-" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>Settings for an AiHub host whose blobs go to a fresh bucket of the test server.</summary>
    public static async Task<Dictionary<string, string?>> SettingsAsync(string bucket) => new()
    {
        ["Blobs:Provider"] = "S3",
        ["Blobs:S3:ServiceUrl"] = await UrlAsync(),
        ["Blobs:S3:Bucket"] = bucket,
        ["Blobs:S3:AccessKey"] = AccessKey,
        ["Blobs:S3:SecretKey"] = SecretKey,
        ["Blobs:S3:CreateBucket"] = "true",
    };

    static async Task<string> LocateOrStartAsync()
    {
        if (Environment.GetEnvironmentVariable("AIHUB_TEST_S3") is { Length: > 0 } url)
            return url.TrimEnd('/');
        var fixture = Fixture();
        var server = Path.Combine(fixture, "server.mjs");
        if (!File.Exists(Path.Combine(fixture, "node_modules", "s3rver", "package.json")))
            throw new InvalidOperationException($"AIHUB_TEST_S3 is not set and s3rver is not installed: run the suite with scripts/test.sh, or `npm ci` in {fixture}.");
        var data = Directory.CreateTempSubdirectory("aihub-s3-").FullName;
        var port = FreePort();
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { server, data, port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(arg);
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start s3rver");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            process.Kill(entireProcessTree: true);
            Directory.Delete(data, recursive: true);
        };
        url = $"http://127.0.0.1:{port}";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var response = await http.GetAsync(url);
                return url;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
        }
        throw new InvalidOperationException($"s3rver did not answer on {url}: {await process.StandardError.ReadToEndAsync()}");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static string Fixture()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "s3");
            if (File.Exists(Path.Combine(candidate, "package.json")))
                return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures/s3 not found above " + AppContext.BaseDirectory);
    }
}
