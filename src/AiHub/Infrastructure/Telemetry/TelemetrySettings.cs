namespace AiHub.Infrastructure.Telemetry;

internal sealed class TelemetrySettings
{
    public const string Section = "Telemetry";

    /// <summary>Serves <c>/metrics</c> for Prometheus to scrape. OTLP export is switched on by <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>.</summary>
    public bool PrometheusEnabled { get; set; }
}
