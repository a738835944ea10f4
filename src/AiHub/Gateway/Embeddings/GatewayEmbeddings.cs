using System.IO.Pipelines;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text.Json;
using AiHub.Chat.Tokens;
using AiHub.Infrastructure.Errors;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Gateway.Embeddings;

/// <summary>An embeddings request as OpenAI's <c>POST /v1/embeddings</c> takes it, validated.</summary>
internal sealed record EmbeddingsRequest(string Model, IReadOnlyList<string> Input, bool Base64, int? Dimensions);

/// <summary>
/// <c>POST /v1/embeddings</c> in OpenAI's shape, over the embedding path knowledge bases use: the same models
/// (<c>Providers:N:EmbeddingModels:M</c>), the same credit hold and settlement, one usage record per batch tagged with the key.
/// </summary>
/// <remarks>
/// It takes the <c>chat:use</c> permission: an embedding here is a paid model call like a chat completion, and it
/// reads and writes no knowledge base, which is what the knowledge permissions guard.
/// </remarks>
internal static class EmbeddingEndpoints
{
    /// <summary>As OpenAI: at most 2,048 inputs a request.</summary>
    public const int MaxInputs = 2048;

    /// <summary>Room for 2,048 inputs of a few thousand characters; a larger body is refused before it is read.</summary>
    public const long MaxBodyBytes = 16 * 1024 * 1024;

