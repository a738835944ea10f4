using System.Text;
using AiHub.Credits.Bulk;

namespace AiHub.IntegrationTests.Credits;

/// <summary>The bulk file's reader against RFC 4180: quotes, line breaks inside fields, and the line each record starts on.</summary>
public sealed class CsvTests
{
    [Fact]
    public void Quoted_fields_keep_commas_doubled_quotes_and_line_breaks_and_records_know_their_first_line()
    {
        var records = Csv.Parse("\uFEFFemail,credits,reason\r\na@example.com,\"1,5\",\"said \"\"hi\"\"\"\r\n\r\nb@example.com,2,\"two\r\nlines\"\nc@example.com,,\n");

        Assert.Equal([1, 2, 4, 6], records.Select(r => r.Line));
        Assert.Equal(["email", "credits", "reason"], records[0].Fields);
        Assert.Equal(["a@example.com", "1,5", "said \"hi\""], records[1].Fields);
        Assert.Equal(["b@example.com", "2", "two\r\nlines"], records[2].Fields);
        Assert.Equal(["c@example.com", "", ""], records[3].Fields);
    }

    [Fact]
    public void A_file_without_a_final_line_break_or_with_only_blank_lines_reads_as_expected()
    {
        Assert.Equal(["x", "\"\""], Csv.Parse("a,b\nx,\"\"\"\"\"\"").Last().Fields);
        Assert.Empty(Csv.Parse("\n\r\n\n"));
        Assert.Equal([""], Assert.Single(Csv.Parse("\"\"")).Fields);
    }

    [Theory]
    [InlineData("a,b\nx,y\"z\n", 2)]
    [InlineData("a,b\nx,\"y\"z\n", 2)]
    [InlineData("a,b\nx,y\n\"never closed,\nmore\n", 3)]
    public void A_broken_quote_names_its_line(string text, int line)
    {
        var error = Assert.Throws<CsvFormatException>(() => Csv.Parse(text));

        Assert.Equal(line, error.Line);
    }

    [Theory]
    [InlineData("=1+1")]
    [InlineData("+SUM(A1)")]
    [InlineData("-2+3")]
    [InlineData("-5")]
    [InlineData("@cmd")]
    [InlineData("\tx")]
    [InlineData("\rx")]
    [InlineData("=A1,B1")]
    public void Text_that_starts_like_a_formula_is_written_with_a_leading_apostrophe(string value)
    {
        var text = Encoding.UTF8.GetString(Csv.Write(csv =>
        {
            csv.WriteField(value);
            csv.EndRecord();
        }));

        Assert.Equal(["'" + value], Assert.Single(Csv.Parse(text)).Fields);
    }

    [Fact]
    public void Numbers_stay_numbers_and_plain_text_stays_as_it_is()
    {
        var text = Encoding.UTF8.GetString(Csv.Write(csv =>
        {
            csv.WriteField(-5L);
            csv.WriteField(-0.125m);
            csv.WriteField("gpt-4o");
            csv.WriteField("say \"hi\", twice");
            csv.EndRecord();
        }));

        Assert.Equal("-5,-0.125,gpt-4o,\"say \"\"hi\"\", twice\"\r\n", text);
    }
}
