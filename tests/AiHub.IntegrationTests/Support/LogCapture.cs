using System.Collections.Concurrent;
using AiHub.Infrastructure.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiHub.IntegrationTests.Support;

/// <summary>Every log line the host writes, at every level, to look for what must not be there.</summary>
public sealed class LogCapture : ILoggerProvider
{
    readonly ConcurrentQueue<string> _lines = new();
    readonly ConcurrentQueue<string> _written = new();
    readonly ConcurrentQueue<Entry> _entries = new();

    /// <summary>One log call: its level, category, message and the exception it carried.</summary>
    public sealed record Entry(LogLevel Level, string Category, string Message, Exception? Exception);

    public IReadOnlyList<Entry> Entries => [.. _entries];
    readonly JsonLogFormatter _formatter = new(TimeProvider.System);

    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>The same lines as the console writes them: through the JSON formatter and its redactor.</summary>
    public IReadOnlyList<string> Written => [.. _written];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            owner._entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception));
            owner._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception} {state}");
            using var line = new StringWriter();
            owner._formatter.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), null, line);
            owner._written.Enqueue(line.ToString());
        }
    }
}
