using System.Globalization;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Money;

namespace AiHub.Tests;

public sealed class MicrosTests
{
    [Theory]
    [InlineData("1", 1_000_000)]
    [InlineData("0.000001", 1)]
    [InlineData("-2.5", -2_500_000)]
    [InlineData("12.340000", 12_340_000)]
    [InlineData("1000000000", 1_000_000_000_000_000)]
    public void Credits_are_read_to_exact_micro_credits(string credits, long micros)
    {
        Assert.Equal(MicrosReading.Exact, Micros.Read(decimal.Parse(credits, CultureInfo.InvariantCulture), MicrosSign.NotZero, Micros.MaxEntry, out var read));
        Assert.Equal(micros, read);
    }

    [Theory]
    [InlineData("0.0000001")]
    [InlineData("1.0000005")]
    [InlineData("-0.00000001")]
    public void An_amount_finer_than_a_micro_credit_is_refused_not_rounded(string credits)
    {
        Assert.Equal(MicrosReading.TooFine, Micros.Read(decimal.Parse(credits, CultureInfo.InvariantCulture), MicrosSign.NotZero, Micros.MaxEntry, out var read));
        Assert.Equal(0, read);
    }

    [Theory]
    [InlineData("1000000000.000001")]
    [InlineData("-1000000001")]
    [InlineData("79228162514264337593543950335")]
    public void An_amount_beyond_the_maximum_is_too_large_either_way(string credits)
    {
        Assert.Equal(MicrosReading.TooLarge, Micros.Read(decimal.Parse(credits, CultureInfo.InvariantCulture), MicrosSign.NotZero, Micros.MaxEntry, out _));
    }

    [Theory]
    [InlineData("Positive", "1", "Exact")]
    [InlineData("Positive", "0", "WrongSign")]
    [InlineData("Positive", "-1", "WrongSign")]
    [InlineData("NotNegative", "0", "Exact")]
    [InlineData("NotNegative", "-0.000001", "WrongSign")]
    [InlineData("NotZero", "-1", "Exact")]
    [InlineData("NotZero", "0", "WrongSign")]
    public void The_sign_rule_decides_zero_and_negative_amounts(string sign, string credits, string expected)
    {
        var reading = Micros.Read(decimal.Parse(credits, CultureInfo.InvariantCulture), Enum.Parse<MicrosSign>(sign), Micros.MaxEntry, out _);

        Assert.Equal(Enum.Parse<MicrosReading>(expected), reading);
    }

    [Fact]
    public void A_missing_amount_is_missing()
    {
        Assert.Equal(MicrosReading.Missing, Micros.Read(null, MicrosSign.NotNegative, Micros.MaxEntry, out _));
    }

    [Fact]
    public void A_sign_is_checked_before_size_and_precision()
    {
        Assert.Equal(MicrosReading.WrongSign, Micros.Read(-5_000_000_000.0000001m, MicrosSign.Positive, Micros.MaxEntry, out _));
    }

    [Fact]
    public void Require_names_the_field_and_says_which_rule_failed()
    {
        Assert.Equal(-1_500_000, Micros.Require(-1.5m, "amount", MicrosSign.NotZero, "non-zero"));

        var zero = Assert.Throws<ProblemException>(() => Micros.Require(0m, "amount", MicrosSign.NotZero, "non-zero"));
        Assert.Equal(ProblemTypes.Validation, zero.Type);
        Assert.Equal(["non-zero"], zero.Errors!["amount"]);

        var fine = Assert.Throws<ProblemException>(() => Micros.Require(0.0000001m, "amount", MicrosSign.NotZero, "non-zero"));
        Assert.Equal([Micros.TooFineRule], fine.Errors!["amount"]);

        var large = Assert.Throws<ProblemException>(() => Micros.Require(2_000_000_000m, "amount", MicrosSign.NotZero, "non-zero"));
        Assert.Equal(ProblemTypes.CreditLimit, large.Type);
        Assert.Equal([Micros.EntryRule], large.Errors!["amount"]);
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(1, "0.000001")]
    [InlineData(-1, "-0.000001")]
    [InlineData(1_500_000, "1.5")]
    [InlineData(12_000_000, "12")]
    [InlineData(1_000_000_000_000_000_000, "1000000000000")]
    public void Formatting_is_invariant_and_drops_trailing_zeros(long micros, string expected)
    {
        Assert.Equal(expected, Micros.Format(micros));
    }

    [Fact]
    public void Credits_read_back_what_was_formatted()
    {
        foreach (var micros in new long[] { 1, 999_999, 1_000_001, -42, Micros.MaxEntry })
        {
            Assert.Equal(MicrosReading.Exact, Micros.Read(decimal.Parse(Micros.Format(micros), CultureInfo.InvariantCulture), MicrosSign.NotZero, Micros.MaxEntry, out var back));
            Assert.Equal(micros, back);
        }
    }

    [Fact]
    public void Whole_credits_too_large_to_count_are_the_ceiling()
    {
        Assert.Equal(5_000_000, Micros.FromWholeCredits(5, long.MaxValue / 2));
        Assert.Equal(long.MaxValue / 2, Micros.FromWholeCredits(long.MaxValue / 1000, long.MaxValue / 2));
    }
}
