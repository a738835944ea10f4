namespace AiHub.Knowledge.Ingestion.Media;

/// <summary>
/// One piece of a long recording: it is cut from <see cref="Start"/> to <see cref="End"/>, and what is heard between
/// <see cref="OwnStart"/> and <see cref="OwnEnd"/> is its to keep; the rest is overlap that a neighbour keeps.
/// </summary>
internal sealed record AudioPiece(int Index, double Start, double End, double OwnStart, double OwnEnd)
{
    public double Length => End - Start;

    /// <summary>Whether a stretch heard at these piece-relative times belongs to this piece (judged by its middle).</summary>
    public bool Owns(double relativeStart, double relativeEnd)
    {
        var middle = Start + ((relativeStart + relativeEnd) / 2);
        return middle >= OwnStart && (middle < OwnEnd || OwnEnd >= End);
    }
}

/// <summary>Splits long audio at its quietest moments and puts the pieces' transcripts back together.</summary>
internal static class AudioPieces
{
    /// <summary>The quiet stretch looked for around a cut: a pause between words.</summary>
    const double QuietWindowSeconds = 0.3;

    /// <summary>
    /// Cuts <paramref name="durationSeconds"/> of audio into pieces of at most <paramref name="pieceSeconds"/> plus
    /// overlap, each cut placed at the quietest moment of the last quarter before the limit, so that a cut rarely
    /// falls inside a word; the overlap catches the word it does fall in.
    /// </summary>
    /// <param name="loudness">RMS loudness per <see cref="WavAudio.FrameSeconds"/> frame.</param>
    public static IReadOnlyList<AudioPiece> Plan(ReadOnlySpan<float> loudness, double durationSeconds, double pieceSeconds, double overlapSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(pieceSeconds, 2 * overlapSeconds);
        var cuts = new List<double> { 0 };
        var ownLength = pieceSeconds - (2 * overlapSeconds);
        while (durationSeconds - cuts[^1] > ownLength)
        {
            var limit = cuts[^1] + ownLength;
            var searchFrom = limit - (ownLength / 4);
            cuts.Add(Quietest(loudness, searchFrom, limit));
        }
        cuts.Add(durationSeconds);

        var pieces = new List<AudioPiece>(cuts.Count - 1);
        for (var i = 0; i + 1 < cuts.Count; i++)
        {
            var start = Math.Max(0, cuts[i] - overlapSeconds);
            var end = Math.Min(durationSeconds, cuts[i + 1] + overlapSeconds);
            pieces.Add(new AudioPiece(i, start, end, cuts[i], cuts[i + 1]));
        }
        return pieces;
    }

    /// <summary>The middle of the quietest <see cref="QuietWindowSeconds"/> between two times; the later of equals, so pieces stay long.</summary>
    static double Quietest(ReadOnlySpan<float> loudness, double from, double to)
    {
        var window = Math.Max(1, (int)(QuietWindowSeconds / WavAudio.FrameSeconds));
        var first = Math.Max(0, (int)(from / WavAudio.FrameSeconds));
        var last = Math.Min(loudness.Length - window, (int)(to / WavAudio.FrameSeconds) - window);
        if (last < first)
            return to;
        double sum = 0;
        for (var i = first; i < first + window; i++)
            sum += loudness[i];
        var best = sum;
        var bestAt = first;
        for (var i = first + 1; i <= last; i++)
        {
            sum += loudness[i + window - 1] - loudness[i - 1];
            if (sum <= best)
            {
                best = sum;
                bestAt = i;
            }
        }
        return (bestAt + (window / 2.0)) * WavAudio.FrameSeconds;
    }

    /// <summary>Each piece's words moved to the recording's clock, keeping only those the piece owns.</summary>
    public static List<TranscriptWord> MergeWords(IEnumerable<(AudioPiece Piece, IReadOnlyList<TranscriptWord> Words)> pieces)
    {
        var merged = new List<TranscriptWord>();
        foreach (var (piece, words) in pieces.OrderBy(p => p.Piece.Index))
            foreach (var word in words)
                if (piece.Owns(word.Start, word.End))
                    merged.Add(Shift(word, piece.Start, merged.Count > 0 ? merged[^1].Start : 0));
        return merged;
    }

    /// <summary>
    /// Each piece's segments moved to the recording's clock, the overlap's duplicates dropped (a segment belongs to the
    /// piece that owns its middle), and numbered again in order.
    /// </summary>
    public static List<TranscriptSegment> MergeSegments(IEnumerable<(AudioPiece Piece, IReadOnlyList<TranscriptSegment> Segments)> pieces)
    {
        var merged = new List<TranscriptSegment>();
        foreach (var (piece, segments) in pieces.OrderBy(p => p.Piece.Index))
            foreach (var segment in segments.OrderBy(s => s.Start))
            {
                if (!piece.Owns(segment.Start, segment.End))
                    continue;
                var floor = merged.Count > 0 ? merged[^1].Start : 0;
                var start = Math.Max(floor, segment.Start + piece.Start);
                var end = Math.Max(start, segment.End + piece.Start);
                var words = segment.Words?.Select(w => Shift(w, piece.Start, floor)).ToList();
                merged.Add(new TranscriptSegment(merged.Count, start, end, segment.Text, words));
            }
        return merged;
    }

    static TranscriptWord Shift(TranscriptWord word, double offset, double floor)
    {
        var start = Math.Max(floor, word.Start + offset);
        return new TranscriptWord(start, Math.Max(start, word.End + offset), word.Text);
    }
}
