using AiHub.Knowledge.Ingestion.Media;

namespace AiHub.Tests.Knowledge.Media;

public sealed class MediaParsingTests
{
    [Fact]
    public void Verbose_json_gives_segments_with_their_words_language_and_duration()
    {
        const string json = """
            {"task":"transcribe","language":"english","duration":9.5,"text":"Hello there. General Kenobi.",
             "segments":[{"id":0,"seek":0,"start":0.0,"end":2.4,"text":" Hello there.","avg_logprob":-0.2},
                         {"id":1,"seek":0,"start":3.0,"end":6.2,"text":" General Kenobi.","avg_logprob":-0.3},
                         {"id":2,"seek":0,"start":7.0,"end":9.0,"text":"  "}],
             "words":[{"word":"Hello","start":0.1,"end":0.6},{"word":"there.","start":0.7,"end":1.2},
                      {"word":"General","start":3.1,"end":3.8},{"word":"Kenobi.","start":3.9,"end":4.6}]}
            """;

        var transcript = OpenAiTranscriber.Parse(json);

        Assert.Equal(("english", 9.5), (transcript.Language, transcript.DurationSeconds));
        Assert.Equal(["Hello there.", "General Kenobi."], transcript.Segments.Select(s => s.Text));
        Assert.Equal([(0, 0.0, 2.4), (1, 3.0, 6.2)], transcript.Segments.Select(s => (s.Index, s.Start, s.End)));
        Assert.Equal(["General", "Kenobi."], transcript.Segments[1].Words!.Select(w => w.Text));
    }

    [Fact]
    public void A_server_that_answers_plain_json_still_gives_its_text_as_one_segment()
    {
        var transcript = OpenAiTranscriber.Parse("""{"text":"Just the words.","duration":4}""");

        var segment = Assert.Single(transcript.Segments);
        Assert.Equal((0.0, 4.0, "Just the words."), (segment.Start, segment.End, segment.Text));
        Assert.Null(transcript.Language);
    }

    [Fact]
    public void Ffprobe_output_tells_audio_from_video_and_cover_art_from_a_picture()
    {
        const string mp3WithCover = """
            {"streams":[{"index":0,"codec_name":"mp3","codec_type":"audio","duration":"12.5","disposition":{"attached_pic":0}},
                        {"index":1,"codec_name":"mjpeg","codec_type":"video","disposition":{"attached_pic":1}}],
             "format":{"format_name":"mp3","duration":"12.500000"}}
            """;
        const string videoOnly = """
            {"streams":[{"index":0,"codec_name":"h264","codec_type":"video","duration":"3.000000","disposition":{"attached_pic":0}}],
             "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2"}}
            """;

        Assert.Equal(new MediaInfo(12.5, true, false, "mp3", "mp3"), MediaTools.Parse(mp3WithCover));
        Assert.Equal(new MediaInfo(3, false, true, null, "mov,mp4,m4a,3gp,3g2,mj2"), MediaTools.Parse(videoOnly));
    }
}
