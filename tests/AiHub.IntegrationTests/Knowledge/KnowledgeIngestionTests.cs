using System.Net;
using System.Text;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Knowledge;

/// <summary>A host whose deployment has the real test embedding model (free) and transcribes offline with pocketsphinx.</summary>
public abstract class IngestionFixture(string provider) : IAsyncLifetime
{
    readonly string _blobs = Directory.CreateTempSubdirectory("aihub-ingest-blobs-").FullName;

    public IdentityHost Host { get; private set; } = null!;

    public string Media { get; } = Directory.CreateTempSubdirectory("aihub-ingest-media-").FullName;

    public async ValueTask InitializeAsync()
    {
        SpeechFixtures.RequireTools();
        var settings = await TestEmbeddings.SettingsAsync();
        settings["Blobs:Path"] = _blobs;
        // The test model answers a batch in seconds on a loaded machine: small rounds keep each call far from the timeouts.
        settings["Knowledge:EmbeddingBatchSize"] = "16";
        settings["Chat:Timeouts:FirstToken"] = "00:02:00";
        Host = await IdentityHost.StartAsync(provider, settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Directory.Delete(_blobs, recursive: true);
        Directory.Delete(Media, recursive: true);
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteIngestionFixture() : IngestionFixture("Sqlite");

public sealed class PostgresIngestionFixture() : IngestionFixture("Postgres");

/// <summary>
/// Whole ingestions through the API with the real components: a recording transcribed offline, its transcript read,
/// downloaded and corrected; a knowledge base embedded with a real model and searched by meaning; a change of model.
/// </summary>
public abstract class KnowledgeIngestionTests(IngestionFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    readonly IdentityHost _host = fixture.Host;

    [Fact]
    public async Task A_video_is_transcribed_offline_its_transcript_downloads_and_a_question_finds_the_second_it_was_said()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync("Lectures", TestEmbeddings.ModelId);
        var video = await SpeechFixtures.SynthesiseAsync(
        [
            (1, "Welcome to the course about gardens."),
            (20, "The tomatoes need water every morning."),
            (35, "Thank you for watching."),
        ], Directory.CreateDirectory(Path.Combine(fixture.Media, Guid.NewGuid().ToString("N"))).FullName, asVideo: true);

        var id = await start.AddAsync(kb, "lecture.mp4", await File.ReadAllBytesAsync(video, Ct));
        var source = await start.CompletedAsync(id, seconds: 240);

        Assert.Equal("video", source.GetProperty("format").GetString());
        Assert.InRange(source.GetProperty("durationSeconds").GetDouble(), 35, 45);
        var transcript = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/transcript");
        var segments = transcript.GetProperty("segments").EnumerateArray().ToList();
        Assert.NotEmpty(segments);
        var hit = (await start.SearchAsync("how often should tomatoes be watered")).GetProperty("hits").EnumerateArray().First();
        Assert.Equal(id, hit.GetProperty("sourceId").GetGuid());
        Assert.InRange(hit.GetProperty("start").GetDouble(), 0, 23);
        Assert.InRange(hit.GetProperty("end").GetDouble(), 17, 45);
        Assert.Matches(@"#t=\d+", hit.GetProperty("link").GetString());
        var tomato = segments.FirstOrDefault(s => s.GetProperty("text").GetString()!.Contains("tomato", StringComparison.OrdinalIgnoreCase));
        Assert.True(tomato.ValueKind == JsonValueKind.Object, transcript.ToString());
        Assert.InRange(tomato.GetProperty("start").GetDouble(), 17, 23);

        using var srt = await start.Client.SendAsync(As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/transcript?format=srt"), Ct);
        var srtText = await srt.Content.ReadAsStringAsync(Ct);
        Assert.Equal("application/x-subrip", srt.Content.Headers.ContentType?.MediaType);
        Assert.Equal("lecture.srt", srt.Content.Headers.ContentDisposition?.FileNameStar ?? srt.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        Assert.Matches(@"^1\r?\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\r?\n", srtText);
        using var vtt = await start.Client.SendAsync(As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/transcript?format=vtt"), Ct);
        Assert.StartsWith("WEBVTT", await vtt.Content.ReadAsStringAsync(Ct));
        using var text = await start.Client.SendAsync(As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/transcript?format=txt"), Ct);
        var plain = await text.Content.ReadAsStringAsync(Ct);
        Assert.Contains(tomato.GetProperty("text").GetString()!, plain);
        Assert.Contains("[0:" + tomato.GetProperty("label").GetString()!.Split(':')[1], plain);
        using var bad = await start.Client.SendAsync(As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/transcript?format=docx"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task A_corrected_segment_is_searchable_by_its_new_words_and_only_its_chunks_are_embedded_again()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync("Talks", TestEmbeddings.ModelId);
        var audio = await SpeechFixtures.SynthesiseAsync([(1, "The museum opens at ten in the morning.")],
            Directory.CreateDirectory(Path.Combine(fixture.Media, Guid.NewGuid().ToString("N"))).FullName, asVideo: false);
        var id = await start.AddAsync(kb, "museum.wav", await File.ReadAllBytesAsync(audio, Ct));
        await start.CompletedAsync(id, seconds: 240);
        var segment = (await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/transcript"))
            .GetProperty("segments").EnumerateArray().First();
        var index = segment.GetProperty("index").GetInt32();

        var corrected = await SendAsync(start.Client, start.Owner, HttpMethod.Patch, $"{start.Ws}/sources/{id}/transcript/segments/{index}",
            new { text = "The planetarium opens at ten in the morning." });
        Assert.True(corrected.GetProperty("edited").GetBoolean());
        await start.CompletedAsync(id, seconds: 120);

        var hit = (await start.SearchAsync("planetarium")).GetProperty("hits").EnumerateArray().First();
        Assert.Equal(id, hit.GetProperty("sourceId").GetGuid());
        Assert.Contains("planetarium", hit.GetProperty("text").GetString());
        Assert.Equal(JsonValueKind.Number, hit.GetProperty("vectorRank").ValueKind);
        using var empty = await start.Client.SendAsync(As(start.Owner, HttpMethod.Patch, $"{start.Ws}/sources/{id}/transcript/segments/{index}", new { text = " " }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        using var missing = await start.Client.SendAsync(As(start.Owner, HttpMethod.Patch, $"{start.Ws}/sources/{id}/transcript/segments/9999", new { text = "x" }), Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_recording_with_no_audio_track_ends_failed_saying_so()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync("Silent");
        var silent = await SpeechFixtures.SilentVideoAsync(Directory.CreateDirectory(Path.Combine(fixture.Media, Guid.NewGuid().ToString("N"))).FullName);

        var id = await start.AddAsync(kb, "silent.mp4", await File.ReadAllBytesAsync(silent, Ct));
        var failed = await start.SettledAsync(id, seconds: 120);

        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Contains("no audio", failed.GetProperty("lastError").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_knowledge_base_searched_by_words_gains_meaning_when_it_is_given_a_model_and_loses_it_again_without()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync("Handbook");
        var id = await start.AddAsync(kb, "handbook.md", Encoding.UTF8.GetBytes(KnowledgeApiTests.Handbook));
        await start.CompletedAsync(id, seconds: 120);
        Assert.All((await start.SearchAsync("reset password")).GetProperty("hits").EnumerateArray(),
            h => Assert.Equal(JsonValueKind.Null, h.GetProperty("vectorRank").ValueKind));

        // A model given later embeds what is already there.
        await SendAsync(start.Client, start.Owner, HttpMethod.Patch, $"{start.Ws}/knowledge-bases/{kb}", new { embeddingModel = TestEmbeddings.ModelId });
        await start.CompletedAsync(id, seconds: 180);
        var hits = (await start.SearchAsync("I cannot remember my login secret")).GetProperty("hits").EnumerateArray().ToList();
        Assert.Contains("Forgot password", hits[0].GetProperty("text").GetString());
        Assert.Equal(1, hits[0].GetProperty("vectorRank").GetInt32());
        var embedded = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases/{kb}");
        Assert.Equal(512, embedded.GetProperty("embeddingDimensions").GetInt32());

        var words = await SendAsync(start.Client, start.Owner, HttpMethod.Patch, $"{start.Ws}/knowledge-bases/{kb}", new { embeddingModel = "" });
        Assert.Equal(JsonValueKind.Null, words.GetProperty("embeddingModel").ValueKind);
        await start.CompletedAsync(id, seconds: 120);
        Assert.All((await start.SearchAsync("reset password")).GetProperty("hits").EnumerateArray(),
            h => Assert.Equal(JsonValueKind.Null, h.GetProperty("vectorRank").ValueKind));
    }
}

public sealed class KnowledgeIngestionOnSqlite(SqliteIngestionFixture fixture) : KnowledgeIngestionTests(fixture), IClassFixture<SqliteIngestionFixture>;

public sealed class KnowledgeIngestionOnPostgres(PostgresIngestionFixture fixture) : KnowledgeIngestionTests(fixture), IClassFixture<PostgresIngestionFixture>;
