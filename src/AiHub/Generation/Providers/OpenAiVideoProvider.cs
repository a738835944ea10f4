using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Chat.Providers;
using OpenAI.Videos;

// The SDK marks its videos client experimental; the wire format it speaks is OpenAI's published videos API.
#pragma warning disable OPENAI001

namespace AiHub.Generation.Providers;

/// <summary>
/// OpenAI's videos API (Sora) through the SDK's <see cref="VideoClient"/>, whose protocol methods cover create, get,
/// content, remix and delete: the video object is read as JSON, so fields the SDK does not model yet still arrive.
/// </summary>
internal sealed partial class OpenAiVideoProvider(IHttpClientFactory clients, ILogger<OpenAiVideoProvider> log) : IGenerationProvider
{
    public bool Serves(GenerationEndpoint endpoint, GenerationKind kind) => kind == GenerationKind.Video && endpoint.Kind == ProviderKinds.OpenAI;

    public async Task<ProviderJob> StartAsync(GenerationEndpoint endpoint, GenerationCall call, CancellationToken ct)
    {
        var client = Client(endpoint);
        if (call.RemixOfProviderJobId is { } source)
        {
            using var remix = BinaryContent.Create(BinaryData.FromObjectAsJson(new { prompt = call.Prompt }));
            return await SendAsync(endpoint, null, "remix", options => client.CreateVideoRemixAsync(source, remix, "application/json", options), ct);
        }
        var fields = new Dictionary<string, string> { ["model"] = call.Model, ["prompt"] = call.Prompt, ["size"] = call.Size };
        // The API takes the length as a string ("4"), not a number.
        if (call.Seconds is { } seconds)
            fields["seconds"] = seconds.ToString(CultureInfo.InvariantCulture);
        if (call.InputImage is not { } input)
        {
            using var json = BinaryContent.Create(BinaryData.FromObjectAsJson(fields));
            return await SendAsync(endpoint, null, "create", options => client.CreateVideoAsync(json, "application/json", options), ct);
        }
        using var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields)
            form.Add(new StringContent(value), name);
        await using var image = await input.OpenAsync(ct);
        var file = new StreamContent(image);
        file.Headers.ContentType = new MediaTypeHeaderValue(input.ContentType);
        form.Add(file, "input_reference", input.FileName);
        // The SDK takes a finished body: the reference image is small (GenerationSettings.MaxInputImageBytes).
        using var body = BinaryContent.Create(BinaryData.FromBytes(await form.ReadAsByteArrayAsync(ct)));
        return await SendAsync(endpoint, null, "create", options => client.CreateVideoAsync(body, form.Headers.ContentType!.ToString(), options), ct);
    }

    public Task<ProviderJob> GetAsync(GenerationEndpoint endpoint, string providerJobId, CancellationToken ct)
    {
        var client = Client(endpoint);
        return SendAsync(endpoint, providerJobId, "get", options => client.GetVideoAsync(providerJobId, options), ct);
    }

    public async Task<Stream> OpenOutputAsync(GenerationEndpoint endpoint, string? providerJobId, ProviderOutput output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(providerJobId);
        var options = new RequestOptions { CancellationToken = ct, ErrorOptions = ClientErrorBehaviors.NoThrow, BufferResponse = false };
        ClientResult result;
        try
        {
            result = await Client(endpoint).DownloadVideoAsync(providerJobId, "video", options);
        }
        catch (ClientResultException e) when (e.Status == 0)
        {
            throw ProviderCalls.Transport(e);
        }
        var response = result.GetRawResponse();
        if (response.Status is >= 200 and < 300 && response.ContentStream is { } stream)
            return stream;
        var status = response.Status;
        response.Dispose();
        // A completed video whose file is not there yet (or any longer) is worth another try; the job's limits end it.
        throw new HttpRequestException($"The provider answered {status} for the video's content.", null, (System.Net.HttpStatusCode)status);
    }

    public async Task CancelAsync(GenerationEndpoint endpoint, string providerJobId, CancellationToken ct)
    {
        var options = new RequestOptions { CancellationToken = ct, ErrorOptions = ClientErrorBehaviors.NoThrow };
        try
        {
            using var response = (await Client(endpoint).DeleteVideoAsync(providerJobId, options)).GetRawResponse();
            // Gone already, or not deletable while it runs: nothing more to do for a best-effort cancel.
            if (response.Status is 429 or >= 500)
                throw new HttpRequestException($"The provider answered {response.Status} to the delete.", null, (System.Net.HttpStatusCode)response.Status);
            if (response.Status >= 400)
                LogDeleteRefused(endpoint.Name, response.Status);
        }
        catch (ClientResultException e) when (e.Status == 0)
        {
            throw ProviderCalls.Transport(e);
        }
    }

    VideoClient Client(GenerationEndpoint endpoint) =>
        new(ProviderCalls.Credential(endpoint), ProviderCalls.Options(new VideoClientOptions { Endpoint = endpoint.BaseUrl }, endpoint, clients));

    async Task<ProviderJob> SendAsync(GenerationEndpoint endpoint, string? providerJobId, string what, Func<RequestOptions, Task<ClientResult>> send, CancellationToken ct)
    {
        var options = new RequestOptions { CancellationToken = ct, ErrorOptions = ClientErrorBehaviors.NoThrow };
        PipelineResponse response;
        try
        {
            response = (await send(options)).GetRawResponse();
        }
        catch (ClientResultException e) when (e.Status == 0)
        {
            throw ProviderCalls.Transport(e);
        }
        using (response)
        {
            if (response.Status >= 400)
            {
                LogFailed(endpoint.Name, what, response.Status);
                return ProviderCalls.Failed(response.Status, response.Content, providerJobId);
            }
            return Read(response.Content);
        }
    }

    /// <summary>OpenAI's video object as a job state.</summary>
    static ProviderJob Read(BinaryData body)
    {
        JsonObject video;
        try
        {
            video = JsonNode.Parse(body) as JsonObject ?? throw new HttpRequestException("The provider's answer is not a video object.");
        }
        catch (JsonException e)
        {
            throw new HttpRequestException("The provider's answer is not JSON.", e);
        }
        var id = Text(video, "id") ?? throw new HttpRequestException("The provider's video object has no id.");
        var progress = video["progress"] is JsonValue p && p.TryGetValue<double>(out var value) ? (int)Math.Clamp(value, 0, 100) : 0;
        double? seconds = double.TryParse(Text(video, "seconds"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : null;
        var size = Text(video, "size");
        return Text(video, "status") switch
        {
            "queued" => new(id, ProviderJobState.Queued, progress, [], null, seconds, size),
            "in_progress" => new(id, ProviderJobState.InProgress, progress, [], null, seconds, size),
            "completed" => new(id, ProviderJobState.Completed, 100, [new ProviderOutput(0, "video/mp4")], null, seconds, size),
            "failed" => new(id, ProviderJobState.Failed, progress, [], Failure(video["error"]), seconds, size),
            var other => new(id, ProviderJobState.Failed, progress, [], new($"The provider ended the video as '{other}'.", false), seconds, size),
        };
    }

    static ProviderFailure Failure(JsonNode? error)
    {
        var (code, message) = error is null ? (null, null) : ProviderCalls.ReadError(BinaryData.FromString(error.ToJsonString()));
        return new(message ?? code ?? "The provider gave no reason.", ProviderCalls.IsRefusal(code, message));
    }

    static string? Text(JsonObject json, string name) =>
        json[name] is JsonValue value && value.GetValueKind() is JsonValueKind.String or JsonValueKind.Number ? value.ToString() : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Video provider {Provider}: {Call} answered {Status}")]
    partial void LogFailed(string provider, string call, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "Video provider {Provider} answered {Status} to a delete; left as it is")]
    partial void LogDeleteRefused(string provider, int status);
}
