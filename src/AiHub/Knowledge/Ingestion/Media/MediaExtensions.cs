using AiHub.Infrastructure.Configuration;

namespace AiHub.Knowledge.Ingestion.Media;

internal static class MediaExtensions
{
    public static void AddMedia(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<MediaSettings>(MediaSettings.Section);
        services.AddSettings<TranscriptionSettings>(TranscriptionSettings.Section);
        services.AddSingleton<MediaTools>();
        services.AddSingleton<PocketsphinxTranscriber>();
        // The transcriber enforces its own timeout per upload, so that it can tell a slow service from a cancelled job.
        services.AddHttpClient<OpenAiTranscriber>(http => http.Timeout = Timeout.InfiniteTimeSpan)
            // The service key travels in Authorization; no header value reaches the request logs.
            .RedactLoggedHeaders(_ => true);
        services.AddSingleton<Transcribers>();
    }
}
