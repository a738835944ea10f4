namespace AiHub.Knowledge.Ingestion.Chunking;

/// <param name="MaxTokens">The most o200k tokens in one chunk (a transcript segment longer than this is still kept whole).</param>
/// <param name="OverlapTokens">About how many tokens of the previous chunk's last sentences a chunk repeats.</param>
internal sealed record ChunkingOptions(int MaxTokens = 400, int OverlapTokens = 60)
{
    public void Validate()
    {
        if (MaxTokens < 16)
            throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "A chunk holds at least 16 tokens.");
        if (OverlapTokens < 0 || OverlapTokens > MaxTokens / 2)
            throw new ArgumentOutOfRangeException(nameof(OverlapTokens), OverlapTokens, "The overlap is between 0 and half a chunk.");
    }
}
