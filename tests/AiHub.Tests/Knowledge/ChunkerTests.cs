using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Chunking;
using AiHub.Knowledge.Ingestion.Documents;

namespace AiHub.Tests.Knowledge;

public sealed class ChunkerTests
{
    static readonly Chunker Chunker = new();

    /// <summary>A document built the way extractors build one: (heading level or 0, text, page).</summary>
    static ExtractedDocument Doc(params (int Level, string Text, int? Page)[] items)
    {
        var blocks = new BlockCollector(new DocumentLimits(), CancellationToken.None);
        foreach (var (level, text, page) in items)
        {
            if (level > 0)
                blocks.Heading(level, text, page);
            else
                blocks.Add(text, DocumentBlockKind.Paragraph, page);
        }
        return blocks.Build(null, items.Max(i => i.Page ?? 0));
    }

    static void AssertTextMatchesOffsets(ExtractedDocument doc, IReadOnlyList<ChunkDraft> chunks)
    {
        var text = BlockCollector.TextOf(doc);
        foreach (var chunk in chunks)
            Assert.Equal(text[(int)chunk.StartOffset..(int)chunk.EndOffset], chunk.Text);
    }

    [Fact]
    public void Chunks_stay_within_the_token_limit_and_carry_an_overlap()
    {
        var doc = Doc([.. Enumerable.Range(0, 12).Select(i => (0, DocumentSamples.Prose(i, 90), (int?)null))]);
        var options = new ChunkingOptions(MaxTokens: 200, OverlapTokens: 40);

        var chunks = Chunker.Chunk(doc, options);

        Assert.True(chunks.Count >= 5, $"{chunks.Count} chunks");
        Assert.All(chunks, c => Assert.InRange(c.TokenCount, 1, options.MaxTokens));
        Assert.All(chunks, c => Assert.Equal(Chunker.CountTokens(c.Text), c.TokenCount));
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Ordinal));
        for (var i = 1; i < chunks.Count; i++)
        {
            // The next chunk starts inside the previous one: its first sentences are the previous chunk's last.
            Assert.True(chunks[i].StartOffset < chunks[i - 1].EndOffset, $"chunk {i} does not overlap");
            Assert.True(chunks[i].StartOffset > chunks[i - 1].StartOffset);
            var overlap = chunks[i - 1].EndOffset - chunks[i].StartOffset;
            var overlapText = chunks[i].Text[..(int)overlap];
            Assert.EndsWith(overlapText, chunks[i - 1].Text, StringComparison.Ordinal);
            Assert.InRange(Chunker.CountTokens(overlapText), 1, options.OverlapTokens + 5);
        }
        AssertTextMatchesOffsets(doc, chunks);
    }

    [Fact]
    public void No_overlap_is_taken_when_it_is_switched_off()
    {
        var doc = Doc([.. Enumerable.Range(0, 8).Select(i => (0, DocumentSamples.Prose(i, 90), (int?)null))]);
        var chunks = Chunker.Chunk(doc, new ChunkingOptions(MaxTokens: 200, OverlapTokens: 0));
        for (var i = 1; i < chunks.Count; i++)
            Assert.True(chunks[i].StartOffset >= chunks[i - 1].EndOffset);
    }

    [Fact]
    public void A_chunk_never_spans_two_pages_even_when_the_pages_are_small()
    {
        var doc = Doc((0, "Tiny page one.", 1), (0, "Tiny page two.", 2), (0, "Page three, first.", 3), (0, "Page three, second.", 3));

        var chunks = Chunker.Chunk(doc, new ChunkingOptions());

        Assert.Equal([(1, "Tiny page one."), (2, "Tiny page two."), (3, "Page three, first.\n\nPage three, second.")],
            chunks.Select(c => (c.Page!.Value, c.Text)));
        AssertTextMatchesOffsets(doc, chunks);
    }

    [Fact]
    public void The_overlap_never_reaches_back_into_another_page()
    {
        var doc = Doc([.. Enumerable.Range(0, 6).Select(i => (0, $"P{i / 3 + 1}. " + DocumentSamples.Prose(i, 80), (int?)(i / 3 + 1)))]);
        var chunks = Chunker.Chunk(doc, new ChunkingOptions(MaxTokens: 120, OverlapTokens: 30));
        foreach (var chunk in chunks)
            Assert.DoesNotContain($"P{(chunk.Page == 1 ? 2 : 1)}. ", chunk.Text, StringComparison.Ordinal);
        Assert.Contains(chunks, c => c.Page == 2);
    }

    [Fact]
    public void A_top_level_heading_starts_a_new_chunk_and_deeper_ones_are_packed()
    {
        var doc = Doc(
            (1, "Guide", null), (0, "Intro text.", null),
            (2, "Install", null), (0, "Install text.", null),
            (3, "Linux", null), (0, "Linux text.", null),
            (2, "Run", null), (0, "Run text.", null));

        var chunks = Chunker.Chunk(doc, new ChunkingOptions());

        Assert.Equal(
        [
            ("Guide\n\nIntro text.", "Guide"),
            ("Install\n\nInstall text.\n\nLinux\n\nLinux text.", "Guide › Install"),
            ("Run\n\nRun text.", "Guide › Run"),
        ], chunks.Select(c => (c.Text, c.HeadingPath)));
        AssertTextMatchesOffsets(doc, chunks);
    }

    [Fact]
    public void A_heading_at_the_end_of_a_full_chunk_moves_to_the_next_with_its_text()
    {
        // The limit leaves room for the first headings, the paragraph and the next heading, not the text under it;
        // a heading straight under another stays with it rather than making a chunk of headings alone.
        var first = DocumentSamples.Prose(1, 60);
        var options = new ChunkingOptions(MaxTokens: Chunker.CountTokens(first) + 14, OverlapTokens: 10);
        var doc = Doc((1, "Guide", null), (2, "Setup", null), (0, first, null), (3, "Details", null), (0, DocumentSamples.Prose(2, 60), null));

        var chunks = Chunker.Chunk(doc, options);

        Assert.Equal(2, chunks.Count);
        Assert.Equal("Guide\n\nSetup\n\n" + first, chunks[0].Text);
        Assert.StartsWith("Details\n\n", chunks[1].Text, StringComparison.Ordinal);
        Assert.Equal("Guide › Setup › Details", chunks[1].HeadingPath);
    }

    [Fact]
    public void An_overlong_paragraph_is_cut_at_sentences_and_a_sentence_without_end_at_tokens()
    {
        var sentences = DocumentSamples.Prose(9, 400);
        var runOn = string.Join(' ', Enumerable.Repeat("word", 700));
        var doc = Doc((0, sentences, null), (0, runOn, null));
        var options = new ChunkingOptions(MaxTokens: 100, OverlapTokens: 20);

        var chunks = Chunker.Chunk(doc, options);

        Assert.All(chunks, c => Assert.InRange(c.TokenCount, 1, options.MaxTokens));
        // Cut at sentences: every chunk of the first paragraph ends with a full stop.
        Assert.All(chunks.Where(c => c.EndOffset <= sentences.Length), c => Assert.EndsWith(".", c.Text, StringComparison.Ordinal));
        Assert.Contains(chunks, c => c.Text.StartsWith("word", StringComparison.Ordinal) && !c.Text.Contains('.', StringComparison.Ordinal));
        AssertTextMatchesOffsets(doc, chunks);
    }

    [Fact]
    public void Chunking_is_deterministic()
    {
        var doc = Doc([.. Enumerable.Range(0, 20).Select(i => (i % 5 == 0 ? 2 : 0, DocumentSamples.Prose(i, 30 + i * 7), (int?)(i / 7 + 1)))]);
        var first = Chunker.Chunk(doc, new ChunkingOptions(150, 30));
        var second = new Chunker().Chunk(doc, new ChunkingOptions(150, 30));
        Assert.Equal(first, second);
    }

    [Fact]
    public void Random_paragraph_sizes_never_make_a_chunk_over_the_limit_and_lose_no_paragraph()
    {
        for (var seed = 0; seed < 40; seed++)
        {
            var random = new Random(seed);
            var count = random.Next(1, 25);
            var page = 1;
            var items = new List<(int, string, int?)>();
            for (var i = 0; i < count; i++)
            {
                if (random.Next(6) == 0)
                    page++;
                var level = random.Next(5) == 0 ? random.Next(1, 4) : 0;
                var text = level > 0 ? $"Heading {seed}-{i}" : DocumentSamples.Prose(seed * 100 + i, random.Next(1, 600));
                items.Add((level, text, page));
            }
            var doc = Doc([.. items]);
            var options = new ChunkingOptions(MaxTokens: random.Next(40, 300), OverlapTokens: random.Next(0, 20));

            var chunks = Chunker.Chunk(doc, options);

            Assert.All(chunks, c => Assert.True(c.TokenCount <= options.MaxTokens + 2, $"seed {seed}: {c.TokenCount} > {options.MaxTokens}"));
            AssertTextMatchesOffsets(doc, chunks);
            // Every character of every block lies in some chunk on the block's page.
            foreach (var block in doc.Blocks)
            {
                var covered = new bool[block.Text.Length];
                foreach (var chunk in chunks.Where(c => c.Page == block.Page))
                    for (var at = Math.Max(block.Offset, chunk.StartOffset); at < Math.Min(block.Offset + block.Text.Length, chunk.EndOffset); at++)
                        covered[at - block.Offset] = true;
                var missing = Array.IndexOf(covered, false);
                Assert.True(missing < 0 || char.IsWhiteSpace(block.Text[missing]) && covered.Skip(missing).Count(c => !c) < 3,
                    $"seed {seed}: block at {block.Offset} not covered from {missing}");
            }
        }
    }

    static Transcript Talk(int segments) => new("en", segments * 4.0,
        [.. Enumerable.Range(0, segments).Select(i => new TranscriptSegment(i, i * 4.0, i * 4.0 + 3.5, DocumentSamples.Prose(i, 25)))]);

    [Fact]
    public void Transcript_chunks_hold_whole_segments_with_their_times_and_one_segment_of_overlap()
    {
        var transcript = Talk(30);
        var options = new ChunkingOptions(MaxTokens: 120, OverlapTokens: 20);

        var chunks = Chunker.Chunk(transcript, options);

        Assert.True(chunks.Count > 3);
        var text = Chunker.TranscriptText(transcript);
        foreach (var chunk in chunks)
        {
            Assert.InRange(chunk.TokenCount, 1, options.MaxTokens);
            Assert.Equal(transcript.Segments[chunk.FirstSegment!.Value].Start, chunk.StartSeconds);
            Assert.Equal(transcript.Segments[chunk.LastSegment!.Value].End, chunk.EndSeconds);
            var expected = string.Join("\n", transcript.Segments.Skip(chunk.FirstSegment.Value).Take(chunk.LastSegment.Value - chunk.FirstSegment.Value + 1).Select(s => s.Text));
            Assert.Equal(expected, chunk.Text);
            Assert.Equal(text[(int)chunk.StartOffset..(int)chunk.EndOffset], chunk.Text);
            Assert.Null(chunk.Page);
        }
        Assert.Equal(0, chunks[0].FirstSegment);
        Assert.Equal(29, chunks[^1].LastSegment);
        for (var i = 1; i < chunks.Count; i++)
            Assert.Equal(chunks[i - 1].LastSegment, chunks[i].FirstSegment);
    }

    [Fact]
    public void A_segment_longer_than_the_limit_is_kept_whole_in_its_own_chunk()
    {
        var transcript = new Transcript("en", 30, [
            new TranscriptSegment(0, 0, 2, "Short start."),
            new TranscriptSegment(1, 2, 20, DocumentSamples.Prose(4, 200)),
            new TranscriptSegment(2, 20, 22, "Short end."),
        ]);

        var chunks = Chunker.Chunk(transcript, new ChunkingOptions(MaxTokens: 50, OverlapTokens: 10));

        Assert.Equal([(0, 0), (1, 1), (2, 2)], chunks.Select(c => (c.FirstSegment!.Value, c.LastSegment!.Value)));
        Assert.Equal(transcript.Segments[1].Text, chunks[1].Text);
    }

    [Fact]
    public void Options_out_of_range_are_refused()
    {
        var doc = Doc((0, "Text.", null));
        Assert.Throws<ArgumentOutOfRangeException>(() => Chunker.Chunk(doc, new ChunkingOptions(MaxTokens: 8)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Chunker.Chunk(doc, new ChunkingOptions(MaxTokens: 100, OverlapTokens: 60)));
    }
}
