using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.HttpLogging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace AiHub.Infrastructure.Logging;

/// <summary>One JSON object per line, with trace and request ids, and every string passed through <see cref="SecretRedactor"/>.</summary>
internal sealed class JsonLogFormatter(TimeProvider clock) : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "aihub-json";

    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = entry.Formatter?.Invoke(entry.State, entry.Exception);
        if (message is null && entry.Exception is null)
            return;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", clock.GetUtcNow().ToString("O"));
            json.WriteString("level", entry.LogLevel.ToString());
            json.WriteString("category", entry.Category);
            if (entry.EventId.Id != 0 || entry.EventId.Name is not null)
                json.WriteString("eventId", entry.EventId.Name ?? entry.EventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("message", SecretRedactor.Redact(message));
            if (entry.Exception is not null)
                json.WriteString("exception", SecretRedactor.Redact(entry.Exception.ToString()));
            var fields = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (Activity.Current is { } activity)
            {
                fields["traceId"] = activity.TraceId.ToString();
                fields["spanId"] = activity.SpanId.ToString();
            }
            scopeProvider?.ForEachScope((scope, state) => Collect(scope, state), fields);
            Collect(entry.State, fields);
            // A JSON object names each field once: the line's own fields win over a scope's or the state's of the same name.
            foreach (var (name, value) in fields)
                if (!OwnFields.Contains(name))
                    WriteField(json, name, value);
            json.WriteEndObject();
        }
        textWriter.Write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        textWriter.Write(Environment.NewLine);
    }

    static readonly HashSet<string> OwnFields = ["timestamp", "level", "category", "eventId", "message", "exception"];

    static void Collect(object? state, Dictionary<string, object?> fields)
    {
        if (state is not IEnumerable<KeyValuePair<string, object?>> pairs)
            return;
        foreach (var (key, value) in pairs)
        {
            if (key == "{OriginalFormat}")
                continue;
            fields[char.ToLowerInvariant(key[0]) + key[1..]] = value;
        }
    }

    static void WriteField(Utf8JsonWriter json, string name, object? value)
    {
        if (SecretRedactor.IsSecretName(name))
        {
            json.WriteString(name, SecretRedactor.Mask);
            return;
        }
        switch (value)
        {
            case null: json.WriteNull(name); break;
            case bool b: json.WriteBoolean(name, b); break;
            case int or long or short or byte: json.WriteNumber(name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            case double or float or decimal: json.WriteNumber(name, Convert.ToDecimal(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            default: json.WriteString(name, SecretRedactor.Redact(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture))); break;
        }
    }
}

internal static class LoggingExtensions
{
    public static ILoggingBuilder AddAiHubConsole(this ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddConsole(options => options.FormatterName = JsonLogFormatter.FormatterName);
        logging.AddConsoleFormatter<JsonLogFormatter, ConsoleFormatterOptions>();
        logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        logging.Services.AddHttpLogging(o =>
        {
            // Method, path, status and time only: headers, queries and bodies can carry secrets.
            o.LoggingFields = HttpLoggingFields.RequestMethod | HttpLoggingFields.RequestPath | HttpLoggingFields.ResponseStatusCode | HttpLoggingFields.Duration;
            o.CombineLogs = true;
        });
        return logging;
    }

    /// <summary>One summary line per request (method, path, status, duration), the line that stays when ASP.NET Core's own chatter is at Warning.</summary>
    /// <remarks>Not for the <c>/v1</c> gateway: each of its calls has a usage record, and a log line per call would cost more than the gateway adds.</remarks>
    public static IApplicationBuilder UseRequestSummary(this IApplicationBuilder app) =>
        app.UseWhen(http => !http.Request.Path.StartsWithSegments("/health") && !http.Request.Path.StartsWithSegments("/metrics") && !http.Request.Path.StartsWithSegments("/v1"),
            logged => logged.UseHttpLogging());
}
