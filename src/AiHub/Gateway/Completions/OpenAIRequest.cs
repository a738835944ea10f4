using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.AI;

namespace AiHub.Gateway.Completions;

/// <summary>
/// Reads a Chat Completions request: every field the gateway acts on is checked, with a 400 naming the field; fields it
/// does not act on go to the provider as sent.
/// </summary>
internal static class OpenAIRequest
{
    public const int MaxStopSequences = 4;

    public static GatewayChatRequest Parse(JsonObject body)
    {
        var model = RequiredString(body, "model");
        var stream = Bool(body, "stream") ?? false;
        var includeUsage = false;
        if (Present(body, "stream_options") is { } streamOptions)
        {
            var options = streamOptions as JsonObject ?? throw Invalid("stream_options", "stream_options is an object such as {\"include_usage\": true}.");
            includeUsage = Bool(options, "include_usage", "stream_options.include_usage") ?? false;
        }
        if (Int(body, "n") is { } n && n != 1)
            throw Invalid("n", n > 1 ? "n>1 is not supported: ask for one choice and send the request again for more." : "n is 1, the number of choices to generate.");

        var maxTokens = PositiveInt(body, "max_tokens");
        var maxCompletion = PositiveInt(body, "max_completion_tokens");
        var options2 = new ChatOptions
        {
            ModelId = model,
            MaxOutputTokens = maxCompletion ?? maxTokens,
            Temperature = Range(body, "temperature", 0, 2),
            TopP = Range(body, "top_p", 0, 1),
            Seed = Long(body, "seed"),
            StopSequences = Stop(body),
            ResponseFormat = ResponseFormat(body),
            Tools = Tools(body),
            ToolMode = ToolChoice(body),
        };
        if (Present(body, "user") is { } user && !IsString(user))
            throw Invalid("user", "user is a string that identifies your end user.");

        return new GatewayChatRequest
        {
            Format = WireFormat.OpenAI,
            Model = model,
            Stream = stream,
            IncludeUsage = includeUsage,
            MaxTokens = options2.MaxOutputTokens,
            Body = body,
            Messages = Messages(body),
            Options = options2,
        };
    }

