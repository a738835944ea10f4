using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Components;

namespace AiHub.Chat.Pages;

/// <summary>
/// An answer's markdown while it streams in: the blocks before the last blank line outside a fence are settled and
/// rendered once, and only the tail after them is rendered again on each update, so a long answer costs its length and
/// not its length squared. The result is the same as <see cref="ChatMarkdown.Render"/> of the whole text.
/// </summary>
/// <remarks>
/// A split is made only where the next block cannot belong to the one before it: the line after the blank starts a
/// paragraph, heading, quote, table or fence, never an indented line or a list item (which could continue a list or make
/// it loose). Markdown that reaches across blocks (link reference definitions, footnotes, abbreviations, definition
/// lists) turns splitting off for the rest of the answer, which is then rendered whole as before.
/// </remarks>
internal sealed partial class StreamedMarkdown
{
    readonly StringBuilder _settledHtml = new();
    string _text = "";
    int _settled;
    int _scanned;
    int? _blankEnd;
    (char Mark, int Length)? _fence;
    bool _whole;
    MarkupString _last = new("");

    /// <summary>Characters of settled text handed to the renderer so far: each at most once while splitting is on.</summary>
    public long SettledCharsRendered { get; private set; }

    /// <summary>Characters handed to the renderer in all, settled and tails.</summary>
    public long CharsRendered { get; private set; }

    /// <summary>Length of the settled prefix, rendered once and kept.</summary>
    public int Settled => _settled;

    public void Reset()
    {
        _settledHtml.Clear();
        (_text, _settled, _scanned, _blankEnd, _fence, _whole, _last) = ("", 0, 0, null, null, false, new MarkupString(""));
    }

    public MarkupString Render(string? markdown)
    {
        var text = markdown ?? "";
        if (text == _text)
            return _last;
        // An answer only grows while it streams; anything else (a new answer) starts again.
        if (text.Length < _text.Length || !text.AsSpan(0, _text.Length).SequenceEqual(_text))
            Reset();
        _text = text;
        Scan(text);
        var tail = text[_settled..];
        CharsRendered += tail.Length;
        var html = ChatMarkdown.Render(tail).Value;
        return _last = new MarkupString(_settledHtml.Length == 0 ? html : _settledHtml + html);
    }

    /// <summary>Reads the complete lines not read yet, settling up to each safe block boundary it passes.</summary>
    void Scan(string text)
    {
        while (!_whole)
        {
            var end = text.IndexOf('\n', _scanned);
            if (end < 0)
            {
                // The line still arriving is the tail's, but a definition in it reaches back into what was settled.
                if (_fence is null && ReachesAcrossBlocks(text.AsSpan(_scanned)))
                    RenderWhole();
                return;
            }
            var line = text.AsSpan(_scanned, end - _scanned).TrimEnd('\r');
            var lineEnd = end + 1;
            _scanned = lineEnd;
            if (_fence is { } open)
            {
                if (Closes(line, open))
                    _fence = null;
                continue;
            }
            if (ReachesAcrossBlocks(line))
            {
                RenderWhole();
                return;
            }
            if (line.IsWhiteSpace())
            {
                _blankEnd = lineEnd;
                continue;
            }
            if (_blankEnd is { } boundary && StartsNewBlock(line) && boundary > _settled)
                Settle(text, boundary);
            _blankEnd = null;
            _fence = Opens(line);
        }
    }

    /// <summary>What was settled may render differently now (a later definition names an earlier link): the rest is rendered whole.</summary>
    void RenderWhole()
    {
        _whole = true;
        _settledHtml.Clear();
        _settled = 0;
    }

    void Settle(string text, int boundary)
    {
        var block = text[_settled..boundary];
        SettledCharsRendered += block.Length;
        CharsRendered += block.Length;
        _settledHtml.Append(ChatMarkdown.Render(block).Value);
        _settled = boundary;
    }

    /// <summary>A line that can only start a block of its own after a blank line, whatever came before.</summary>
    static bool StartsNewBlock(ReadOnlySpan<char> line)
    {
        var c = line[0];
        if (char.IsDigit(c))
            return !OrderedListItem().IsMatch(line);
        return char.IsLetter(c) || c is '#' or '>' or '`' or '~' or '|' or '!' or '[' or '"' or '\'' or '(';
    }

    static bool ReachesAcrossBlocks(ReadOnlySpan<char> line) => CrossBlock().IsMatch(line);

    static (char Mark, int Length)? Opens(ReadOnlySpan<char> line)
    {
        var trimmed = line.TrimStart(' ');
        if (line.Length - trimmed.Length > 3 || trimmed.Length < 2)
            return null;
        var mark = trimmed[0];
        if (mark is not ('`' or '~' or ':' or '$'))
            return null;
        var length = trimmed.Length - trimmed.TrimStart(mark).Length;
        return length >= (mark == '$' ? 2 : 3) ? (mark, length) : null;
    }

    static bool Closes(ReadOnlySpan<char> line, (char Mark, int Length) open)
    {
        var trimmed = line.TrimStart(' ');
        if (line.Length - trimmed.Length > 3)
            return false;
        var rest = trimmed.TrimStart(open.Mark);
        return trimmed.Length - rest.Length >= open.Length && (open.Mark is ':' or '$' || rest.IsWhiteSpace());
    }

    [GeneratedRegex(@"^\d{1,9}[.)](\s|$)")]
    private static partial Regex OrderedListItem();

    // Reference definitions, footnotes, abbreviations and definitions of a definition list.
    [GeneratedRegex(@"^ {0,3}\[[^\]]+\]:|\[\^|^\*\[|^ {0,3}:\s")]
    private static partial Regex CrossBlock();
}
