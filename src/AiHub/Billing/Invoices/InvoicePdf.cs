using System.Globalization;
using System.Text.Json;
using PdfSharp.Drawing;
using PdfSharp.Fonts;
using PdfSharp.Pdf;

namespace AiHub.Billing.Invoices;

/// <summary>
/// Renders an invoice or credit note to PDF with PDFsharp, from the snapshots frozen when it was issued, so the same
/// invoice gives the same bytes every time (fixed dates and document id).
/// </summary>
internal static class InvoicePdf
{
    const string Family = "Liberation Sans";
    const double Margin = 50;
    const double PageWidth = 595.28; // A4 in points
    const double PageHeight = 841.89;
    static readonly XFont Regular;
    static readonly XFont Bold;
    static readonly XFont Small;
    static readonly XFont Title;

    static InvoicePdf()
    {
        EmbeddedFonts.Install();
        Regular = new XFont(Family, 10);
        Bold = new XFont(Family, 10, XFontStyleEx.Bold);
        Small = new XFont(Family, 8.5);
        Title = new XFont(Family, 20, XFontStyleEx.Bold);
    }

    /// <param name="correctsNumber">For a credit note, the number of the invoice it corrects.</param>
    /// <param name="taxName">The tax's name on the totals (<c>Billing:Seller:TaxName</c>): GST, VAT.</param>
    public static byte[] Render(Invoice invoice, string? correctsNumber, string taxName)
    {
        var seller = Party(invoice.SellerJson);
        var buyer = Party(invoice.BuyerJson);
        var lines = JsonSerializer.Deserialize<List<InvoiceLine>>(invoice.LinesJson, JsonSerializerOptions.Web) ?? [];
        var issued = invoice.IssuedAt.UtcDateTime;

        using var document = new PdfDocument();
        document.Info.Title = $"{KindText(invoice.Kind)} {invoice.Number}";
        document.Info.Author = seller.Name;
        document.Info.Subject = $"{KindText(invoice.Kind)} {invoice.Number} for {buyer.Name}";
        // Fixed dates and id: rendering the same invoice twice gives the same file.
        document.Info.CreationDate = issued;
        document.Info.ModificationDate = issued;
        var id = invoice.Id.ToString("N").ToUpperInvariant();
        document.Internals.FirstDocumentID = id;
        document.Internals.SecondDocumentID = id;

        var page = new Writer(document);
        page.Text(invoice.Kind == InvoiceKind.CreditNote ? "Credit note" : "Invoice", Title, Margin, XStringFormats.TopLeft);
        page.Text(invoice.Number, Bold, PageWidth - Margin, XStringFormats.TopRight);
        page.Y += 30;
        page.Text("Issued " + issued.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), Regular, PageWidth - Margin, XStringFormats.TopRight);
        if (invoice.Kind == InvoiceKind.CreditNote)
        {
            page.Y += 14;
            page.Text(correctsNumber is null ? "Corrects an earlier invoice" : $"Corrects invoice {correctsNumber}", Regular, PageWidth - Margin, XStringFormats.TopRight);
        }
        page.Y += 30;

        var top = page.Y;
        var sellerBottom = PartyBlock(page, "From", seller, Margin);
        page.Y = top;
        var buyerBottom = PartyBlock(page, "Bill to", buyer, PageWidth / 2);
        page.Y = Math.Max(sellerBottom, buyerBottom) + 24;

        // Columns: description, quantity, unit price, amount.
        double qtyRight = 360, unitRight = 450, amountRight = PageWidth - Margin;
        page.Text("Description", Bold, Margin, XStringFormats.TopLeft);
        page.Text("Qty", Bold, qtyRight, XStringFormats.TopRight);
        page.Text("Unit", Bold, unitRight, XStringFormats.TopRight);
        page.Text($"Amount ({invoice.Currency})", Bold, amountRight, XStringFormats.TopRight);
        page.Y += 16;
        page.Rule();
        foreach (var line in lines)
        {
            var wrapped = page.Wrap(line.Description, Regular, qtyRight - 50 - Margin);
            page.Reserve(14 * wrapped.Count + 6);
            page.Text(line.Quantity.ToString("N0", CultureInfo.InvariantCulture), Regular, qtyRight, XStringFormats.TopRight);
            page.Text(MoneyText.Number(line.UnitMinor, invoice.Currency), Regular, unitRight, XStringFormats.TopRight);
            page.Text(MoneyText.Number(line.AmountMinor, invoice.Currency), Regular, amountRight, XStringFormats.TopRight);
            foreach (var text in wrapped)
            {
                page.Text(text, Regular, Margin, XStringFormats.TopLeft);
                page.Y += 14;
            }
            page.Y += 6;
        }
        page.Rule();
        page.Reserve(70);
        Total(page, "Subtotal", MoneyText.Format(invoice.SubtotalMinor, invoice.Currency), Regular, unitRight, amountRight);
        Total(page, string.IsNullOrWhiteSpace(taxName) ? "Tax" : taxName, MoneyText.Format(invoice.TaxMinor, invoice.Currency), Regular, unitRight, amountRight);
        Total(page, "Total", MoneyText.Format(invoice.TotalMinor, invoice.Currency), Bold, unitRight, amountRight);
        page.Y += 20;
        page.Text(invoice.Kind == InvoiceKind.CreditNote ? "The amount above was refunded to the original means of payment." : "Paid. Thank you.",
            Small, Margin, XStringFormats.TopLeft);

