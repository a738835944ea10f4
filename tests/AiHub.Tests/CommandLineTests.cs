using AiHub.Infrastructure.Hosting;

namespace AiHub.Tests;

public sealed class CommandLineTests
{
    [Theory]
    [InlineData("serve")]
    [InlineData("serve", "--urls", "http://0.0.0.0:8080")]
    [InlineData("serve", "Database:Provider=Postgres")]
    [InlineData("serve", "--Database:Provider=Postgres")]
    [InlineData("migrate", "migrate")]
    [InlineData("migrate", "--urls", "http://0.0.0.0:8080", "migrate")]
    [InlineData("migrate", "--environment=Production", "MIGRATE")]
    [InlineData("--help", "--help")]
    public void The_command_is_the_first_word_that_is_not_an_option_or_a_setting(string expected, params string[] args) =>
        Assert.Equal(expected, AiHubHost.CommandOf(args));
}
