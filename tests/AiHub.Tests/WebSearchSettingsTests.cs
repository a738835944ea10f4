using AiHub.Chat.Tools.WebSearch;
using AiHub.Infrastructure.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AiHub.Tests;

public sealed class WebSearchSettingsTests
{
    [Fact]
    public void Absent_means_no_search_service()
    {
        using var services = Build(new Dictionary<string, string?>());

        services.ValidateAllSettings();
        var settings = services.GetRequiredService<IOptions<WebSearchSettings>>().Value;

        Assert.Equal((WebSearchProvider.None, false, 5, TimeSpan.FromSeconds(10)), (settings.Provider, settings.Enabled, settings.MaxResults, settings.Timeout));
    }

    [Fact]
    public void Brave_defaults_to_its_public_api()
    {
        using var services = Build(new Dictionary<string, string?> { ["WebSearch:Provider"] = "brave", ["WebSearch:ApiKey"] = "BSA-x" });

        services.ValidateAllSettings();

        Assert.Equal(new Uri("https://api.search.brave.com"), services.GetRequiredService<IOptions<WebSearchSettings>>().Value.ServiceUrl);
    }

    [Theory]
    [InlineData("SearXNG", null, null, "WebSearch:BaseUrl: is required for SearXNG")]
    [InlineData("Brave", null, null, "WebSearch:ApiKey: is required for Brave")]
    [InlineData("SearXNG", "ftp://search.example.com", null, "WebSearch:BaseUrl: must be an absolute http or https URL")]
    [InlineData("Google", null, null, "WebSearch:Provider: 'Google' is not valid; expected one of None, SearXNG, Brave")]
    public void A_provider_without_what_it_needs_stops_the_start(string provider, string? baseUrl, string? apiKey, string problem)
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["WebSearch:Provider"] = provider,
            ["WebSearch:BaseUrl"] = baseUrl,
            ["WebSearch:ApiKey"] = apiKey,
        });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.StartsWith(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_result_count_is_bounded()
    {
        using var services = Build(new Dictionary<string, string?> { ["WebSearch:MaxResults"] = "21" });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.StartsWith("WebSearch:MaxResults: ", error.Message, StringComparison.Ordinal);
    }

    static ServiceProvider Build(Dictionary<string, string?> values)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        services.AddSettings<WebSearchSettings>(WebSearchSettings.Section);
        return services.BuildServiceProvider();
    }
}
