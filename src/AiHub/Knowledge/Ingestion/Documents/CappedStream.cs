using AiHub.Infrastructure.Streams;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>Reading a document with a size cap: past it, the read fails with a message that says which limit it hit.</summary>
internal static class CappedStream
{
    /// <summary>A read-only view of <paramref name="inner"/> that fails with <paramref name="message"/> once more than <paramref name="maxBytes"/> are read.</summary>
    public static Stream Over(Stream inner, long maxBytes, string message)
    {
        long read = 0;
        return new ReadCountingStream(inner, n =>
        {
            read += n;
            if (read > maxBytes)
                throw new IngestionException(message);
        });
    }

    /// <summary>The whole stream in memory, refused past <paramref name="maxBytes"/>.</summary>
    public static async Task<byte[]> ReadAllAsync(Stream content, long maxBytes, CancellationToken ct)
    {
        if (content.CanSeek && content.Length - content.Position > maxBytes)
            throw new IngestionException(TooLarge(maxBytes));
        using var buffer = new MemoryStream();
        await Over(content, maxBytes, TooLarge(maxBytes)).CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    public static string TooLarge(long maxBytes) => $"The document is larger than {maxBytes / (1024 * 1024):N0} MB, the limit for one document.";
}
