namespace AiHub.Knowledge.Ingestion.Media;

/// <summary>Turns 16 kHz mono WAV (from <see cref="MediaTools.ExtractAudioAsync"/>) into a timed transcript.</summary>
internal interface ITranscriber
{
    /// <summary>Shown to operators and recorded with the transcript, such as <c>pocketsphinx</c> or <c>openai:whisper-1</c>.</summary>
    string Name { get; }

    /// <param name="progress">Receives the share done, from 0 to 1.</param>
    /// <exception cref="IngestionException">Transient when trying again may help (a busy service), fatal otherwise.</exception>
    Task<Transcript> TranscribeAsync(string wavPath, double durationSeconds, IProgress<double>? progress, CancellationToken ct);
}

/// <summary>The transcriber the configuration picks: the service in <c>Transcription:BaseUrl</c> when set, else pocketsphinx offline.</summary>
internal sealed class Transcribers(IServiceProvider services, Microsoft.Extensions.Options.IOptions<TranscriptionSettings> settings)
{
    /// <summary>A service is paid per minute of audio; pocketsphinx costs nothing.</summary>
    public bool IsPaid => settings.Value.UsesService;

    public ITranscriber Current => settings.Value.UsesService
        ? services.GetRequiredService<OpenAiTranscriber>()
        : services.GetRequiredService<PocketsphinxTranscriber>();
}
