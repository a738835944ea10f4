using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Transcripts;

namespace AiHub.Tests.Knowledge.Media;

public sealed class TranscriptFormatsTests
{
    static readonly Transcript Sample = new("en", 3725, [
        new TranscriptSegment(0, 0.5, 2.25, "Hello & welcome <everyone>."),
        new TranscriptSegment(1, 61.0049, 65.9996, "Line one\n\nline two --> next"),
        new TranscriptSegment(2, 70, 71, "   "),
        new TranscriptSegment(3, 3661.5, 3663, "An hour in."),
    ]);

    [Fact]
    public void Srt_numbers_cues_from_one_with_comma_milliseconds_and_a_blank_line_after_each()
    {
        var srt = TranscriptFormats.Srt(Sample);

        Assert.Equal(
            "1\r\n00:00:00,500 --> 00:00:02,250\r\nHello & welcome <everyone>.\r\n\r\n" +
            "2\r\n00:01:01,005 --> 00:01:06,000\r\nLine one\r\nline two -> next\r\n\r\n" +
            "3\r\n01:01:01,500 --> 01:01:03,000\r\nAn hour in.\r\n\r\n",
            srt);
    }

    [Fact]
    public void WebVtt_starts_with_its_header_uses_dot_milliseconds_and_escapes_markup()
    {
        var vtt = TranscriptFormats.WebVtt(Sample);

        Assert.Equal(
            "WEBVTT\n\n" +
            "00:00:00.500 --> 00:00:02.250\nHello &amp; welcome &lt;everyone&gt;.\n\n" +
            "00:01:01.005 --> 00:01:06.000\nLine one\nline two --&gt; next\n\n" +
            "01:01:01.500 --> 01:01:03.000\nAn hour in.\n\n",
            vtt);
    }

    [Fact]
    public void Plain_text_gives_one_paragraph_per_segment_with_optional_times()
    {
        Assert.Equal("Hello & welcome <everyone>.\n\nLine one line two --> next\n\nAn hour in.\n", TranscriptFormats.PlainText(Sample));
        Assert.Equal("[0:00] Hello & welcome <everyone>.\n\n[1:01] Line one line two --> next\n\n[1:01:01] An hour in.\n",
            TranscriptFormats.PlainText(Sample, timestamps: true));
        Assert.Equal("", TranscriptFormats.PlainText(new Transcript(null, 0, [])));
    }

    [Theory]
    [InlineData(0, "0:00")]
    [InlineData(20.9, "0:20")]
    [InlineData(59.999, "0:59")]
    [InlineData(61, "1:01")]
    [InlineData(3599, "59:59")]
    [InlineData(3600, "1:00:00")]
    [InlineData(36061, "10:01:01")]
    [InlineData(-4, "0:00")]
    [InlineData(double.NaN, "0:00")]
    public void Clock_reads_as_a_citation_shows_it(double seconds, string expected) =>
        Assert.Equal(expected, TranscriptFormats.Clock(seconds));

    [Fact]
    public void Cues_come_in_time_order_whatever_order_the_segments_were_given_in()
    {
        var transcript = new Transcript(null, 10, [new TranscriptSegment(1, 5, 6, "second"), new TranscriptSegment(0, 1, 2, "first")]);

        Assert.Equal("first\n\nsecond\n", TranscriptFormats.PlainText(transcript));
        Assert.StartsWith("1\r\n00:00:01,000 --> 00:00:02,000\r\nfirst", TranscriptFormats.Srt(transcript), StringComparison.Ordinal);
    }
}