        using var stream = new MemoryStream();
        document.Save(stream, closeStream: false);
        return stream.ToArray();
    }

    public static string FileName(Invoice invoice) => invoice.Number + ".pdf";

    public static string KindText(InvoiceKind kind) => kind == InvoiceKind.CreditNote ? "Credit note" : "Invoice";

    static double PartyBlock(Writer page, string heading, InvoiceParty party, double x)
    {
        page.Text(heading, Small, x, XStringFormats.TopLeft);
        page.Y += 13;
        page.Text(party.Name, Bold, x, XStringFormats.TopLeft);
        page.Y += 14;
        foreach (var line in party.Address.Append(party.Email).Append(party.TaxId is null ? null : "Tax ID " + party.TaxId))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            page.Text(line, Regular, x, XStringFormats.TopLeft);
            page.Y += 13;
        }
        return page.Y;
    }

    static void Total(Writer page, string label, string amount, XFont font, double labelRight, double amountRight)
    {
        page.Y += 6;
        page.Text(label, font, labelRight, XStringFormats.TopRight);
        page.Text(amount, font, amountRight, XStringFormats.TopRight);
        page.Y += 12;
    }

    static InvoiceParty Party(string json) =>
        JsonSerializer.Deserialize<InvoiceParty>(json, JsonSerializerOptions.Web) ?? new InvoiceParty("", [], null, null);

    /// <summary>Draws top to bottom and starts a new page when the next block would not fit.</summary>
    sealed class Writer
    {
        readonly PdfDocument _document;
        XGraphics _gfx = null!;

        public Writer(PdfDocument document)
        {
            _document = document;
            NewPage();
        }

        public double Y { get; set; }

        void NewPage()
        {
            _gfx?.Dispose();
            var page = _document.AddPage();
            page.Width = XUnit.FromPoint(PageWidth);
            page.Height = XUnit.FromPoint(PageHeight);
            _gfx = XGraphics.FromPdfPage(page);
            Y = Margin;
        }

        public void Reserve(double height)
        {
            if (Y + height > PageHeight - Margin)
                NewPage();
        }

        public void Text(string text, XFont font, double x, XStringFormat format) =>
            _gfx.DrawString(text, font, XBrushes.Black, new XPoint(x, Y), format);

        public void Rule()
        {
            _gfx.DrawLine(XPens.Gray, Margin, Y, PageWidth - Margin, Y);
            Y += 6;
        }

        public List<string> Wrap(string text, XFont font, double width)
        {
            var lines = new List<string>();
            var current = "";
            foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = current.Length == 0 ? word : current + " " + word;
                if (current.Length > 0 && _gfx.MeasureString(candidate, font).Width > width)
                {
                    lines.Add(current);
                    current = word;
                }
                else
                {
                    current = candidate;
                }
            }
            lines.Add(current);
            return lines;
        }
    }
}

/// <summary>Resolves every typeface to Liberation Sans (SIL OFL 1.1) embedded in the assembly, so rendering needs no system font.</summary>
internal sealed class EmbeddedFonts : IFontResolver
{
    const string RegularFace = "LiberationSans-Regular";
    const string BoldFace = "LiberationSans-Bold";
    static readonly Lock Gate = new();
    static EmbeddedFonts? _installed;

    /// <summary>PDFsharp's resolver is process-wide and may be set once: the first caller installs it.</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (_installed is not null)
                return;
            _installed = new EmbeddedFonts();
            GlobalFontSettings.FontResolver = _installed;
        }
    }

    public FontResolverInfo ResolveTypeface(string familyName, bool bold, bool italic) =>
        new(bold ? BoldFace : RegularFace, false, italic);

    public byte[] GetFont(string faceName)
    {
        using var stream = typeof(EmbeddedFonts).Assembly.GetManifestResourceStream($"AiHub.Billing.Invoices.Fonts.{faceName}.ttf")
            ?? throw new InvalidOperationException($"The font {faceName} is not embedded in the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
