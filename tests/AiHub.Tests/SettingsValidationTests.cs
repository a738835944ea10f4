using AiHub.Data;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Jobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.Tests;

public sealed class SettingsValidationTests
{
    [Fact]
    public void Defaults_are_valid_and_embedded()
    {
        using var services = Build(new Dictionary<string, string?>());

        services.ValidateAllSettings();
    }

    [Fact]
    public void Every_problem_is_named_by_its_configuration_path_on_one_line()
    {
        using var services = Build(new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Postgres",
            ["Jobs:MaxAttempts"] = "0",
        });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.Contains("Database:ConnectionString: is required when Database:Provider is Postgres", error.Message, StringComparison.Ordinal);
        Assert.Contains("Jobs:MaxAttempts: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_value_of_the_wrong_type_names_what_was_expected()
    {
        using var services = Build(new Dictionary<string, string?> { ["Jobs:Lease"] = "ten minutes" });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.Equal("Jobs:Lease: 'ten minutes' is not valid; expected a duration such as 00:00:30", error.Message);
    }

    [Fact]
    public void A_duration_out_of_its_range_is_named_with_its_bounds()
    {
        using var services = Build(new Dictionary<string, string?> { ["Jobs:Lease"] = "00:00:01" });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.Equal("Jobs:Lease: The field Lease must be between 00:00:05 and 1.00:00:00.", error.Message);
    }

    static ServiceProvider Build(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSettings<DatabaseSettings>(DatabaseSettings.Section);
        services.AddSettings<JobsSettings>(JobsSettings.Section);
        return services.BuildServiceProvider();
    }
}
