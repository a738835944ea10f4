using System.Text.Json;
using System.Text.Json.Serialization;

namespace AiHub.Infrastructure.Json;

/// <summary>
/// The one JSON shape of every answer: camelCase names, enums as camelCase strings (read in any case), numbers as
/// JSON numbers. HTTP results, server-sent events and the WebSocket all write through these options.
/// </summary>
internal static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        // A number is a JSON number: "5" for credits is refused rather than guessed at.
        options.NumberHandling = JsonNumberHandling.Strict;
        // "user", not "User" nor 0: a client compares strings, and a renumbered enum cannot change what it reads.
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        return options;
    }

    /// <summary>An enum value as every answer spells it, for the few places that write it into a string.</summary>
    public static string Name<TEnum>(TEnum value) where TEnum : struct, Enum => JsonNamingPolicy.CamelCase.ConvertName(value.ToString());

    public static IServiceCollection AddApiJson(this IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(options => Configure(options.SerializerOptions));
}
