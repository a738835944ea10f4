using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace AiHub.Infrastructure.OpenApi;

/// <summary>The OpenAPI document at /openapi/v1.json, written so that a client generated from it works as it stands.</summary>
internal static class ApiDocument
{
    public const string Name = "v1";

    const string Description = """
        Organisations, chat, knowledge bases and credits.

        - **Casing:** property names and every enum value are camelCase strings (`"role": "user"`, `"status": "complete"`); a request may spell an enum value in any case.
        - **Numbers** are JSON numbers; credits come as a decimal next to the exact integer micro-credits (`cost`, `costMicros`).
        - **Errors** are RFC 9457 ProblemDetails (`application/problem+json`) for every status and every `Accept` header, with `traceId` and, for invalid input, `errors` by field.
        - **Org routes** are `/api/orgs/{orgId}/…`; another organisation's resource is 404.
        - **Streaming:** send a message with `Accept: text/event-stream` for server-sent events, or connect to the WebSocket at `/ws`.
        - **API keys:** an organisation API key (`Authorization: Bearer ahk_…`) works on the operations that list the `ApiKey` scheme; outside services spend credits through `/api/credits/check`, `/deduct` and `/holds` with a key that has `credits:spend`.
        """;

    /// <summary>
    /// A request example per operation id, shown by reference UIs and read by importers such as a Custom GPT action;
    /// kept here so that every feature's operations are described in one place, whichever feature maps them.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> RequestExamples = new Dictionary<string, string>
    {
        ["checkCredits"] = """{"credits": 2.5, "service": "image-upscaler"}""",
        ["deductCredits"] = """{"credits": 1.25, "service": "image-upscaler", "reference": "upscale job 8812", "idempotencyKey": "upscale-8812"}""",
        ["createCreditHold"] = """{"credits": 40, "service": "video-render", "reference": "render 311", "idempotencyKey": "render-311", "expiresInSeconds": 7200}""",
        ["settleCreditHold"] = """{"credits": 32.5}""",
        ["createGeneration"] = """{"kind": "video", "model": "sora-2", "prompt": "A paper boat drifting down a rain-soaked street at dusk", "seconds": 8, "size": "1280x720"}""",
        ["quoteGeneration"] = """{"kind": "image", "model": "gpt-image-1", "prompt": "A watercolour fox in the snow", "size": "1024x1024", "quality": "medium", "count": 2}""",
        ["remixGeneration"] = """{"prompt": "The same scene, but at sunrise with the rain stopped"}""",
    };

    public static IServiceCollection AddApiDocument(this IServiceCollection services) => services.AddOpenApi(Name, options =>
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "AiHub API";
            document.Info.Description = Description;
            return Task.CompletedTask;
        });
        // A document transformer runs after every operation transformer, so an upload's body (AcceptsFile) is already in place.
        options.AddDocumentTransformer((document, _, _) =>
        {
            var operations = document.Paths?.Values.SelectMany(p => p.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>()) ?? [];
            foreach (var operation in operations)
                if (operation.OperationId is { } id && RequestExamples.TryGetValue(id, out var example)
                    && operation.RequestBody?.Content is { } content && content.TryGetValue("application/json", out var json))
                    json.Example = JsonNode.Parse(example);
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            OptionalWhenNullable(schema, context.JsonTypeInfo);
            // An enum is written as a string (ApiJson); saying so lets a generator type it as a union of strings.
            if (schema.Enum is { Count: > 0 } && schema.Type is null && (Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type).IsEnum)
                schema.Type = JsonSchemaType.String;
            return Task.CompletedTask;
        });
    });

    /// <summary>
    /// A record's constructor parameters are all listed as required, even <c>string? Title</c>; a generated client would
    /// then insist on a title. A member that may be null may also be left out.
    /// </summary>
    static void OptionalWhenNullable(OpenApiSchema schema, JsonTypeInfo type)
    {
        if (schema.Required is not { Count: > 0 } required || type.Kind != JsonTypeInfoKind.Object)
            return;
        foreach (var property in type.Properties)
        {
            var nullable = Nullable.GetUnderlyingType(property.PropertyType) is not null
                || (!property.PropertyType.IsValueType && property.IsGetNullable && property.IsSetNullable)
                || (schema.Properties is { } properties && properties.TryGetValue(property.Name, out var p) && p is OpenApiSchema { Type: { } t } && t.HasFlag(JsonSchemaType.Null));
            if (nullable && !property.IsRequired)
                required.Remove(property.Name);
        }
    }

    /// <summary>
    /// Documents a 200 answered as CSV: only CSV (<paramref name="alsoJson"/> false), or CSV beside the JSON answer
    /// (for an endpoint that answers CSV when asked with <c>format=csv</c>).
    /// </summary>
    public static RouteHandlerBuilder ProducesCsv(this RouteHandlerBuilder builder, bool alsoJson = false) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            var ok = Ok(operation);
            ok.Content ??= new Dictionary<string, OpenApiMediaType>();
            if (!alsoJson)
                ok.Content.Remove("application/json");
            ok.Content["text/csv"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = "RFC 4180 CSV with a header row." } };
            ok.Description = alsoJson ? "The answer as JSON, or as CSV with format=csv." : "A CSV file (RFC 4180, with a header row).";
            return Task.CompletedTask;
        });

    /// <summary>
    /// Documents a body sent as a multipart upload whose <paramref name="field"/> is a file, or as one of <paramref name="rawTypes"/> (the file's bytes as
    /// the body), beside a JSON body the endpoint also accepts.
    /// </summary>
    public static RouteHandlerBuilder AcceptsFile(this RouteHandlerBuilder builder, string field, string description, params string[] rawTypes) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            var content = new Dictionary<string, OpenApiMediaType>
            {
                ["multipart/form-data"] = new()
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { field },
                        Properties = new Dictionary<string, IOpenApiSchema>
                        {
                            [field] = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary", Description = description },
                        },
                    },
                },
            };
            // The upload itself is the multipart form: a raw body is another type.
            foreach (var raw in rawTypes.Where(t => t != "multipart/form-data"))
                content[raw] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = description } };
            // A body it also takes as JSON (Accepts<T>) stays documented beside the upload.
            foreach (var (type, media) in operation.RequestBody?.Content ?? new Dictionary<string, OpenApiMediaType>())
                content.TryAdd(type, media);
            operation.RequestBody = new OpenApiRequestBody { Required = true, Content = content };
            return Task.CompletedTask;
        });

    /// <summary>Documents a 200 that streams server-sent events (<c>text/event-stream</c>) beside its JSON answer; <paramref name="events"/> describes each event.</summary>
    public static RouteHandlerBuilder ProducesEvents(this RouteHandlerBuilder builder, string events) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            var ok = Ok(operation);
            ok.Content ??= new Dictionary<string, OpenApiMediaType>();
            ok.Content["text/event-stream"] = new OpenApiMediaType
            {
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = events },
            };
            ok.Description = "The answer as JSON, or as server-sent events when the request has Accept: text/event-stream.";
            operation.Description = (operation.Description is { Length: > 0 } d ? d + "\n\n" : "") + events;
            return Task.CompletedTask;
        });

    static OpenApiResponse Ok(OpenApiOperation operation)
    {
        operation.Responses ??= [];
        if (!operation.Responses.TryGetValue("200", out var found) || found is not OpenApiResponse ok)
            operation.Responses["200"] = ok = new OpenApiResponse { Description = "OK" };
        return ok;
    }
}
