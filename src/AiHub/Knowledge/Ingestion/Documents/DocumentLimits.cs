namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>The caps every extractor works under, so that no upload can take a worker's memory or time.</summary>
internal sealed record DocumentLimits
{
    /// <summary>The largest document read (the upload limit is checked earlier; this is the extractor's own fence).</summary>
    public long MaxBytes { get; init; } = 100L * 1024 * 1024;

    /// <summary>The most text kept from one document, in characters.</summary>
    public int MaxTextChars { get; init; } = 20_000_000;

    public int MaxPdfPages { get; init; } = 5_000;

    public int MaxCsvRows { get; init; } = 200_000;

    /// <summary>A DOCX is a ZIP: the sum of its entries' declared sizes may not pass this.</summary>
    public long MaxZipUncompressedBytes { get; init; } = 200L * 1024 * 1024;

    /// <summary>An entry larger than <see cref="ZipRatioFloorBytes"/> that expands more than this is a zip bomb.</summary>
    public int MaxZipRatio { get; init; } = 100;

    public long ZipRatioFloorBytes { get; init; } = 10L * 1024 * 1024;

    public int MaxZipEntries { get; init; } = 10_000;

    /// <summary>The most bytes read from one part of a DOCX, whatever its declared size says.</summary>
    public long MaxDocxPartBytes { get; init; } = 100L * 1024 * 1024;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
}
