using System.Text;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>Extracted text as it is indexed: NFC, no control characters but newlines and tabs, runs of spaces collapsed.</summary>
internal static class TextNormalizer
{
    /// <summary>Normalises one block: line breaks become spaces unless <paramref name="keepLines"/> (code, preformatted text).</summary>
    public static string Normalize(string? text, bool keepLines = false)
    {
        if (string.IsNullOrEmpty(text))
            return "";
        var nfc = NfcComposition.Compose(text);
        var sb = new StringBuilder(nfc.Length);
        var pendingSpace = false;
        var pendingNewlines = 0;
        foreach (var c in nfc)
        {
            if (c is '\r' or '\n' or '\u2028' or '\u2029' or '\u0085')
            {
                if (keepLines)
                {
                    // \r\n counts once; blank lines inside code are kept as one.
                    if (c != '\r')
                        pendingNewlines = Math.Min(pendingNewlines + 1, 2);
                    pendingSpace = false;
                }
                else
                    pendingSpace = true;
                continue;
            }
            if (c == '\t' && keepLines)
            {
                Flush(sb, ref pendingSpace, ref pendingNewlines);
                sb.Append('\t');
                continue;
            }
            if (char.IsWhiteSpace(c) || c == '\t')
            {
                if (pendingNewlines == 0)
                    pendingSpace = true;
                continue;
            }
            // Control and format characters (NUL, BEL, zero-width joiners misused as padding, BOMs) carry no text.
            if (char.IsControl(c) || c == '\uFEFF' || c == '\u00AD')
                continue;
            Flush(sb, ref pendingSpace, ref pendingNewlines);
            sb.Append(c);
        }
        return sb.ToString();
    }

    static void Flush(StringBuilder sb, ref bool pendingSpace, ref int pendingNewlines)
    {
        if (sb.Length > 0)
        {
            if (pendingNewlines > 0)
                sb.Append('\n', pendingNewlines);
            else if (pendingSpace)
                sb.Append(' ');
        }
        pendingSpace = false;
        pendingNewlines = 0;
    }
}
