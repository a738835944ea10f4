using System.Text.Json;

namespace AiHub.Mcp.Server;

/// <summary>
/// Checks a tool call's arguments against the tool's input schema before it runs, so that a wrong type is answered
/// with the argument's name instead of a serializer's message, and nothing is charged for it.
/// </summary>
/// <remarks>Only what the schemas of this server use: type, format uuid, properties, required and items.</remarks>
internal static class ToolArguments
{
    /// <summary>The first mistake, as a sentence naming the argument; null when the arguments fit the schema.</summary>
    public static string? Mistake(JsonElement schema, IDictionary<string, JsonElement>? arguments)
    {
        var given = arguments ?? new Dictionary<string, JsonElement>();
        foreach (var name in Required(schema))
            if (!given.ContainsKey(name))
                return $"The argument '{name}' is required.";
        if (!schema.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object)
            return null;
        foreach (var (name, value) in given)
            if (properties.TryGetProperty(name, out var property) && Check(property, value, name) is { } mistake)
                return mistake;
        return null;
    }

    static string? Check(JsonElement schema, JsonElement value, string path)
    {
        if (schema.ValueKind != JsonValueKind.Object)
            return null;
        var types = Types(schema);
        if (types.Count > 0 && !types.Any(t => Fits(t, value)))
            return $"The argument '{path}' must be {Describe(types)}, not {Kind(value)}.";
        if (value.ValueKind == JsonValueKind.String && schema.TryGetProperty("format", out var format) && format.ValueEquals("uuid") && !Guid.TryParse(value.GetString(), out _))
            return $"The argument '{path}' must be an id (a UUID such as 0190a5c4-7f3e-7c2a-9d1b-2f6e8a4b5c6d).";
        if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            var i = 0;
            foreach (var item in value.EnumerateArray())
                if (Check(items, item, $"{path}[{i++}]") is { } mistake)
                    return mistake;
        }
        if (value.ValueKind == JsonValueKind.Object)
        {
            foreach (var name in Required(schema))
                if (!value.TryGetProperty(name, out _))
                    return $"The argument '{path}.{name}' is required.";
            if (schema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
                foreach (var member in value.EnumerateObject())
                    if (properties.TryGetProperty(member.Name, out var property) && Check(property, member.Value, $"{path}.{member.Name}") is { } mistake)
                        return mistake;
        }
        return null;
    }

    static List<string> Types(JsonElement schema) =>
        !schema.TryGetProperty("type", out var type) ? []
        : type.ValueKind == JsonValueKind.String ? [type.GetString()!]
        : type.ValueKind == JsonValueKind.Array ? [.. type.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String).Select(t => t.GetString()!)]
        : [];

    static IEnumerable<string> Required(JsonElement schema) =>
        schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array
            ? required.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.String).Select(r => r.GetString()!)
            : [];

    static bool Fits(string type, JsonElement value) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        "number" => value.ValueKind == JsonValueKind.Number,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "array" => value.ValueKind == JsonValueKind.Array,
        "object" => value.ValueKind == JsonValueKind.Object,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => true,
    };

    static string Describe(List<string> types)
    {
        var named = types.Where(t => t != "null").Select(t => t switch
        {
            "string" => "a string",
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            "array" => "a list",
            "object" => "an object",
            _ => t,
        }).ToList();
        var text = named.Count == 0 ? "null" : string.Join(" or ", named);
        return types.Contains("null") && named.Count > 0 ? text + " (or null)" : text;
    }

    static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => value.TryGetInt64(out _) ? "a whole number" : "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
