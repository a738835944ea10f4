using AiHub.Billing.Eway;

namespace AiHub.Tests.Billing;

/// <summary>eWAY computes no tax and has no proration: AiHub's own integer arithmetic for both.</summary>
public sealed class EwayMoneyTests
{
    [Theory]
    [InlineData(7_900, 1_000, 790)]
    [InlineData(5, 1_000, 1)]       // 0.5 rounds up
    [InlineData(4, 1_000, 0)]       // 0.4 rounds down
    [InlineData(3_166, 1_000, 317)] // 316.6
    [InlineData(3_165, 1_000, 317)] // 316.5
    [InlineData(3_164, 1_000, 316)]
    [InlineData(7_900, 0, 0)]
    [InlineData(long.MaxValue / 2, 10_000, long.MaxValue / 2)]
    public void Tax_is_added_in_integers_rounded_half_up(long net, int basisPoints, long tax) =>
        Assert.Equal(tax, EwayGateway.TaxOf(net, basisPoints));

    [Fact]
    public void An_upgrade_pays_the_difference_for_the_whole_days_left()
    {
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var end = start.AddDays(30);
        Assert.Equal(3_166, EwayGateway.ProrationOf(5_000, start, end, start.AddDays(10).AddHours(1)));
        Assert.Equal(5_000, EwayGateway.ProrationOf(5_000, start, end, start));
        Assert.Equal(0, EwayGateway.ProrationOf(5_000, start, end, end.AddDays(1)));
        Assert.Equal(0, EwayGateway.ProrationOf(-5_000, start, end, start));
    }

    [Fact]
    public void Each_retry_of_a_renewal_waits_twice_as_long_as_the_one_before()
    {
        var day = TimeSpan.FromDays(1);
        Assert.Equal([day, 2 * day, 4 * day, 8 * day], Enumerable.Range(1, 4).Select(n => EwayRenewals.RetryDelay(day, n)));
    }
}
