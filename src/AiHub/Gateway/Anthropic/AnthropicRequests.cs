using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.AI;

namespace AiHub.Gateway.Anthropic;

/// <summary>Reads an Anthropic Messages request by Anthropic's own rules, and restates it in Microsoft.Extensions.AI terms.</summary>
internal static class AnthropicRequests
{
    static readonly string[] ImageTypes = ["image/jpeg", "image/png", "image/gif", "image/webp"];

    /// <summary>The request, or a 400 whose message starts with the field at fault (<c>messages.1.content.0.source.data</c>), as Anthropic words it.</summary>
    public static GatewayChatRequest Parse(JsonObject body)
    {
        var model = RequiredString(body, "model");
        var maxTokens = Int(body["max_tokens"], "max_tokens", min: 1) ?? throw Invalid("max_tokens", "Field required.");
        var messages = new List<ChatMessage>();
        ReadSystem(body["system"], messages);
        ReadMessages(body["messages"], messages);

        var options = new ChatOptions
        {
            Temperature = Number(body["temperature"], "temperature", 0, 1),
            TopP = Number(body["top_p"], "top_p", 0, 1),
            TopK = Int(body["top_k"], "top_k", min: 0),
            StopSequences = StopSequences(body["stop_sequences"]),
            Tools = Tools(body["tools"]),
            ResponseFormat = OutputFormat(body["output_format"]),
        };
        ReadToolChoice(body["tool_choice"], options);
        if (User(body["metadata"]) is { } user)
            (options.AdditionalProperties ??= [])[Translation.TranslatedCall.EndUser] = user;

        return new GatewayChatRequest
        {
            Format = WireFormat.Anthropic,
            Model = model,
            Stream = Bool(body["stream"], "stream") ?? false,
            MaxTokens = maxTokens,
            Body = body,
            Messages = messages,
            Options = options,
        };
    }

    static void ReadSystem(JsonNode? system, List<ChatMessage> messages)
    {
        switch (system)
        {
            case null:
                return;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                var text = v.GetValue<string>();
                if (text.Length > 0)
                    messages.Add(new ChatMessage(ChatRole.System, text));
                return;
            case JsonArray blocks:
                var contents = new List<AIContent>(blocks.Count);
                for (var i = 0; i < blocks.Count; i++)
                {
                    var at = $"system.{i}";
                    var block = Object(blocks[i], at);
                    if (RequiredString(block, "type", at) != "text")
                        throw Invalid($"{at}.type", "Input should be 'text'.");
                    contents.Add(new TextContent(RequiredString(block, "text", at)));
                }
                if (contents.Count > 0)
                    messages.Add(new ChatMessage(ChatRole.System, contents));
                return;
            default:
                throw Invalid("system", "Input should be a valid string or a list of text blocks.");
        }
    }

    static void ReadMessages(JsonNode? node, List<ChatMessage> messages)
    {
        if (node is null)
            throw Invalid("messages", "Field required.");
        if (node is not JsonArray list)
            throw Invalid("messages", "Input should be a valid list.");
        if (list.Count == 0)
            throw Invalid("messages", "At least one message is required.");
        for (var i = 0; i < list.Count; i++)
        {
            var at = $"messages.{i}";
            var message = Object(list[i], at);
            var role = RequiredString(message, "role", at) switch
            {
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                _ => throw Invalid($"{at}.role", "Input should be 'user' or 'assistant'."),
            };
            var content = message["content"] ?? throw Invalid($"{at}.content", "Field required.");
            if (content is JsonValue text && text.GetValueKind() == JsonValueKind.String)
            {
                messages.Add(new ChatMessage(role, text.GetValue<string>()));
                continue;
            }
            if (content is not JsonArray blocks)
                throw Invalid($"{at}.content", "Input should be a valid string or a list of content blocks.");
            ReadBlocks(blocks, role, $"{at}.content", messages);
        }
    }

    /// <summary>
    /// One message's blocks. Tool results become a tool message of their own ahead of the rest, because that is where
    /// OpenAI expects them and where Microsoft.Extensions.AI's clients look for them.
    /// </summary>
    static void ReadBlocks(JsonArray blocks, ChatRole role, string at, List<ChatMessage> messages)
    {
        List<AIContent>? results = null;
        var contents = new List<AIContent>(blocks.Count);
        for (var i = 0; i < blocks.Count; i++)
        {
            var where = $"{at}.{i}";
            var block = Object(blocks[i], where);
            var type = RequiredString(block, "type", where);
            switch (type)
            {
                case "text":
                    contents.Add(new TextContent(RequiredString(block, "text", where)));
                    break;
                case "image":
                    contents.Add(Image(block, where));
                    break;
                case "tool_use" when role == ChatRole.Assistant:
                    contents.Add(new FunctionCallContent(RequiredString(block, "id", where), RequiredString(block, "name", where), Arguments(block["input"], $"{where}.input")));
                    break;
                case "tool_use":
                    throw Invalid($"{where}.type", "tool_use blocks may only appear in assistant messages.");
                case "tool_result" when role == ChatRole.User:
                    (results ??= []).Add(ToolResult(block, where));
                    break;
                case "tool_result":
                    throw Invalid($"{where}.type", "tool_result blocks may only appear in user messages.");
                case "thinking":
                    contents.Add(new TextReasoningContent(RequiredString(block, "thinking", where)) { ProtectedData = OptionalString(block, "signature", where) });
                    break;
                case "redacted_thinking":
                    contents.Add(new TextReasoningContent(null) { ProtectedData = RequiredString(block, "data", where) });
                    break;
                default:
                    throw Invalid($"{where}.type", "Input should be 'text', 'image', 'tool_use', 'tool_result', 'thinking' or 'redacted_thinking'.");
            }
        }
        if (results is not null)
            messages.Add(new ChatMessage(ChatRole.Tool, results));
        if (contents.Count > 0 || results is null)
            messages.Add(new ChatMessage(role, contents));
    }

