using System.Text.Json;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Chat.Sockets;

/// <summary>
/// A client message: <c>{id, type:"chat"|"completion", provider?, model, messages | prompt, stream, maxTokens?, temperature?, knowledgeBaseIds?}</c>,
/// or <c>{id, type:"cancel"}</c> / <c>{id, type:"ping"}</c>.
/// </summary>
/// <param name="Id">The id exactly as the client sent it (a string or a number); every answer carries it back.</param>
internal sealed record SocketRequest(
    JsonElement Id, string Type, string? Provider, string? Model, IReadOnlyList<SocketMessage> Messages, bool Stream, int? MaxTokens, float? Temperature,
    Guid? OrgId, Guid? WorkspaceId, IReadOnlyList<Guid>? KnowledgeBaseIds = null)
{
    /// <summary>Tells ids apart on one socket: <c>"1"</c> and <c>1</c> are two ids.</summary>
    public string Key => Id.GetRawText();
}

internal sealed record SocketMessage(string Role, string Content);

/// <summary>A message the socket cannot run, with the id it carried when it had one.</summary>
internal sealed class FrameException(JsonElement? id, string? field, string detail) : Exception(detail)
{
    public JsonElement? Id { get; } = id;

    public ProblemDetails ToProblemDetails()
    {
        var problem = SocketErrors.Problem(StatusCodes.Status400BadRequest, "The message is not valid.", Message, ProblemTypes.Validation, SocketErrors.InvalidFrame);
        if (field is not null)
            problem.Extensions["field"] = field;
        return problem;
    }
}

/// <summary>The <c>code</c> of each error frame, which a client can branch on without reading the text.</summary>
internal static class SocketErrors
{
    /// <summary>The message is not JSON, not an object, or a field is missing or of the wrong kind.</summary>
    public const string InvalidFrame = "invalid-frame";

    /// <summary>A request reused the id of one still running on the socket; that one goes on undisturbed.</summary>
    public const string DuplicateId = "duplicate-id";

    /// <summary>The socket already runs as many requests at once as it may.</summary>
    public const string TooManyRunning = "too-many-running";

    public const string InternalError = "internal-error";

    public static ProblemDetails Problem(int status, string title, string detail, string? type, string code)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = type };
        problem.Extensions["code"] = code;
        return problem;
    }

    /// <summary>Every error frame has a <c>code</c>: the problem's own, else the last part of its type (<c>model-not-found</c>).</summary>
    public static ProblemDetails WithCode(ProblemDetails problem)
    {
        if (!problem.Extensions.ContainsKey("code"))
            problem.Extensions["code"] = problem.Type is { } type && type.StartsWith(ProblemTypes.Prefix, StringComparison.Ordinal)
                ? type[ProblemTypes.Prefix.Length..]
                : problem.Status is >= 500 ? InternalError : "error";
        return problem;
    }
}

/// <summary>Reads client messages field by field, so that a mistake is answered in the protocol's words, not a parser's.</summary>
internal static class SocketFrames
{
    public const string Chat = "chat";
    public const string Completion = "completion";
    public const string Cancel = "cancel";
    public const string Ping = "ping";

    const string TypeList = "chat, completion, cancel or ping";
    const int MaxIdLength = 200;
    const int MaxKnowledgeBases = Grounding.KnowledgeBaseSelection.Max;

