using AiHub.Billing;
using Microsoft.Extensions.Configuration;

namespace AiHub.Tests.Billing;

public sealed class BillingSettingsTests
{
    static BillingSettings Bind(Dictionary<string, string?> values)
    {
        var settings = new BillingSettings();
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(BillingSettings.Section).Bind(settings);
        return settings;
    }

    [Fact]
    public void Configured_packages_replace_the_defaults_instead_of_adding_to_them()
    {
        var settings = Bind(new()
        {
            ["Billing:Packages:0:Code"] = "CREDITS_100",
            ["Billing:Packages:0:Name"] = "Hundred",
            ["Billing:Packages:0:Credits"] = "100",
            ["Billing:Packages:0:PriceMinor"] = "9000",
            ["Billing:Packages:0:Currency"] = "AUD",
        });

        var package = Assert.Single(settings.OnSale);
        Assert.Equal(("CREDITS_100", 100L, 9_000L, "AUD"), (package.Code, package.Credits, package.PriceMinor, package.Currency));
    }

    [Fact]
    public void Without_configuration_three_packages_are_on_sale()
    {
        Assert.Equal(["CREDITS_10", "CREDITS_50", "CREDITS_200"], Bind([]).OnSale.Select(p => p.Code));
    }
}
