using AiHub.Credits.Usage;

namespace AiHub.Tests;

/// <summary>A usage chart's value axis fits its data in steps people read at a glance.</summary>
public sealed class ChartAxisTests
{
    [Theory]
    [InlineData("0.045", "0.01", "0.05")]
    [InlineData("0.795", "0.2", "0.8")]
    [InlineData("1", "0.2", "1")]
    [InlineData("7.3", "2", "8")]
    [InlineData("12", "5", "15")]
    [InlineData("0.000003", "0.000001", "0.000003")]
    [InlineData("2480", "500", "2500")]
    [InlineData("99999", "20000", "100000")]
    public void The_axis_reaches_just_above_the_largest_value_in_steps_of_one_two_or_five(string max, string step, string top)
    {
        var axis = ChartAxis.For(decimal.Parse(max, System.Globalization.CultureInfo.InvariantCulture), 0.000001m)!;
        Assert.Equal(decimal.Parse(step, System.Globalization.CultureInfo.InvariantCulture), axis.Step);
        Assert.Equal(decimal.Parse(top, System.Globalization.CultureInfo.InvariantCulture), axis.Max);
        Assert.InRange(axis.Ticks.Count, 3, 11);
        Assert.Equal(0m, axis.Ticks[0]);
        Assert.Equal(axis.Max, axis.Ticks[^1]);
    }

    [Fact]
    public void Small_spends_get_an_axis_of_their_own_size_and_not_zero_to_one()
    {
        var axis = ChartAxis.For(0.045m, 0.000001m)!;
        Assert.True(axis.Max < 0.1m, $"axis up to {axis.Max}");
        Assert.Equal(["0.00", "0.01", "0.02", "0.03", "0.04", "0.05"], axis.Ticks.Select(axis.Label));
    }

    [Fact]
    public void Token_counts_step_by_whole_tokens_with_thousands_separated()
    {
        Assert.Equal(1m, ChartAxis.For(3, 1)!.Step);
        var axis = ChartAxis.For(12_345, 1)!;
        Assert.Equal(["0", "5,000", "10,000", "15,000"], axis.Ticks.Select(axis.Label));
    }

    [Fact]
    public void Nothing_to_draw_has_no_axis()
    {
        Assert.Null(ChartAxis.For(0, 1));
        Assert.Null(ChartAxis.For(-1, 1));
    }
}