    public static SocketRequest Parse(string text)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            throw new FrameException(null, null,
                "The message is not JSON. Send one JSON object per message, such as {\"id\":\"1\",\"type\":\"chat\",\"model\":\"…\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"stream\":true}.");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FrameException(null, null, "The message is JSON but not an object. Send one JSON object per message, with an id and a type.");
            var id = Id(root);
            var type = Type(root, id);
            if (type is Cancel or Ping)
                return new SocketRequest(id, type, null, null, [], true, null, null, null, null);
            return new SocketRequest(id, type,
                String(root, "provider", id),
                String(root, "model", id),
                Messages(root, id),
                Bool(root, "stream", id) ?? true,
                Int(root, "maxTokens", id),
                Float(root, "temperature", id),
                Guid(root, "orgId", id),
                Guid(root, "workspaceId", id),
                Guids(root, "knowledgeBaseIds", id));
        }
    }

    static JsonElement Id(JsonElement root)
    {
        if (!root.TryGetProperty("id", out var id) || id.ValueKind == JsonValueKind.Null)
            throw new FrameException(null, "id", "The message has no id. Give every message an id (a string or a number); the answers to it carry the same id.");
        var valid = id.ValueKind switch
        {
            JsonValueKind.String => id.GetString() is { Length: > 0 and <= MaxIdLength } s && !string.IsNullOrWhiteSpace(s),
            JsonValueKind.Number => id.GetRawText().Length <= MaxIdLength,
            _ => false,
        };
        if (!valid)
            throw new FrameException(null, "id", $"id is a non-empty string (at most {MaxIdLength} characters) or a number.");
        return id.Clone();
    }

    static string Type(JsonElement root, JsonElement id)
    {
        if (!root.TryGetProperty("type", out var type) || type.ValueKind == JsonValueKind.Null)
            throw new FrameException(id, "type", $"The message has no type; type is {TypeList}.");
        if (type.ValueKind != JsonValueKind.String)
            throw new FrameException(id, "type", $"type is a string: {TypeList}.");
        var name = type.GetString()!;
        return name switch
        {
            Chat or Completion or Cancel or Ping => name,
            _ => throw new FrameException(id, "type", $"'{Shorten(name)}' is not a message type; type is {TypeList}."),
        };
    }

    static List<SocketMessage> Messages(JsonElement root, JsonElement id)
    {
        var prompt = String(root, "prompt", id);
        var hasMessages = root.TryGetProperty("messages", out var messages) && messages.ValueKind != JsonValueKind.Null;
        if (prompt is not null && hasMessages)
            throw new FrameException(id, "prompt", "Send either prompt or messages, not both.");
        if (prompt is not null)
            return [new SocketMessage("user", prompt)];
        if (!hasMessages)
            throw new FrameException(id, "messages", "The request has no messages. Send messages: [{\"role\":\"user\",\"content\":\"…\"}] (or, for a completion, a prompt string).");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw new FrameException(id, "messages", "messages is a non-empty array of {role, content} objects.");
        var list = new List<SocketMessage>();
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var at = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object)
                throw new FrameException(id, at, $"{at} is an object: {{\"role\":\"user\",\"content\":\"…\"}}.");
            var role = String(message, "role", id, at)?.ToLowerInvariant();
            if (role is not ("system" or "user" or "assistant"))
                throw new FrameException(id, $"{at}.role", $"{at}.role is system, user or assistant.");
            var content = String(message, "content", id, at)
                ?? throw new FrameException(id, $"{at}.content", $"{at}.content is missing; it is the message's text.");
            list.Add(new SocketMessage(role, content));
        }
        return list;
    }

    static string? String(JsonElement root, string name, JsonElement id, string? parent = null)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString()
            : throw new FrameException(id, Path(parent, name), $"{Path(parent, name)} is a string.");
    }

    static bool? Bool(JsonElement root, string name, JsonElement id)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FrameException(id, name, $"{name} is true or false."),
        };
    }

    static int? Int(JsonElement root, string name, JsonElement id)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) ? n
            : throw new FrameException(id, name, $"{name} is a whole number.");
    }

    static float? Float(JsonElement root, string name, JsonElement id)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetSingle(out var n) && float.IsFinite(n) ? n
            : throw new FrameException(id, name, $"{name} is a number.");
    }

    static Guid? Guid(JsonElement root, string name, JsonElement id)
    {
        if (String(root, name, id) is not { } text)
            return null;
        return System.Guid.TryParse(text, out var guid) ? guid : throw new FrameException(id, name, $"{name} is an id such as 0190c5a2-7b1e-7c3d-9f00-123456789abc.");
    }

    static List<Guid>? Guids(JsonElement root, string name, JsonElement id)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > MaxKnowledgeBases)
            throw new FrameException(id, name, $"{name} is an array of at most {MaxKnowledgeBases} ids.");
        var list = new List<Guid>();
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || !System.Guid.TryParse(item.GetString(), out var guid))
                throw new FrameException(id, name, $"{name} is an array of ids such as 0190c5a2-7b1e-7c3d-9f00-123456789abc.");
            list.Add(guid);
        }
        return list.Distinct().ToList();
    }

    static string Path(string? parent, string name) => parent is null ? name : $"{parent}.{name}";

    // A client's text goes back in a message, so it is cut to a readable length.
    static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
