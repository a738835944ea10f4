using System.Text.Json;
using AiHub.Billing;
using AiHub.Billing.Invoices;
using UglyToad.PdfPig;

namespace AiHub.Tests.Billing;

public sealed class InvoicePdfTests
{
    [Theory]
    [InlineData(123_456, "USD", "USD 1,234.56")]
    [InlineData(5, "AUD", "AUD 0.05")]
    [InlineData(-250, "EUR", "EUR -2.50")]
    [InlineData(1_234, "JPY", "JPY 1,234")]
    [InlineData(1_234, "KWD", "KWD 1.234")]
    [InlineData(0, "usd", "USD 0.00")]
    [InlineData(long.MinValue, "USD", "USD -92,233,720,368,547,758.08")]
    public void Money_is_formatted_from_minor_units_with_the_currencys_exponent(long minor, string currency, string expected) =>
        Assert.Equal(expected, MoneyText.Format(minor, currency));

    [Theory]
    [InlineData("29", "USD", 2_900)]
    [InlineData("29.5", "USD", 2_950)]
    [InlineData("1,234.56", "AUD", 123_456)]
    [InlineData(" .05 ", "USD", 5)]
    [InlineData("1234", "JPY", 1_234)]
    public void Typed_amounts_are_read_into_minor_units(string text, string currency, long expected)
    {
        Assert.True(MoneyText.TryParse(text, currency, out var minor));
        Assert.Equal(expected, minor);
    }

    [Theory]
    [InlineData("", "USD")]
    [InlineData("1.234", "USD")]
    [InlineData("12.5", "JPY")]
    [InlineData("-3", "USD")]
    [InlineData("1e3", "USD")]
    [InlineData("1.2.3", "USD")]
    [InlineData(".", "USD")]
    [InlineData("99999999999999999999", "USD")]
    public void Amounts_that_are_not_whole_minor_units_are_refused(string text, string currency) =>
        Assert.False(MoneyText.TryParse(text, currency, out _));

    [Fact]
    public void The_PDF_holds_the_number_parties_lines_and_totals_and_is_the_same_bytes_each_time()
    {
        var invoice = Sample(InvoiceKind.Invoice, "AIH-000042", [new InvoiceLine("Pro plan, 2026-01-01 to 2026-02-01", 1, 7_900, 7_900), new InvoiceLine("50 credits", 2, 4_500, 9_000)], tax: 1_690);

        var pdf = InvoicePdf.Render(invoice, null, "GST");
        var text = Text(pdf);

        Assert.Equal(pdf, InvoicePdf.Render(invoice, null, "GST"));
        Assert.StartsWith("%PDF-", System.Text.Encoding.ASCII.GetString(pdf, 0, 5), StringComparison.Ordinal);
        foreach (var expected in new[] { "Invoice", "AIH-000042", "Issued 2026-03-04", "Example Seller Pty Ltd", "ABN 51 824 753 556", "Buyer & Sons",
            "1 Main Street", "Tax ID DE123456789", "Pro plan, 2026-01-01 to 2026-02-01", "50 credits", "79.00", "45.00", "90.00",
            "Subtotal", "AUD 169.00", "GST", "AUD 16.90", "Total", "AUD 185.90" })
            Assert.Contains(expected, text, StringComparison.Ordinal);
        using var document = PdfDocument.Open(pdf);
        Assert.StartsWith("D:20260304", document.Information.CreationDate, StringComparison.Ordinal);
    }

    [Fact]
    public void A_credit_note_says_so_and_names_the_invoice_it_corrects()
    {
        var note = Sample(InvoiceKind.CreditNote, "AIH-000043", [new InvoiceLine("Refund against invoice AIH-000042", 1, -1_000, -1_000)], tax: 0);

        var text = Text(InvoicePdf.Render(note, "AIH-000042", "Tax"));

        Assert.Contains("Credit note", text, StringComparison.Ordinal);
        Assert.Contains("Corrects invoice AIH-000042", text, StringComparison.Ordinal);
        Assert.Contains("AUD -10.00", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Many_lines_flow_onto_more_pages()
    {
        var lines = Enumerable.Range(1, 80).Select(i => new InvoiceLine($"Usage line {i} with a description long enough to wrap onto a second line of the table when it is printed", 1, 100, 100)).ToList();

        var pdf = InvoicePdf.Render(Sample(InvoiceKind.Invoice, "AIH-000044", lines, tax: 0), null, "Tax");

        using var document = PdfDocument.Open(pdf);
        Assert.True(document.NumberOfPages > 1);
        Assert.Contains("Usage line 80", Text(pdf), StringComparison.Ordinal);
        Assert.Contains("AUD 80.00", Text(pdf), StringComparison.Ordinal);
    }

    static Invoice Sample(InvoiceKind kind, string number, IReadOnlyList<InvoiceLine> lines, long tax)
    {
        var subtotal = lines.Sum(l => l.AmountMinor);
        return new Invoice
        {
            Id = Guid.Parse("0193f0a0-0000-7000-8000-000000000042"), OrganizationId = Guid.NewGuid(), Sequence = 42, Number = number, Kind = kind, PaymentId = Guid.NewGuid(),
            SellerJson = JsonSerializer.Serialize(new InvoiceParty("Example Seller Pty Ltd", ["2 George Street", "Sydney NSW 2000", "AU"], "ABN 51 824 753 556", "billing@example.com"), JsonSerializerOptions.Web),
            BuyerJson = JsonSerializer.Serialize(new InvoiceParty("Buyer & Sons", ["1 Main Street", "Berlin 10115", "DE"], "DE123456789", "accounts@buyer.example"), JsonSerializerOptions.Web),
            LinesJson = JsonSerializer.Serialize(lines, JsonSerializerOptions.Web),
            SubtotalMinor = subtotal, TaxMinor = tax, TotalMinor = subtotal + tax, Currency = "AUD", IssuedAt = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.Zero),
        };
    }

    static string Text(byte[] pdf)
    {
        using var document = PdfDocument.Open(pdf);
        return string.Join("\n", document.GetPages().Select(p => string.Join(" ", p.GetWords().Select(w => w.Text))));
    }
}