    const int FlushBytes = 64 * 1024;

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/embeddings", EmbedAsync)
            .AllowAnonymous().WithMetadata(ApiKeysAllowedMetadata.Instance).WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes))
            .WithTags("Gateway").WithSummary("Embeds text with an embedding model of the deployment, as OpenAI's embeddings API does.")
            .Accepts<JsonElement>("application/json");
    }

    static async Task EmbedAsync(
        HttpContext http, EmbeddingModels models, KnowledgeEmbedder embedder, TokenCounter tokens, KeyTokenLimits tokenLimits,
        EmbeddingDimensions dimensions, CancellationToken ct)
    {
        var key = await GatewayCaller.RequireAsync(http, OrgPermissions.ChatUse);
        var request = Parse(await ReadAsync(http, ct));
        var model = Resolve(models, request.Model);
        for (var i = 0; i < request.Input.Count; i++)
            if (tokens.Count(model.Model, request.Input[i]) > KnowledgeEmbedder.MaxTokensPerRequest)
                throw ProblemException.Invalid($"input[{i}]", $"input[{i}] is longer than the {KnowledgeEmbedder.MaxTokensPerRequest:N0} tokens an embedding input may hold; split it.");
        if (request.Dimensions is { } asked && dimensions.Of(model) is { } known && asked != known)
            throw DimensionsRefused(model, asked, known);
        await tokenLimits.CheckAsync(key, ct);

        EmbeddedTexts embedded;
        try
        {
            embedded = await embedder.EmbedWithUsageAsync(GatewayCaller.SpenderOf(key), model.Id, request.Input, $"gw:emb:{Guid.CreateVersion7():N}", ct);
        }
        catch (IngestionException e)
        {
            // The provider failed after our retries: its message names the model and the status, never its body or address.
            throw new ProblemException(e.Transient ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status502BadGateway,
                "The embedding model failed.", e.Message, ProblemTypes.ProviderFailed);
        }
        await tokenLimits.AddAsync(key, embedded.InputTokens, CancellationToken.None);
        var length = embedded.Vectors[0].Length;
        dimensions.Remember(model, length);
        if (request.Dimensions is { } wanted && wanted != length)
            throw DimensionsRefused(model, wanted, length);

        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await WriteAsync(http.Response.BodyWriter, request, embedded, ct);
    }

    /// <summary>The body as JSON, or a 400 that says why it is not.</summary>
    static async Task<JsonDocument> ReadAsync(HttpContext http, CancellationToken ct)
    {
        try
        {
            return await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: ct);
        }
        catch (JsonException e)
        {
            throw ProblemException.Invalid("body", $"The body is not valid JSON: {e.Message}");
        }
    }

    internal static EmbeddingsRequest Parse(JsonDocument document)
    {
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw ProblemException.Invalid("body", "The body is a JSON object with model and input.");
            var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String && m.GetString()!.Trim() is { Length: > 0 } name ? name
                : throw ProblemException.Invalid("model", "model is required: the name of an embedding model, like text-embedding-3-small.");
            var input = root.TryGetProperty("input", out var i) ? Inputs(i) : throw ProblemException.Invalid("input", "input is required: a string or an array of strings.");
            var base64 = !root.TryGetProperty("encoding_format", out var f) || f.ValueKind == JsonValueKind.Null ? false
                : f.ValueKind == JsonValueKind.String && f.GetString() is "float" or "base64" ? f.GetString() == "base64"
                : throw ProblemException.Invalid("encoding_format", "encoding_format is float or base64.");
            int? dimensions = !root.TryGetProperty("dimensions", out var d) || d.ValueKind == JsonValueKind.Null ? null
                : d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out var n) && n >= 1 ? n
                : throw ProblemException.Invalid("dimensions", "dimensions is a whole number of at least 1.");
            if (root.TryGetProperty("user", out var u) && u.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                throw ProblemException.Invalid("user", "user is a string.");
            return new EmbeddingsRequest(model, input, base64, dimensions);
        }
    }

    static List<string> Inputs(JsonElement input)
    {
        if (input.ValueKind == JsonValueKind.String)
            return [Text(input, "input")];
        if (input.ValueKind != JsonValueKind.Array)
            throw ProblemException.Invalid("input", "input is a string or an array of strings.");
        var count = input.GetArrayLength();
        if (count == 0)
            throw ProblemException.Invalid("input", "input holds at least one string.");
        if (count > MaxInputs)
            throw ProblemException.Invalid("input", $"input holds at most {MaxInputs:N0} strings; send the rest in another request.");
        var texts = new List<string>(count);
        var index = 0;
        foreach (var item in input.EnumerateArray())
        {
            if (item.ValueKind is JsonValueKind.Number or JsonValueKind.Array)
                throw ProblemException.Invalid("input", "Token arrays are not supported: send the text itself, as a string or an array of strings.");
            texts.Add(Text(item, $"input[{index++}]"));
        }
        return texts;
    }

    static string Text(JsonElement item, string field)
    {
        if (item.ValueKind != JsonValueKind.String)
            throw ProblemException.Invalid(field, $"{field} is a string.");
        var text = item.GetString()!;
        return string.IsNullOrWhiteSpace(text) ? throw ProblemException.Invalid(field, $"{field} is empty; every input holds some text.") : text;
    }

    /// <summary>By <c>provider/model</c>, or by the bare model id (the first provider in the settings that serves it); 404 for any other.</summary>
    internal static EmbeddingModel Resolve(EmbeddingModels models, string name) =>
        models.All.FirstOrDefault(m => string.Equals(m.Id, name, StringComparison.OrdinalIgnoreCase))
        ?? models.All.FirstOrDefault(m => string.Equals(m.Model, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such model.", models.All.Count == 0
            ? $"'{name}' is not an embedding model here: this deployment has none configured."
            : $"'{name}' is not an embedding model here; use one of: {string.Join(", ", models.All.Select(m => m.Model).Distinct(StringComparer.OrdinalIgnoreCase))}.",
            ProblemTypes.ModelNotFound);

    static ProblemException DimensionsRefused(EmbeddingModel model, int asked, int length) =>
        ProblemException.Invalid("dimensions", $"{model.Model} returns vectors of {length} dimensions and cannot shorten them; leave dimensions out or send {length}.");

    /// <summary>OpenAI's response, written straight to the body: floats as JSON numbers, or base64 of little-endian float32 bytes.</summary>
    static async Task WriteAsync(PipeWriter body, EmbeddingsRequest request, EmbeddedTexts embedded, CancellationToken ct)
    {
        await using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            var bytes = request.Base64 ? new byte[embedded.Vectors[0].Length * sizeof(float)] : null;
            for (var i = 0; i < embedded.Vectors.Count; i++)
            {
                var vector = embedded.Vectors[i];
                json.WriteStartObject();
                json.WriteString("object", "embedding");
                json.WriteNumber("index", i);
                if (bytes is not null)
                {
                    for (var j = 0; j < vector.Length; j++)
                        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(j * sizeof(float)), vector[j]);
                    json.WriteBase64String("embedding", bytes);
                }
                else
                {
                    json.WriteStartArray("embedding");
                    foreach (var x in vector)
                        json.WriteNumberValue(x);
                    json.WriteEndArray();
                }
                json.WriteEndObject();
                // Sent as it goes: 2,048 long vectors would otherwise sit whole in memory.
                if (json.BytesPending > FlushBytes)
                {
                    json.Flush();
                    await body.FlushAsync(ct);
                }
            }
            json.WriteEndArray();
            json.WriteString("model", request.Model);
            json.WriteStartObject("usage");
            json.WriteNumber("prompt_tokens", embedded.InputTokens);
            json.WriteNumber("total_tokens", embedded.InputTokens);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        await body.FlushAsync(ct);
    }
}

/// <summary>The vector length each embedding model answered with on this node, so that a <c>dimensions</c> it cannot give is refused before a call is paid.</summary>
internal sealed class EmbeddingDimensions
{
    readonly ConcurrentDictionary<string, int> _known = new(StringComparer.OrdinalIgnoreCase);

    public int? Of(EmbeddingModel model) => _known.TryGetValue(model.Id, out var length) ? length : null;

    public void Remember(EmbeddingModel model, int length) => _known[model.Id] = length;
}
