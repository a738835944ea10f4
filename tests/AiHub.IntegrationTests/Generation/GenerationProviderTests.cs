using System.Net;
using AiHub.Fixtures;
using AiHub.Generation;
using AiHub.Generation.Jobs;
using AiHub.Generation.Providers;
using AiHub.Infrastructure.Outbound;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace AiHub.IntegrationTests.Generation;

/// <summary>The OpenAI video and image providers against the fake's wire-exact videos and images endpoints.</summary>
public sealed class GenerationProviderTests : IAsyncLifetime
{
    const string Key = "sk-generation-test";

    FakeLlm _fake = null!;
    ServiceProvider _services = null!;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _fake = await FakeLlm.StartAsync();
        _fake.ApiKey = Key;
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Generation:RequestTimeout"] = "00:00:30",
        }).Build());
        services.AddLogging();
        services.AddHttpClient();
        services.AddOptions<GenerationSettings>().BindConfiguration(GenerationSettings.Section);
        services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>, GenerationHttpClients>();
        services.AddOutbound();
        services.AddSingleton<OpenAiVideoProvider>();
        services.AddSingleton<OpenAiImageProvider>();
        _services = services.BuildServiceProvider();
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await _fake.DisposeAsync();
    }

    OpenAiVideoProvider Videos => _services.GetRequiredService<OpenAiVideoProvider>();

    OpenAiImageProvider Images => _services.GetRequiredService<OpenAiImageProvider>();

    GenerationEndpoint Endpoint(string kind = "OpenAI") => new("openai", kind, _fake.OpenAiEndpoint, Key);

    static GenerationCall Video(string prompt, int seconds = 8, string size = "1280x720", GenerationInputImage? input = null, string? remixOf = null) =>
        new(GenerationKind.Video, "sora-2", prompt, size, seconds, null, 1, input, remixOf);

    static GenerationCall Image(string model, string prompt, int count = 1, string size = "1024x1024", string? quality = null, GenerationInputImage? input = null) =>
        new(GenerationKind.Image, model, prompt, size, null, quality, count, input, null);

    static GenerationInputImage Png(int width, int height) =>
        new(_ => Task.FromResult<Stream>(new MemoryStream(FakeLlm.Png(width, height, (10, 20, 30)))), "image/png", "input.png");

    async Task<ProviderJob> PollAsync(GenerationEndpoint endpoint, ProviderJob job)
    {
        for (var i = 0; i < 50 && job.State is ProviderJobState.Queued or ProviderJobState.InProgress; i++)
            job = await Videos.GetAsync(endpoint, job.ProviderJobId!, Ct);
        return job;
    }

    [Fact]
    public void Each_provider_serves_only_its_kinds()
    {
        Assert.True(Videos.Serves(Endpoint(), GenerationKind.Video));
        Assert.False(Videos.Serves(Endpoint("OpenAICompatible"), GenerationKind.Video));
        Assert.False(Videos.Serves(Endpoint(), GenerationKind.Image));
        Assert.True(Images.Serves(Endpoint(), GenerationKind.Image));
        Assert.True(Images.Serves(Endpoint("OpenAICompatible"), GenerationKind.Image));
        Assert.False(Images.Serves(Endpoint("Anthropic"), GenerationKind.Image));
        Assert.False(Images.Serves(Endpoint(), GenerationKind.Video));
    }

    [Fact]
    public async Task A_video_is_queued_then_progresses_then_completes_and_its_mp4_is_downloaded()
    {
        var endpoint = Endpoint();

        var started = await Videos.StartAsync(endpoint, Video("A red kite over the sea"), Ct);

        Assert.Equal(ProviderJobState.Queued, started.State);
        Assert.StartsWith("video_", started.ProviderJobId);
        var create = Assert.Single(_fake.Requests);
        Assert.Equal(("POST", "/v1/videos"), (create.Method, create.Path));
        Assert.Equal("Bearer " + Key, create.Headers["Authorization"]);
        Assert.Equal("sora-2", create.Model);
        // The API takes the length as a string; the fake answers a number with 400, as OpenAI does.
        Assert.Equal("8", create.Body!.Value.GetProperty("seconds").GetString());
        Assert.Equal("1280x720", create.Body.Value.GetProperty("size").GetString());

        var first = await Videos.GetAsync(endpoint, started.ProviderJobId!, Ct);
        var second = await Videos.GetAsync(endpoint, started.ProviderJobId!, Ct);
        var done = await Videos.GetAsync(endpoint, started.ProviderJobId!, Ct);

        Assert.Equal((ProviderJobState.InProgress, 33), (first.State, first.Progress));
        Assert.Equal((ProviderJobState.InProgress, 66), (second.State, second.Progress));
        Assert.Equal(ProviderJobState.Completed, done.State);
        Assert.Equal(8, done.Seconds);
        Assert.Equal("1280x720", done.Size);
        var output = Assert.Single(done.Outputs);
        Assert.Equal("video/mp4", output.ContentType);
        await using var content = await Videos.OpenOutputAsync(endpoint, done.ProviderJobId, output, Ct);
        using var file = new MemoryStream();
        await content.CopyToAsync(file, Ct);
        Assert.InRange(file.Length, 1000, 100_000);
        // An MP4 starts with its ftyp box.
        Assert.Equal("ftyp"u8.ToArray(), file.ToArray()[4..8]);
        Assert.Equal(("GET", $"/v1/videos/{done.ProviderJobId}/content"), (_fake.Requests[^1].Method, _fake.Requests[^1].Path));
    }

    [Fact]
    public async Task A_video_from_a_reference_image_is_sent_as_a_multipart_form_with_the_image()
    {
        var started = await Videos.StartAsync(Endpoint(), Video("The same room at night", 4, "1280x720", Png(1280, 720)), Ct);

        Assert.Equal(ProviderJobState.Queued, started.State);
        var create = Assert.Single(_fake.Requests);
        var upload = Assert.Single(create.Uploads);
        Assert.Equal(("input_reference", "input.png", "image/png", 1280, 720), (upload.Field, upload.FileName, upload.ContentType, upload.Width, upload.Height));
        Assert.Equal("4", create.Body!.Value.GetProperty("seconds").GetString());
        Assert.True(Assert.Single(_fake.Videos).HasInputReference);
    }

    [Fact]
    public async Task A_completed_video_is_remixed_into_a_new_one_and_a_cancel_deletes_it()
    {
        var endpoint = Endpoint();
        var source = await PollAsync(endpoint, await Videos.StartAsync(endpoint, Video("A cat on a chair"), Ct));

        var remix = await Videos.StartAsync(endpoint, Video("Make the cat orange", remixOf: source.ProviderJobId), Ct);

        Assert.Equal(ProviderJobState.Queued, remix.State);
        Assert.NotEqual(source.ProviderJobId, remix.ProviderJobId);
        Assert.Equal($"/v1/videos/{source.ProviderJobId}/remix", _fake.Requests[^1].Path);
        Assert.Equal("Make the cat orange", _fake.Requests[^1].Body!.Value.GetProperty("prompt").GetString());
        Assert.Equal(source.ProviderJobId, _fake.Videos.Single(v => v.Id == remix.ProviderJobId).RemixedFrom);
        Assert.Equal(ProviderJobState.Completed, (await PollAsync(endpoint, remix)).State);

        await Videos.CancelAsync(endpoint, remix.ProviderJobId!, Ct);

        Assert.True(_fake.Videos.Single(v => v.Id == remix.ProviderJobId).Deleted);
        Assert.Equal(("DELETE", $"/v1/videos/{remix.ProviderJobId}"), (_fake.Requests[^1].Method, _fake.Requests[^1].Path));
        // Deleting what is already gone is not an error for a best-effort cancel.
        await Videos.CancelAsync(endpoint, remix.ProviderJobId!, Ct);
    }

    [Fact]
    public async Task A_video_the_moderation_blocks_is_refused_with_its_words_at_once_or_at_the_end()
    {
        var endpoint = Endpoint();

        var atOnce = await Videos.StartAsync(endpoint, Video("[[fake:moderation=depicts a real person]] A president dancing"), Ct);
        var late = await PollAsync(endpoint, await Videos.StartAsync(endpoint, Video("[[fake:moderation-late=graphic violence]] A battle"), Ct));
        var failed = await PollAsync(endpoint, await Videos.StartAsync(endpoint, Video("[[fake:fail=Out of GPU capacity]] A storm"), Ct));

        Assert.Equal(ProviderJobState.Failed, atOnce.State);
        Assert.True(atOnce.Failure!.Refused);
        Assert.Contains("depicts a real person", atOnce.Failure.Message, StringComparison.Ordinal);
        Assert.Equal(ProviderJobState.Failed, late.State);
        Assert.True(late.Failure!.Refused);
        Assert.Contains("graphic violence", late.Failure.Message, StringComparison.Ordinal);
        Assert.Equal(ProviderJobState.Failed, failed.State);
        Assert.False(failed.Failure!.Refused);
        Assert.Equal("Out of GPU capacity", failed.Failure.Message);
    }

    [Fact]
    public async Task An_overloaded_or_rate_limited_provider_throws_so_the_job_tries_again_and_a_bad_request_fails_it()
    {
        var endpoint = Endpoint();
        _fake.Enqueue(FakeScript.Status(503));
        _fake.Enqueue(FakeScript.Status(429, TimeSpan.FromSeconds(1)));

        var overloaded = await Assert.ThrowsAsync<HttpRequestException>(() => Videos.StartAsync(endpoint, Video("A lighthouse"), Ct));
        var limited = await Assert.ThrowsAsync<HttpRequestException>(() => Images.StartAsync(endpoint, Image("gpt-image-1", "A lighthouse"), Ct));
        var invalid = await Videos.StartAsync(endpoint, Video("A lighthouse", seconds: 5), Ct);
        var badKey = await Images.StartAsync(new GenerationEndpoint("openai", "OpenAI", _fake.OpenAiEndpoint, "sk-wrong-secret-key"), Image("gpt-image-1", "A lighthouse"), Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, overloaded.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(ProviderJobState.Failed, invalid.State);
        Assert.False(invalid.Failure!.Refused);
        Assert.Contains("Supported values are: '4', '8', and '12'", invalid.Failure.Message, StringComparison.Ordinal);
        Assert.Equal(ProviderJobState.Failed, badKey.State);
        Assert.DoesNotContain("sk-wrong", badKey.Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_provider_throws_a_transport_failure()
    {
        var closed = new GenerationEndpoint("openai", "OpenAI", new Uri("http://127.0.0.1:9/v1"), Key);

        await Assert.ThrowsAsync<HttpRequestException>(() => Videos.StartAsync(closed, Video("A lighthouse"), Ct));
        await Assert.ThrowsAsync<HttpRequestException>(() => Images.StartAsync(closed, Image("gpt-image-1", "A lighthouse"), Ct));
        await Assert.ThrowsAsync<HttpRequestException>(() => Videos.GetAsync(closed, "video_123", Ct));
    }

    [Fact]
    public async Task Two_gpt_image_1_images_come_inline_as_real_pngs_of_the_size_with_the_quality_the_provider_used()
    {
        var made = await Images.StartAsync(Endpoint(), Image("gpt-image-1", "Two pears", count: 2, size: "1536x1024"), Ct);

        Assert.Equal(ProviderJobState.Completed, made.State);
        Assert.Null(made.ProviderJobId);
        Assert.Equal(2, made.Outputs.Count);
        Assert.All(made.Outputs, o =>
        {
            Assert.Equal("image/png", o.ContentType);
            Assert.Equal((1536, 1024), FakeLlm.ImageSize(o.Bytes!));
            Assert.Null(o.Url);
        });
        Assert.Equal([0, 1], made.Outputs.Select(o => o.Index));
        Assert.NotEqual(made.Outputs[0].Bytes, made.Outputs[1].Bytes);
        Assert.Equal("1536x1024", made.Size);
        Assert.Equal("high", made.Quality);
        var request = Assert.Single(_fake.Requests);
        Assert.Equal("/v1/images/generations", request.Path);
        Assert.Equal(2, request.Body!.Value.GetProperty("n").GetInt32());
        Assert.False(request.Body.Value.TryGetProperty("response_format", out _));
    }

    [Fact]
    public async Task A_dall_e_3_image_comes_as_a_link_on_the_providers_host_and_is_downloaded()
    {
        var endpoint = Endpoint();

        var made = await Images.StartAsync(endpoint, Image("dall-e-3", "A lighthouse at dusk", quality: "hd", size: "1792x1024"), Ct);

        var output = Assert.Single(made.Outputs);
        Assert.Null(output.Bytes);
        Assert.NotNull(output.Url);
        Assert.Equal("hd", _fake.Requests[0].Body!.Value.GetProperty("quality").GetString());
        await using var content = await Images.OpenOutputAsync(endpoint, null, output, Ct);
        using var file = new MemoryStream();
        await content.CopyToAsync(file, Ct);
        Assert.Equal((1792, 1024), FakeLlm.ImageSize(file.ToArray()));
        // The link is signed; the deployment's key is not sent with it.
        Assert.False(_fake.Requests[^1].Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task A_link_to_another_host_goes_through_the_outbound_policy_which_refuses_an_internal_address()
    {
        var endpoint = Endpoint();
        _fake.ImageUrlBase = new Uri($"http://127.0.0.2:{_fake.BaseAddress.Port}/");

        var made = await Images.StartAsync(endpoint, Image("dall-e-3", "A lighthouse"), Ct);

        var output = Assert.Single(made.Outputs);
        Assert.Equal("127.0.0.2", output.Url!.Host);
        var refused = await Assert.ThrowsAsync<GenerationFailure>(() => Images.OpenOutputAsync(endpoint, null, output, Ct));
        Assert.Equal(GenerationErrors.ProviderFailed, refused.Code);
        Assert.Contains("does not fetch", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_fake.Requests, r => r.Path.StartsWith("/fake-files/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_image_edit_sends_the_input_image_with_the_prompt_and_answers_the_edited_images()
    {
        var made = await Images.StartAsync(Endpoint(), Image("gpt-image-1", "Add a hat", size: "1024x1024", input: Png(1024, 1024)), Ct);

        Assert.Equal(ProviderJobState.Completed, made.State);
        Assert.Equal((1024, 1024), FakeLlm.ImageSize(Assert.Single(made.Outputs).Bytes!));
        var request = Assert.Single(_fake.Requests);
        Assert.Equal("/v1/images/edits", request.Path);
        Assert.Equal("Add a hat", request.Body!.Value.GetProperty("prompt").GetString());
        var upload = Assert.Single(request.Uploads);
        Assert.Equal(("input.png", 1024, 1024), (upload.FileName, upload.Width, upload.Height));
    }

    [Fact]
    public async Task An_image_the_safety_system_rejects_fails_as_refused_with_the_providers_words()
    {
        var made = await Images.StartAsync(Endpoint(), Image("gpt-image-1", "[[fake:moderation=sexual]] Something not allowed"), Ct);

        Assert.Equal(ProviderJobState.Failed, made.State);
        Assert.True(made.Failure!.Refused);
        Assert.Contains("rejected by the safety system", made.Failure.Message, StringComparison.Ordinal);
        Assert.Contains("safety_violations=[sexual]", made.Failure.Message, StringComparison.Ordinal);
    }
}
