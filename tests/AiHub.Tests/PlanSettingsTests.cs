using AiHub.Credits.Plans;
using AiHub.Infrastructure.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AiHub.Tests;

public sealed class PlanSettingsTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("  ", null)]
    [InlineData("sales@example.com", "mailto:sales@example.com")]
    [InlineData(" https://example.com/pricing ", "https://example.com/pricing")]
    public void The_upgrade_contact_is_an_address_a_page_or_nothing(string? contact, string? href)
    {
        using var services = Build(new Dictionary<string, string?> { ["Plans:UpgradeContact"] = contact });

        services.ValidateAllSettings();

        Assert.Equal(href, services.GetRequiredService<IOptions<PlanSettings>>().Value.ContactHref);
    }

    [Theory]
    [InlineData("sales")]
    [InlineData("javascript:alert(1)")]
    [InlineData("ftp://example.com/pricing")]
    [InlineData("Sales <sales@example.com>")]
    [InlineData("a@example.com, b@example.com")]
    public void Anything_else_stops_the_start_naming_the_setting(string contact)
    {
        using var services = Build(new Dictionary<string, string?> { ["Plans:UpgradeContact"] = contact });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.StartsWith("Plans:UpgradeContact: must be an email address", error.Message, StringComparison.Ordinal);
    }

    static ServiceProvider Build(Dictionary<string, string?> values)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        services.AddSettings<PlanSettings>(PlanSettings.Section);
        return services.BuildServiceProvider();
    }
}
