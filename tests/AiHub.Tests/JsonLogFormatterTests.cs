using System.Diagnostics;
using System.Text.Json;
using AiHub.Infrastructure.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AiHub.Tests;

public sealed class JsonLogFormatterTests
{
    static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_line_is_one_json_object_with_trace_and_scope_fields_and_no_secrets()
    {
        using var activity = new Activity("request").Start();
        var scopes = new LoggerExternalScopeProvider();
        using var scope = scopes.Push(new Dictionary<string, object?> { ["RequestId"] = "req-1", ["Authorization"] = "Bearer abcdefghijkl" });
        var state = new Dictionary<string, object?> { ["Count"] = 3, ["Password"] = "hunter2" };

        var line = Format(new LogEntry<Dictionary<string, object?>>(
            LogLevel.Warning, "AiHub.Test", new EventId(7, "Probe"), state, null, (_, _) => "login with password=hunter2 failed"), scopes);

        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        Assert.Equal("Warning", root.GetProperty("level").GetString());
        Assert.Equal("2026-11-23T10:00:00.0000000+00:00", root.GetProperty("timestamp").GetString());
        Assert.Equal(activity.TraceId.ToString(), root.GetProperty("traceId").GetString());
        Assert.Equal("req-1", root.GetProperty("requestId").GetString());
        Assert.Equal(3, root.GetProperty("count").GetInt32());
        Assert.DoesNotContain("hunter2", line, StringComparison.Ordinal);
        Assert.DoesNotContain("abcdefghijkl", line, StringComparison.Ordinal);
        Assert.EndsWith(Environment.NewLine, line, StringComparison.Ordinal);
        Assert.Single(line.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Each_field_is_written_once_when_scopes_and_state_repeat_the_trace_or_the_line_s_own_fields()
    {
        using var activity = new Activity("request").Start();
        var scopes = new LoggerExternalScopeProvider();
        // ASP.NET Core's activity-tracking scope carries the trace ids that the formatter writes from the activity.
        using var scope = scopes.Push(new Dictionary<string, object?> { ["TraceId"] = activity.TraceId.ToString(), ["SpanId"] = activity.SpanId.ToString() });
        var state = new Dictionary<string, object?> { ["Message"] = "from the state", ["Level"] = "none", ["Path"] = "/ws" };

        var line = Format(new LogEntry<Dictionary<string, object?>>(LogLevel.Information, "AiHub.Test", default, state, null, (_, _) => "the message"), scopes);

        var names = new List<string>();
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(line));
        while (reader.Read())
            if (reader.TokenType == JsonTokenType.PropertyName)
                names.Add(reader.GetString()!);
        Assert.Equal(names.Distinct().Count(), names.Count);
        using var json = JsonDocument.Parse(line);
        Assert.Equal("the message", json.RootElement.GetProperty("message").GetString());
        Assert.Equal("Information", json.RootElement.GetProperty("level").GetString());
        Assert.Equal(activity.SpanId.ToString(), json.RootElement.GetProperty("spanId").GetString());
        Assert.Equal("/ws", json.RootElement.GetProperty("path").GetString());
    }

    [Fact]
    public void An_exception_is_written_redacted()
    {
        var error = new InvalidOperationException("connect failed: Password=hunter2");

        var line = Format(new LogEntry<string>(LogLevel.Error, "AiHub.Test", default, "boom", error, (s, _) => s), null);

        using var json = JsonDocument.Parse(line);
        Assert.Contains("InvalidOperationException", json.RootElement.GetProperty("exception").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", line, StringComparison.Ordinal);
    }

    static string Format<TState>(LogEntry<TState> entry, IExternalScopeProvider? scopes)
    {
        var formatter = new JsonLogFormatter(new FakeTimeProvider(Now));
        using var writer = new StringWriter();
        formatter.Write(entry, scopes, writer);
        return writer.ToString();
    }
}