    static AIContent Image(JsonObject block, string at)
    {
        var source = Object(block["source"] ?? throw Invalid($"{at}.source", "Field required."), $"{at}.source");
        var where = $"{at}.source";
        switch (RequiredString(source, "type", where))
        {
            case "base64":
                var mediaType = RequiredString(source, "media_type", where);
                if (!ImageTypes.Contains(mediaType))
                    throw Invalid($"{where}.media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'.");
                var data = RequiredString(source, "data", where);
                try
                {
                    return new DataContent(Convert.FromBase64String(data), mediaType);
                }
                catch (FormatException)
                {
                    throw Invalid($"{where}.data", "The image data is not valid base64.");
                }
            case "url":
                var url = RequiredString(source, "url", where);
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
                    throw Invalid($"{where}.url", "Input should be an absolute http or https URL.");
                return new UriContent(uri, "image/*");
            default:
                throw Invalid($"{where}.type", "Input should be 'base64' or 'url'.");
        }
    }

    static FunctionResultContent ToolResult(JsonObject block, string at)
    {
        var id = RequiredString(block, "tool_use_id", at);
        var isError = Bool(block["is_error"], $"{at}.is_error") ?? false;
        string text;
        switch (block["content"])
        {
            case null:
                text = "";
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                text = v.GetValue<string>();
                break;
            case JsonArray parts:
                var joined = new List<string>(parts.Count);
                for (var i = 0; i < parts.Count; i++)
                {
                    var where = $"{at}.content.{i}";
                    var part = Object(parts[i], where);
                    switch (RequiredString(part, "type", where))
                    {
                        case "text":
                            joined.Add(RequiredString(part, "text", where));
                            break;
                        case "image":
                            // Validated like any image; a tool message of the other format carries text only, so the image itself goes no further.
                            Image(part, where);
                            joined.Add("[image]");
                            break;
                        default:
                            throw Invalid($"{where}.type", "Input should be 'text' or 'image'.");
                    }
                }
                text = string.Join("\n", joined);
                break;
            default:
                throw Invalid($"{at}.content", "Input should be a valid string or a list of text and image blocks.");
        }
        // OpenAI's tool messages have no error flag: the result says so in words instead.
        return new FunctionResultContent(id, isError ? "Error: " + text : text);
    }

    static Dictionary<string, object?> Arguments(JsonNode? input, string at)
    {
        if (input is not JsonObject obj)
            throw Invalid(at, "Input should be a valid dictionary.");
        var arguments = new Dictionary<string, object?>(obj.Count);
        foreach (var (name, value) in obj)
            arguments[name] = value is null ? null : JsonSerializer.SerializeToElement(value, AIJsonUtilities.DefaultOptions);
        return arguments;
    }

