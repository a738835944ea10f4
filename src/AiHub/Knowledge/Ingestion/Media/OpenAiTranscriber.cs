using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Ingestion.Media;

/// <summary>
/// Transcription through an OpenAI-compatible <c>/audio/transcriptions</c> endpoint (OpenAI Whisper,
/// faster-whisper-server and others) with <c>verbose_json</c> segment times. Audio over the upload limit is sent as
/// compact MP3, and when that is still too big, in pieces cut at pauses whose times are merged back.
/// </summary>
/// <remarks>The service URL is the operator's, so it is trusted and not put through the outbound policy for tenant URLs.</remarks>
internal sealed class OpenAiTranscriber(
    HttpClient http, MediaTools media, IOptions<TranscriptionSettings> transcription, IOptions<MediaSettings> mediaOptions,
    TimeProvider time, ILogger<OpenAiTranscriber> logger) : ITranscriber
{
    /// <summary>Mono MP3 at this rate keeps speech clear for a recogniser at 4 KB a second: 25 MB holds over 100 minutes.</summary>
    public const int UploadKilobitsPerSecond = 32;
    const double UploadBytesPerSecond = UploadKilobitsPerSecond * 1000 / 8.0;

    /// <summary>Each side of a cut is heard twice, so the sentence a cut falls in is whole in one of the pieces.</summary>
    public const double OverlapSeconds = 2;

    readonly TranscriptionSettings _settings = transcription.Value;
    readonly long _maxBytes = mediaOptions.Value.MaxTranscriptionUploadBytes;

    public string Name => "openai:" + _settings.Model;

    public async Task<Transcript> TranscribeAsync(string wavPath, double durationSeconds, IProgress<double>? progress, CancellationToken ct)
    {
        if (_settings.BaseUrl is null)
            throw new IngestionException("No transcription service is configured.");
        var audio = WavAudio.Open(wavPath);
        var duration = audio.DurationSeconds;
        if (new FileInfo(wavPath).Length <= _maxBytes)
        {
            var whole = await UploadAsync(wavPath, "audio.wav", "audio/wav", ct);
            progress?.Report(1);
            return whole with { DurationSeconds = duration };
        }

        var directory = Directory.CreateTempSubdirectory("aihub-transcribe-");
        try
        {
            // MP3 frames add a little to the nominal rate; the margin keeps an estimate that fits from being too big by a header.
            var pieceSeconds = _maxBytes * 0.9 / UploadBytesPerSecond;
            var pieces = duration <= pieceSeconds
                ? [new AudioPiece(0, 0, duration, 0, duration)]
                : AudioPieces.Plan(audio.FrameLoudness(), duration, pieceSeconds, OverlapSeconds);
            var results = new List<(AudioPiece, IReadOnlyList<TranscriptSegment>)>();
            string? language = null;
            foreach (var piece in pieces)
            {
                var mp3 = Path.Combine(directory.FullName, $"piece-{piece.Index:D4}.mp3");
                var source = wavPath;
                if (pieces.Count > 1)
                {
                    source = Path.Combine(directory.FullName, $"piece-{piece.Index:D4}.wav");
                    audio.WritePiece(piece.Start, piece.End, source);
                }
                await media.EncodeCompactAsync(source, mp3, UploadKilobitsPerSecond, ct);
                if (pieces.Count > 1)
                    File.Delete(source);
                if (new FileInfo(mp3).Length > _maxBytes)
                    throw new IngestionException("The audio could not be made small enough for the transcription service's upload limit.");
                var transcript = await UploadAsync(mp3, "audio.mp3", "audio/mpeg", ct);
                File.Delete(mp3);
                language ??= transcript.Language;
                results.Add((piece, transcript.Segments));
                progress?.Report(piece.OwnEnd / Math.Max(duration, 0.001));
            }
            return new Transcript(language, duration, AudioPieces.MergeSegments(results));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    async Task<Transcript> UploadAsync(string path, string fileName, string contentType, CancellationToken ct)
    {
        await using var file = File.OpenRead(path);
        using var content = new MultipartFormDataContent();
        var fileContent = new StreamContent(file);
        fileContent.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        content.Add(fileContent, "file", fileName);
        content.Add(new StringContent(_settings.Model), "model");
        content.Add(new StringContent("verbose_json"), "response_format");
        content.Add(new StringContent("segment"), "timestamp_granularities[]");
        content.Add(new StringContent("word"), "timestamp_granularities[]");
        using var request = new HttpRequestMessage(HttpMethod.Post, Endpoint()) { Content = content };
        if (!string.IsNullOrEmpty(_settings.ApiKey))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.ApiKey);
        request.Headers.Accept.ParseAdd("application/json");

        using var limit = new CancellationTokenSource(_settings.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(limit.Token, ct);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var body = await response.Content.ReadAsStringAsync(linked.Token);
            if (!response.IsSuccessStatusCode)
                throw Refused(response.StatusCode, body);
            return Parse(body);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IngestionException(
                $"The transcription service did not answer within {_settings.Timeout.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture)} minutes; it will be tried again.",
                transient: true);
        }
        catch (HttpRequestException e)
        {
            logger.LogWarning("The transcription service could not be reached: {Error}", e.HttpRequestError);
            throw new IngestionException("The transcription service could not be reached; it will be tried again.", transient: true, e);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            logger.LogWarning("The transcription service's answer could not be read: {Error}", e.Message);
            throw new IngestionException("The transcription service's answer could not be read.");
        }
    }

    /// <summary>Relative to the base URL's path, so <c>https://api.openai.com/v1</c> becomes <c>…/v1/audio/transcriptions</c>.</summary>
    Uri Endpoint()
    {
        var baseUrl = _settings.BaseUrl!;
        return new Uri(baseUrl, baseUrl.AbsolutePath.TrimEnd('/') + "/audio/transcriptions");
    }

    IngestionException Refused(HttpStatusCode status, string body)
    {
        var code = (int)status;
        logger.LogWarning("The transcription service answered {Status}: {Body}", code, body.Length > 500 ? body[..500] : body);
        return code switch
        {
            429 or 408 or >= 500 => new IngestionException($"The transcription service is busy (HTTP {code}); it will be tried again.", transient: true),
            401 or 403 => new IngestionException($"The transcription service refused this server's key (HTTP {code}): an operator must check the transcription settings."),
            413 => new IngestionException("The transcription service refused the audio as too large (HTTP 413)."),
            _ => new IngestionException($"The transcription service refused the audio (HTTP {code})."),
        };
    }

    /// <summary>
    /// OpenAI's <c>verbose_json</c>: <c>{ language, duration, text, segments: [{ start, end, text }], words: [{ word, start, end }] }</c>;
    /// words are given to the segment that holds their middle.
    /// </summary>
    internal static Transcript Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var language = root.TryGetProperty("language", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
        var duration = root.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetDouble() : 0;

        var words = new List<TranscriptWord>();
        if (root.TryGetProperty("words", out var wordArray) && wordArray.ValueKind == JsonValueKind.Array)
            foreach (var word in wordArray.EnumerateArray())
                if (word.TryGetProperty("word", out var w) && w.GetString() is { Length: > 0 } text)
                    words.Add(new TranscriptWord(word.GetProperty("start").GetDouble(), word.GetProperty("end").GetDouble(), text.Trim()));

        var segments = new List<TranscriptSegment>();
        if (root.TryGetProperty("segments", out var segmentArray) && segmentArray.ValueKind == JsonValueKind.Array)
        {
            foreach (var segment in segmentArray.EnumerateArray())
            {
                var text = segment.TryGetProperty("text", out var t) ? (t.GetString() ?? "").Trim() : "";
                if (text.Length == 0)
                    continue;
                var start = segment.GetProperty("start").GetDouble();
                var end = Math.Max(start, segment.GetProperty("end").GetDouble());
                var own = words.Count == 0 ? null : words.Where(w => (w.Start + w.End) / 2 >= start && (w.Start + w.End) / 2 <= end).ToList();
                segments.Add(new TranscriptSegment(segments.Count, start, end, text, own is { Count: > 0 } ? own : null));
            }
        }
        else if (root.TryGetProperty("text", out var whole) && (whole.GetString() ?? "").Trim() is { Length: > 0 } text)
        {
            // A server that ignores verbose_json still gives the text; it is kept as one segment rather than lost.
            segments.Add(new TranscriptSegment(0, 0, duration, text, words.Count > 0 ? words : null));
        }
        if (duration <= 0 && segments.Count > 0)
            duration = segments[^1].End;
        return new Transcript(language, duration, segments);
    }
}
