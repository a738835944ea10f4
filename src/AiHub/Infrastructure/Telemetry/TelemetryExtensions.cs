using System.Diagnostics;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace AiHub.Infrastructure.Telemetry;

internal static class TelemetryExtensions
{
    public const string ServiceName = "aihub";

    /// <summary>The source and meter that AiHub's own code reports to.</summary>
    public static readonly ActivitySource Source = new(MeterName);

    public const string MeterName = "AiHub";

    public static IHostApplicationBuilder AddTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSettings<TelemetrySettings>(TelemetrySettings.Section);
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
            o.AddProcessor(new RedactingLogProcessor());
        });
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(ServiceName, serviceVersion: typeof(TelemetryExtensions).Assembly.GetName().Version?.ToString()))
            .WithTracing(t => t
                .AddSource(Source.Name, "Hangfire", "AiHub.Chat")   // AiHub.Chat: every model call, from the chat client pipeline
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/health") && !http.Request.Path.StartsWithSegments("/metrics"))
                .AddHttpClientInstrumentation())
            .WithMetrics(m => m
                .AddMeter(MeterName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
        // The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            otel.UseOtlpExporter();
        return builder;
    }

    public static IApplicationBuilder UsePrometheusWhenEnabled(this IApplicationBuilder app) =>
        app.UseOpenTelemetryPrometheusScrapingEndpoint(http =>
            http.Request.Path == "/metrics"
            && http.RequestServices.GetRequiredService<IOptions<TelemetrySettings>>().Value.PrometheusEnabled);
}

/// <summary>Log records exported over OTLP get the same redaction as the console.</summary>
internal sealed class RedactingLogProcessor : BaseProcessor<LogRecord>
{
    public override void OnEnd(LogRecord data)
    {
        data.FormattedMessage = SecretRedactor.Redact(data.FormattedMessage);
        if (data.Attributes is { Count: > 0 } attributes)
            data.Attributes = attributes.Select(a => new KeyValuePair<string, object?>(a.Key,
                SecretRedactor.IsSecretName(a.Key) ? SecretRedactor.Mask
                : a.Value is string s ? SecretRedactor.Redact(s) : a.Value)).ToList();
    }
}
