using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Media;

namespace AiHub.Tests.Knowledge.Media;

public sealed class AudioPiecesTests
{
    /// <summary>Loudness of 10 ms frames: loud everywhere except the given quiet stretches (in seconds).</summary>
    static float[] Loudness(double seconds, params (double From, double To)[] quiet) =>
        [.. Enumerable.Range(0, (int)(seconds / WavAudio.FrameSeconds)).Select(i =>
            quiet.Any(q => i * WavAudio.FrameSeconds >= q.From && i * WavAudio.FrameSeconds < q.To) ? 0f : 1000f)];

    [Fact]
    public void Cuts_fall_in_the_pauses_and_pieces_overlap_by_the_given_seconds()
    {
        var loudness = Loudness(150, (50, 51), (110, 111));

        var pieces = AudioPieces.Plan(loudness, 150, pieceSeconds: 62, overlapSeconds: 1);

        Assert.Equal(3, pieces.Count);
        Assert.InRange(pieces[0].OwnEnd, 50, 51);
        Assert.InRange(pieces[1].OwnEnd, 110, 111);
        Assert.Equal((0, 0), (pieces[0].Start, pieces[0].OwnStart));
        Assert.Equal(pieces[0].OwnEnd + 1, pieces[0].End, 6);
        Assert.Equal(pieces[0].OwnEnd, pieces[1].OwnStart);
        Assert.Equal(pieces[1].OwnStart - 1, pieces[1].Start, 6);
        Assert.Equal((150, 150), (pieces[2].End, pieces[2].OwnEnd));
        Assert.All(pieces, p => Assert.True(p.Length <= 62 + 0.001));
    }

    [Fact]
    public void Audio_with_no_pause_is_still_cut_within_the_piece_length()
    {
        var pieces = AudioPieces.Plan(Loudness(200), 200, pieceSeconds: 30, overlapSeconds: 2);

        Assert.All(pieces, p => Assert.True(p.Length <= 30 + 0.001));
        Assert.Equal(200, pieces[^1].OwnEnd);
        for (var i = 1; i < pieces.Count; i++)
            Assert.Equal(pieces[i - 1].OwnEnd, pieces[i].OwnStart);
    }

    [Fact]
    public void Merged_segments_are_shifted_by_their_piece_and_the_overlap_is_kept_once()
    {
        var first = new AudioPiece(0, 0, 12, 0, 10);
        var second = new AudioPiece(1, 8, 20, 10, 20);
        IReadOnlyList<TranscriptSegment> a = [new(0, 0, 5, "a1"), new(1, 5, 9.4, "a2"), new(2, 9.4, 10.4, "across the cut"), new(3, 10.5, 12, "b1 cut short")];
        IReadOnlyList<TranscriptSegment> b = [new(0, 0, 1.4, "a2 tail"), new(1, 1.4, 2.4, "across the cut"), new(2, 2.5, 6, "b1", [new TranscriptWord(2.5, 3, "b1")]), new(3, 6, 12, "b2")];

        var merged = AudioPieces.MergeSegments([(second, b), (first, a)]);

        Assert.Equal(["a1", "a2", "across the cut", "b1", "b2"], merged.Select(s => s.Text));
        Assert.Equal([0.0, 5, 9.4, 10.5, 14], merged.Select(s => s.Start));
        Assert.Equal(new TranscriptWord(10.5, 11, "b1"), merged[3].Words![0]);
        Assert.Equal([0, 1, 2, 3, 4], merged.Select(s => s.Index));
    }

    [Fact]
    public void Merged_words_keep_the_clock_and_drop_the_overlap_repeats()
    {
        var first = new AudioPiece(0, 0, 11, 0, 10);
        var second = new AudioPiece(1, 9, 20, 10, 20);
        IReadOnlyList<TranscriptWord> a = [new(1, 2, "one"), new(9.2, 9.6, "two"), new(10.2, 10.8, "three")];
        IReadOnlyList<TranscriptWord> b = [new(0.2, 0.6, "two"), new(1.2, 1.8, "three"), new(5, 6, "four")];

        var merged = AudioPieces.MergeWords([(first, a), (second, b)]);

        Assert.Equal(["one", "two", "three", "four"], merged.Select(w => w.Text));
        Assert.Equal([1.0, 9.2, 10.2, 14], merged.Select(w => w.Start));
    }
}