    static List<ChatMessage> Messages(JsonObject body)
    {
        if (Present(body, "messages") is not JsonArray messages)
            throw Invalid("messages", "messages is required: an array of {role, content} objects.");
        if (messages.Count == 0)
            throw Invalid("messages", "messages is empty: send at least one message.");
        var result = new List<ChatMessage>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var field = $"messages[{i}]";
            if (messages[i] is not JsonObject message)
                throw Invalid(field, $"{field} is an object with a role and a content.");
            result.Add(Message(message, field));
        }
        return result;
    }

    static ChatMessage Message(JsonObject message, string field)
    {
        var roleName = RequiredString(message, "role", $"{field}.role");
        var role = roleName switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            "tool" => ChatRole.Tool,
            _ => throw Invalid($"{field}.role", $"{field}.role is one of system, developer, user, assistant or tool, not '{roleName}'."),
        };
        var contents = new List<AIContent>();
        var content = Present(message, "content");
        if (role == ChatRole.Tool)
        {
            var callId = Present(message, "tool_call_id") is { } id && IsString(id) ? id.GetValue<string>()
                : throw Invalid($"{field}.tool_call_id", $"{field}.tool_call_id is required on a tool message: the id of the call it answers.");
            contents.Add(new FunctionResultContent(callId, Text(content, $"{field}.content")));
            return new ChatMessage(role, contents);
        }
        if (content is null && !(role == ChatRole.Assistant && Present(message, "tool_calls") is not null))
            throw Invalid($"{field}.content", $"{field}.content is required: a string or an array of content parts.");
        if (content is not null)
            Parts(content, $"{field}.content", role, contents);
        if (Present(message, "tool_calls") is { } calls)
        {
            if (role != ChatRole.Assistant)
                throw Invalid($"{field}.tool_calls", $"{field}.tool_calls is only for assistant messages.");
            ToolCalls(calls, $"{field}.tool_calls", contents);
        }
        if (Present(message, "name") is { } name && !IsString(name))
            throw Invalid($"{field}.name", $"{field}.name is a string.");
        return new ChatMessage(role, contents) { AuthorName = Present(message, "name")?.GetValue<string>() };
    }

    static void Parts(JsonNode content, string field, ChatRole role, List<AIContent> contents)
    {
        if (IsString(content))
        {
            contents.Add(new TextContent(content.GetValue<string>()));
            return;
        }
        if (content is not JsonArray parts)
            throw Invalid(field, $"{field} is a string or an array of content parts.");
        for (var i = 0; i < parts.Count; i++)
        {
            var partField = $"{field}[{i}]";
            if (parts[i] is not JsonObject part)
                throw Invalid(partField, $"{partField} is an object with a type.");
            var type = RequiredString(part, "type", $"{partField}.type");
            switch (type)
            {
                case "text":
                    contents.Add(new TextContent(RequiredString(part, "text", $"{partField}.text")));
                    break;
                case "image_url" when role == ChatRole.User:
                    var url = Present(part, "image_url") switch
                    {
                        JsonObject image => RequiredString(image, "url", $"{partField}.image_url.url"),
                        JsonValue v when IsString(v) => v.GetValue<string>(),
                        _ => throw Invalid($"{partField}.image_url", $"{partField}.image_url is an object with a url."),
                    };
                    contents.Add(Image(url, $"{partField}.image_url.url"));
                    break;
                case "image_url":
                    throw Invalid($"{partField}.type", $"{partField}: images go in user messages only.");
                case "refusal" when role == ChatRole.Assistant:
                    contents.Add(new TextContent(RequiredString(part, "refusal", $"{partField}.refusal")));
                    break;
                default:
                    throw Invalid($"{partField}.type", $"{partField}.type is text or image_url, not '{type}'.");
            }
        }
    }

    static AIContent Image(string url, string field)
    {
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return new DataContent(url);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                throw Invalid(field, $"{field} is not a valid data: URL of an image.");
            }
        }
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
            return new UriContent(uri, "image/*");
        throw Invalid(field, $"{field} is an http(s) URL or a data: URL of an image.");
    }

    static void ToolCalls(JsonNode node, string field, List<AIContent> contents)
    {
        if (node is not JsonArray calls)
            throw Invalid(field, $"{field} is an array of tool calls.");
        for (var i = 0; i < calls.Count; i++)
        {
            var callField = $"{field}[{i}]";
            if (calls[i] is not JsonObject call)
                throw Invalid(callField, $"{callField} is an object with an id, a type and a function.");
            var id = RequiredString(call, "id", $"{callField}.id");
            if (Present(call, "type") is { } type && (!IsString(type) || type.GetValue<string>() != "function"))
                throw Invalid($"{callField}.type", $"{callField}.type is function.");
            if (Present(call, "function") is not JsonObject function)
                throw Invalid($"{callField}.function", $"{callField}.function is an object with a name and arguments.");
            var name = RequiredString(function, "name", $"{callField}.function.name");
            var arguments = Present(function, "arguments") is { } a && IsString(a) ? a.GetValue<string>()
                : throw Invalid($"{callField}.function.arguments", $"{callField}.function.arguments is a string of JSON.");
            contents.Add(new FunctionCallContent(id, name, ParseArguments(arguments)));
        }
    }

    static Dictionary<string, object?>? ParseArguments(string arguments)
    {
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, object?>>(arguments, AIJsonUtilities.DefaultOptions);
        }
        catch (JsonException)
        {
            // A model may have written arguments that are not JSON; they are passed on as the model wrote them.
            return new Dictionary<string, object?> { ["arguments"] = arguments };
        }
    }

    static List<AITool>? Tools(JsonObject body)
    {
        if (Present(body, "tools") is not { } node)
            return null;
        if (node is not JsonArray tools)
            throw Invalid("tools", "tools is an array of function tools.");
        var result = new List<AITool>(tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            var field = $"tools[{i}]";
            if (tools[i] is not JsonObject tool)
                throw Invalid(field, $"{field} is an object with a type and a function.");
            var type = RequiredString(tool, "type", $"{field}.type");
            if (type != "function")
                throw Invalid($"{field}.type", $"{field}.type is function; only function tools are supported.");
            if (Present(tool, "function") is not JsonObject function)
                throw Invalid($"{field}.function", $"{field}.function is an object with a name, a description and parameters.");
            var name = RequiredString(function, "name", $"{field}.function.name");
            var description = Present(function, "description") switch
            {
                null => null,
                JsonValue v when IsString(v) => v.GetValue<string>(),
                _ => throw Invalid($"{field}.function.description", $"{field}.function.description is a string."),
            };
            var parameters = Present(function, "parameters") switch
            {
                null => JsonSerializer.SerializeToElement(new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() }),
                JsonObject schema => JsonSerializer.SerializeToElement(schema),
                _ => throw Invalid($"{field}.function.parameters", $"{field}.function.parameters is a JSON Schema object."),
            };
            result.Add(AIFunctionFactory.CreateDeclaration(name, description, parameters));
        }
        return result;
    }

    static ChatToolMode? ToolChoice(JsonObject body) => Present(body, "tool_choice") switch
    {
        null => null,
        JsonValue v when IsString(v) => v.GetValue<string>() switch
        {
            "auto" => ChatToolMode.Auto,
            "none" => ChatToolMode.None,
            "required" => ChatToolMode.RequireAny,
            var other => throw Invalid("tool_choice", $"tool_choice is auto, none, required or {{\"type\":\"function\",\"function\":{{\"name\":…}}}}, not '{other}'."),
        },
        JsonObject choice when Present(choice, "function") is JsonObject function =>
            ChatToolMode.RequireSpecific(RequiredString(function, "name", "tool_choice.function.name")),
        _ => throw Invalid("tool_choice", "tool_choice is auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}."),
    };

    static ChatResponseFormat? ResponseFormat(JsonObject body)
    {
        if (Present(body, "response_format") is not { } node)
            return null;
        if (node is not JsonObject format)
            throw Invalid("response_format", "response_format is an object such as {\"type\": \"json_object\"}.");
        var type = RequiredString(format, "type", "response_format.type");
        switch (type)
        {
            case "text":
                return ChatResponseFormat.Text;
            case "json_object":
                return ChatResponseFormat.Json;
            case "json_schema":
                if (Present(format, "json_schema") is not JsonObject schema)
                    throw Invalid("response_format.json_schema", "response_format.json_schema is an object with a name and a schema.");
                var name = RequiredString(schema, "name", "response_format.json_schema.name");
                if (Present(schema, "schema") is not JsonObject definition)
                    throw Invalid("response_format.json_schema.schema", "response_format.json_schema.schema is a JSON Schema object.");
                var description = Present(schema, "description") is JsonValue d && IsString(d) ? d.GetValue<string>() : null;
                return ChatResponseFormat.ForJsonSchema(JsonSerializer.SerializeToElement(definition), name, description);
            default:
                throw Invalid("response_format.type", $"response_format.type is text, json_object or json_schema, not '{type}'.");
        }
    }

    static List<string>? Stop(JsonObject body)
    {
        switch (Present(body, "stop"))
        {
            case null:
                return null;
            case JsonValue v when IsString(v):
                return [v.GetValue<string>()];
            case JsonArray list:
                if (list.Count > MaxStopSequences)
                    throw Invalid("stop", $"stop holds at most {MaxStopSequences} sequences.");
                var result = new List<string>(list.Count);
                foreach (var item in list)
                    result.Add(item is JsonValue s && IsString(s) ? s.GetValue<string>() : throw Invalid("stop", "stop is a string or an array of strings."));
                return result;
            default:
                throw Invalid("stop", "stop is a string or an array of up to 4 strings.");
        }
    }

    static string Text(JsonNode? content, string field)
    {
        switch (content)
        {
            case null:
                return "";
            case JsonValue v when IsString(v):
                return v.GetValue<string>();
            case JsonArray parts:
                var text = new System.Text.StringBuilder();
                for (var i = 0; i < parts.Count; i++)
                {
                    if (parts[i] is not JsonObject part || Present(part, "type") is not JsonValue t || !IsString(t) || t.GetValue<string>() != "text")
                        throw Invalid($"{field}[{i}]", $"{field}[{i}] is a text part.");
                    text.Append(RequiredString(part, "text", $"{field}[{i}].text"));
                }
                return text.ToString();
            default:
                throw Invalid(field, $"{field} is a string or an array of text parts.");
        }
    }

    /// <summary>A member that is there and not null: clients send <c>null</c> for "not set".</summary>
    static JsonNode? Present(JsonObject o, string name) => o.TryGetPropertyValue(name, out var node) ? node : null;

    static bool IsString(JsonNode node) => node.GetValueKind() == JsonValueKind.String;

    static string RequiredString(JsonObject o, string name, string? field = null)
    {
        field ??= name;
        return Present(o, name) switch
        {
            null => throw Invalid(field, $"{field} is required."),
            JsonValue v when IsString(v) => v.GetValue<string>() is { Length: > 0 } s ? s : throw Invalid(field, $"{field} is empty."),
            _ => throw Invalid(field, $"{field} is a string."),
        };
    }

    static bool? Bool(JsonObject o, string name, string? field = null) => Present(o, name) switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw Invalid(field ?? name, $"{field ?? name} is true or false."),
    };

    static long? Long(JsonObject o, string name) => Present(o, name) switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var n) => n,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<decimal>(out var d) && d == decimal.Truncate(d) && d >= long.MinValue && d <= long.MaxValue => (long)d,
        _ => throw Invalid(name, $"{name} is an integer."),
    };

    static int? Int(JsonObject o, string name) => Long(o, name) switch
    {
        null => null,
        >= int.MinValue and <= int.MaxValue and var n => (int)n,
        _ => throw Invalid(name, $"{name} is out of range."),
    };

    static int? PositiveInt(JsonObject o, string name) => Long(o, name) switch
    {
        null => null,
        >= 1 and <= int.MaxValue and var n => (int)n,
        _ => throw Invalid(name, $"{name} is an integer of at least 1."),
    };

    static float? Range(JsonObject o, string name, double min, double max) => Present(o, name) switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d >= min && d <= max => (float)d,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => throw Invalid(name, $"{name} is between {min} and {max}."),
        _ => throw Invalid(name, $"{name} is a number between {min} and {max}."),
    };

    static ProblemException Invalid(string field, string message) => ProblemException.Invalid(field, message);
}
