using System.Collections.Concurrent;

namespace AiHub.Knowledge.Search;

/// <summary>
/// The vectors of one knowledge base and model, kept in memory between searches so an exact search scans floats, not
/// SQLite rows. SQLite means one process, so every write of a vector passes through this process: a write bumps
/// <see cref="Version"/>, and a search checks each entry against its knowledge base's vector count and id total
/// (an index-only count) so chunks deleted or re-chunked since are noticed too.
/// </summary>
internal sealed class SqliteVectorCache
{
    /// <summary>Beyond this many floats in all, knowledge bases are scanned from the database instead (about 1 GB).</summary>
    const long MaxFloats = 256L * 1024 * 1024;

    internal sealed record Entry(long Version, long Count, double IdTotal, long[] Ids, float[] Vectors, int Dimensions);

    readonly ConcurrentDictionary<(Guid Org, Guid Kb, string Model), Entry> _entries = new();
    long _version;

    public long Version => Interlocked.Read(ref _version);

    public void Changed() => Interlocked.Increment(ref _version);

    public Entry? Find(Guid org, Guid kb, string model, long count, double idTotal) =>
        _entries.TryGetValue((org, kb, model), out var entry) && entry.Version == Version && entry.Count == count && entry.IdTotal == idTotal
            ? entry
            : null;

    /// <summary>Keeps an entry if it fits; entries of other versions go first.</summary>
    public void Keep(Guid org, Guid kb, string model, Entry entry)
    {
        foreach (var stale in _entries.Where(e => e.Value.Version != entry.Version).Select(e => e.Key).ToList())
            _entries.TryRemove(stale, out _);
        var held = _entries.Values.Sum(e => (long)e.Vectors.Length);
        if (held + entry.Vectors.Length <= MaxFloats)
            _entries[(org, kb, model)] = entry;
    }
}
