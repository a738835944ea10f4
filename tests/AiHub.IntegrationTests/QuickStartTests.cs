using System.Diagnostics;
using System.Text.RegularExpressions;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests;

/// <summary>
/// The README's quick start, run as it is written: the run block's settings start the built AiHub as its own process
/// (with a fake OpenAI-compatible server where the README names Ollama), and the curl block runs under bash against it.
/// </summary>
public sealed partial class QuickStartTests
{
    const string ReadmeAddress = "http://localhost:5080";

    [Fact]
    public async Task The_readme_quick_start_goes_from_sign_up_to_a_streamed_answer()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "README.md"), TestContext.Current.CancellationToken);
        var run = Block(readme, "quick-start:run");
        var api = Block(readme, "quick-start:api");
        Assert.EndsWith("dotnet run --project src/AiHub", run.TrimEnd(), StringComparison.Ordinal);
        Assert.Contains($"H={ReadmeAddress}", api, StringComparison.Ordinal);

        await using var fake = await FakeLlm.StartAsync();
        var settings = Assignment().Matches(run).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["value"].Value);
        var model = settings["AIHUB_Providers__0__Models__0"];
        fake.Models = [model];
        settings["AIHUB_Providers__0__BaseUrl"] = fake.OpenAiEndpoint.AbsoluteUri;

        // The curl block reads mail from src/AiHub/data/mail, relative to where a new user stands: the repository's root.
        var root = Directory.CreateTempSubdirectory("aihub-quick-start-").FullName;
        var data = Directory.CreateDirectory(Path.Combine(root, "src", "AiHub", "data")).FullName;
        settings["AIHUB_Database__ConnectionString"] = $"Data Source={Path.Combine(data, "aihub.db")}";
        settings["AIHUB_Email__PickupDirectory"] = Path.Combine(data, "mail");

        string? output = null;
        try
        {
            var lines = await AiHubProcess.ServeAsync(settings, root, async address =>
            {
                output = await BashAsync(api.Replace(ReadmeAddress, address.AbsoluteUri.TrimEnd('/'), StringComparison.Ordinal), root);
            }, until: _ => true);

            Assert.NotNull(output);
            var answer = string.Concat(Delta().Matches(output).Select(m => System.Text.Json.JsonDocument.Parse(m.Groups["data"].Value).RootElement.GetProperty("text").GetString()));
            Assert.Contains("Say hello in five words.", answer, StringComparison.Ordinal); // the fake echoes the question
            var done = Assert.Single(DoneEvent().Matches(output)).Groups["data"].Value;
            Assert.Contains("\"status\":\"complete\"", done, StringComparison.Ordinal);
            Assert.Contains("\"costMicros\":0", done, StringComparison.Ordinal);
            Assert.Contains(fake.Requests, r => r.Body?.GetRawText().Contains(model, StringComparison.Ordinal) == true);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    static async Task<string> BashAsync(string script, string workingDirectory)
    {
        var start = new ProcessStartInfo("bash", ["-e", "-o", "pipefail", "-c", script])
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"the quick start's curl block failed with exit {process.ExitCode}:\n{await stdout}\n{await stderr}");
        return await stdout;
    }

    /// <summary>The fenced block that follows <c>&lt;!-- name --&gt;</c>, with its line continuations kept.</summary>
    static string Block(string readme, string name)
    {
        var match = Regex.Match(readme, $@"<!-- {Regex.Escape(name)} -->\s*```sh\n(?<body>.*?)\n```", RegexOptions.Singleline);
        Assert.True(match.Success, $"README.md has no ```sh block after <!-- {name} -->");
        return match.Groups["body"].Value;
    }

    static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AiHub.slnx")))
                return dir.FullName;
        throw new DirectoryNotFoundException("AiHub.slnx not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^(?<name>AIHUB_\w+)=(?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex Assignment();

    [GeneratedRegex(@"event: delta\ndata: (?<data>.*)\n")]
    private static partial Regex Delta();

    [GeneratedRegex(@"event: done\ndata: (?<data>.*)\n")]
    private static partial Regex DoneEvent();
}