    static List<AITool>? Tools(JsonNode? node)
    {
        if (node is null)
            return null;
        if (node is not JsonArray list)
            throw Invalid("tools", "Input should be a valid list.");
        var tools = new List<AITool>(list.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var at = $"tools.{i}";
            var tool = Object(list[i], at);
            if (OptionalString(tool, "type", at) is { } type && type != "custom")
                throw Invalid($"{at}.type", $"'{type}' is one of Anthropic's own tools, which this gateway does not offer; declare a custom tool (name, description, input_schema).");
            var name = RequiredString(tool, "name", at);
            if (name.Length is 0 or > 128 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                throw Invalid($"{at}.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'.");
            if (!names.Add(name))
                throw Invalid($"{at}.name", "Tool names must be unique.");
            var description = OptionalString(tool, "description", at);
            if (tool["input_schema"] is not JsonObject schema)
                throw Invalid($"{at}.input_schema", tool["input_schema"] is null ? "Field required." : "Input should be a valid dictionary.");
            if (schema["type"] is not JsonValue t || t.GetValueKind() != JsonValueKind.String || t.GetValue<string>() != "object")
                throw Invalid($"{at}.input_schema.type", "Input should be 'object'.");
            tools.Add(AIFunctionFactory.CreateDeclaration(name, description, JsonSerializer.SerializeToElement(schema, AIJsonUtilities.DefaultOptions)));
        }
        return tools;
    }

    static void ReadToolChoice(JsonNode? node, ChatOptions options)
    {
        if (node is null)
            return;
        var choice = Object(node, "tool_choice");
        var type = RequiredString(choice, "type", "tool_choice");
        options.ToolMode = type switch
        {
            "auto" => ChatToolMode.Auto,
            "any" => ChatToolMode.RequireAny,
            "none" => ChatToolMode.None,
            "tool" => ChatToolMode.RequireSpecific(RequiredString(choice, "name", "tool_choice")),
            _ => throw Invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'."),
        };
        if (type == "tool" && options.Tools?.Any(t => t.Name == ((RequiredChatToolMode)options.ToolMode).RequiredFunctionName) != true)
            throw Invalid("tool_choice.name", "Names a tool that is not in tools.");
        if (Bool(choice["disable_parallel_tool_use"], "tool_choice.disable_parallel_tool_use") is { } disable)
            options.AllowMultipleToolCalls = !disable;
    }

    static List<string>? StopSequences(JsonNode? node)
    {
        if (node is null)
            return null;
        if (node is not JsonArray list)
            throw Invalid("stop_sequences", "Input should be a valid list.");
        var stops = new List<string>(list.Count);
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                throw Invalid($"stop_sequences.{i}", "Input should be a valid string.");
            var stop = v.GetValue<string>();
            if (stop.Length == 0 || string.IsNullOrWhiteSpace(stop))
                throw Invalid($"stop_sequences.{i}", "Each stop sequence must contain non-whitespace.");
            stops.Add(stop);
        }
        return stops;
    }

    /// <summary>Structured outputs: <c>output_format: {type: "json_schema", schema}</c>.</summary>
    static ChatResponseFormatJson? OutputFormat(JsonNode? node)
    {
        if (node is null)
            return null;
        var format = Object(node, "output_format");
        if (RequiredString(format, "type", "output_format") != "json_schema")
            throw Invalid("output_format.type", "Input should be 'json_schema'.");
        if (format["schema"] is not JsonObject schema)
            throw Invalid("output_format.schema", format["schema"] is null ? "Field required." : "Input should be a valid dictionary.");
        return ChatResponseFormat.ForJsonSchema(JsonSerializer.SerializeToElement(schema, AIJsonUtilities.DefaultOptions), "output");
    }

    static string? User(JsonNode? node)
    {
        if (node is null)
            return null;
        var metadata = Object(node, "metadata");
        var user = OptionalString(metadata, "user_id", "metadata");
        if (user is { Length: > 256 })
            throw Invalid("metadata.user_id", "String should have at most 256 characters.");
        return user;
    }

    static JsonObject Object(JsonNode? node, string at) => node as JsonObject ?? throw Invalid(at, "Input should be a valid dictionary.");

    static string RequiredString(JsonObject obj, string name, string? at = null) =>
        OptionalString(obj, name, at) ?? throw Invalid(Path(at, name), "Field required.");

    static string? OptionalString(JsonObject obj, string name, string? at)
    {
        var node = obj[name];
        if (node is null)
            return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String)
            return v.GetValue<string>();
        throw Invalid(Path(at, name), "Input should be a valid string.");
    }

    static bool? Bool(JsonNode? node, string at) => node switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw Invalid(at, "Input should be a valid boolean."),
    };

    static int? Int(JsonNode? node, string at, int min)
    {
        if (node is null)
            return null;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
            throw Invalid(at, "Input should be a valid integer.");
        var e = Element(v);
        if (!e.TryGetInt32(out var value))
            throw Invalid(at, e.TryGetDouble(out var d) && Math.Floor(d) == d ? $"Input should be between {min} and {int.MaxValue}." : "Input should be a valid integer.");
        if (value < min)
            throw Invalid(at, $"Input should be greater than or equal to {min}.");
        return value;
    }

    static float? Number(JsonNode? node, string at, double min, double max)
    {
        if (node is null)
            return null;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
            throw Invalid(at, "Input should be a valid number.");
        var value = Element(v).GetDouble();
        if (value < min || value > max)
            throw Invalid(at, $"Input should be between {min} and {max}.");
        return (float)value;
    }

    /// <summary>A number parsed from text holds a JsonElement; one built in code holds a CLR value, written out to read it the same way.</summary>
    static JsonElement Element(JsonValue v) => v.TryGetValue<JsonElement>(out var e) ? e : JsonSerializer.SerializeToElement(v, AIJsonUtilities.DefaultOptions);

    static string Path(string? at, string name) => at is null ? name : $"{at}.{name}";

    static ProblemException Invalid(string field, string message) => ProblemException.Invalid(field, $"{field}: {message}");
}
