using AiHub.Infrastructure.Configuration;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AiHub.Tests.Knowledge.Media;

public sealed class TranscribersTests
{
    static ServiceProvider Build(Dictionary<string, string?> values)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(values);
        builder.Services.AddLogging();
        builder.Services.AddSingleton(TimeProvider.System);
        MediaExtensions.AddMedia(builder);
        return builder.Services.BuildServiceProvider();
    }

    [Fact]
    public void Pocketsphinx_transcribes_offline_when_no_service_is_configured()
    {
        using var services = Build([]);

        services.ValidateAllSettings();
        Assert.IsType<PocketsphinxTranscriber>(services.GetRequiredService<Transcribers>().Current);
    }

    [Fact]
    public void A_configured_service_url_picks_the_OpenAI_compatible_transcriber()
    {
        using var services = Build(new() { ["Transcription:BaseUrl"] = "http://whisper:8000/v1", ["Transcription:ApiKey"] = "sk-x" });

        services.ValidateAllSettings();
        var transcriber = Assert.IsType<OpenAiTranscriber>(services.GetRequiredService<Transcribers>().Current);
        Assert.Equal("openai:whisper-1", transcriber.Name);
    }

    [Fact]
    public void A_service_url_that_is_not_http_is_refused_on_start()
    {
        using var services = Build(new() { ["Transcription:BaseUrl"] = "ftp://whisper/v1", ["Media:MaxTranscriptionUploadBytes"] = "10" });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.Contains("Transcription:BaseUrl: must be an absolute http or https URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("Media:MaxTranscriptionUploadBytes: ", error.Message, StringComparison.Ordinal);
    }
}
