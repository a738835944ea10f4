namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>A read-only view of a stream that fails with a clear message once more than a set number of bytes is read.</summary>
internal sealed class CappedStream(Stream inner, long maxBytes, string message) : Stream
{
    long _read;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    int Count(int read)
    {
        _read += read;
        if (_read > maxBytes)
            throw new IngestionException(message);
        return read;
    }

    /// <summary>The whole stream in memory, refused past <paramref name="maxBytes"/>.</summary>
    public static async Task<byte[]> ReadAllAsync(Stream content, long maxBytes, CancellationToken ct)
    {
        if (content.CanSeek && content.Length - content.Position > maxBytes)
            throw new IngestionException(TooLarge(maxBytes));
        using var buffer = new MemoryStream();
        await new CappedStream(content, maxBytes, TooLarge(maxBytes)).CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    public static string TooLarge(long maxBytes) => $"The document is larger than {maxBytes / (1024 * 1024):N0} MB, the limit for one document.";

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }
}
