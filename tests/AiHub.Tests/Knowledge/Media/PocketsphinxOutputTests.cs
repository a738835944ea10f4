using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Media;

namespace AiHub.Tests.Knowledge.Media;

public sealed class PocketsphinxOutputTests
{
    // Real output of pocketsphinx_continuous -time yes (0.8+5prealpha), with a noise and an alternate pronunciation added.
    const string Output = """
        the quick brown fox
        <s> 0.880 1.020 1.000100
        <sil> 1.030 1.220 0.943549
        the 1.230 1.310 0.738499
        quick 1.320 1.620 0.486566
        [NOISE] 1.630 1.700 0.5
        brown(2) 1.710 1.940 1.000200
        fox 1.950 2.290 1.000200
        </s> 2.300 2.630 1.000000
        read the book
        <s> 19.890 20.030 0.999700
        read(3) 20.230 20.400 1.000000
        the 20.410 20.590 0.629863
        book 20.600 21.000 1.2e-05
        </s> 21.010 21.340 0.999900
        """;

    [Fact]
    public void Word_lines_are_kept_with_their_times_and_marks_noises_and_alternates_are_dropped()
    {
        var words = PocketsphinxTranscriber.ParseWords(Output);

        Assert.Equal(["the", "quick", "brown", "fox", "read", "the", "book"], words.Select(w => w.Text));
        Assert.Equal(new TranscriptWord(1.71, 1.94, "brown"), words[2]);
        Assert.Equal(new TranscriptWord(20.6, 21.0, "book"), words[^1]);
    }

    [Fact]
    public void Words_are_grouped_into_segments_at_pauses()
    {
        var segments = PocketsphinxTranscriber.Group(PocketsphinxTranscriber.ParseWords(Output));

        Assert.Equal(["the quick brown fox", "read the book"], segments.Select(s => s.Text));
        Assert.Equal([(0, 1.23, 2.29), (1, 20.23, 21.0)], segments.Select(s => (s.Index, s.Start, s.End)));
        Assert.Equal(4, segments[0].Words!.Count);
    }

    [Fact]
    public void Speech_without_a_pause_is_cut_into_segments_of_at_most_fifteen_seconds()
    {
        var words = Enumerable.Range(0, 100).Select(i => new TranscriptWord(i * 0.4, (i * 0.4) + 0.35, "w" + i)).ToList();

        var segments = PocketsphinxTranscriber.Group(words);

        Assert.True(segments.Count >= 3);
        Assert.All(segments, s => Assert.True(s.End - s.Start <= PocketsphinxTranscriber.SegmentMaxSeconds));
        Assert.Equal(100, segments.Sum(s => s.Words!.Count));
    }
}
