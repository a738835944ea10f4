using AiHub.Infrastructure.Configuration;
using AiHub.Notifications;
using AiHub.Notifications.Templates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiHub.Tests;

public sealed class EmailTemplateTests
{
    [Fact]
    public void The_verification_code_text_holds_the_code_and_its_lifetime()
    {
        var text = EmailText.VerificationCode("Alice", "482913");

        Assert.StartsWith("Hello Alice,\n\n", text, StringComparison.Ordinal);
        Assert.Contains("\n482913\n", text, StringComparison.Ordinal);
        Assert.Contains("expires in 15 minutes", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_password_reset_text_holds_the_link_and_says_it_works_once_for_an_hour()
    {
        var text = EmailText.PasswordReset(null, new Uri("https://aihub.test/reset?token=a%2Bb"));

        Assert.StartsWith("Hello,\n\n", text, StringComparison.Ordinal);
        Assert.Contains("https://aihub.test/reset?token=a%2Bb", text, StringComparison.Ordinal);
        Assert.Contains("works once and expires in 1 hour.", text, StringComparison.Ordinal);
        Assert.Contains("If you did not ask for this, you can ignore this email.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_welcome_text_links_to_the_app()
    {
        var text = EmailText.Welcome("  Bob ", new Uri("https://aihub.test/"));

        Assert.StartsWith("Hello Bob,", text, StringComparison.Ordinal);
        Assert.Contains("Open AiHub: https://aihub.test/", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(15 * 60, "15 minutes")]
    [InlineData(60, "1 minute")]
    [InlineData(3600, "1 hour")]
    [InlineData(2 * 86400, "2 days")]
    [InlineData(90 * 60, "90 minutes")]
    public void Durations_read_as_words(int seconds, string expected) =>
        Assert.Equal(expected, EmailText.Describe(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public async Task The_HTML_escapes_what_the_user_typed_and_uses_only_inline_styles()
    {
        var html = await RenderAsync<VerificationCodeEmail>(new()
        {
            [nameof(VerificationCodeEmail.DisplayName)] = "<script>alert(1)</script>",
            [nameof(VerificationCodeEmail.Code)] = "482913",
        });

        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Contains("482913", html, StringComparison.Ordinal);
        Assert.Contains("15 minutes", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<style", html, StringComparison.Ordinal);
        Assert.DoesNotContain("class=", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_password_reset_HTML_has_a_button_to_the_link()
    {
        var html = await RenderAsync<PasswordResetEmail>(new()
        {
            [nameof(PasswordResetEmail.ResetLink)] = new Uri("https://aihub.test/reset?token=a%2Bb&user=7"),
        });

        Assert.Contains("<a href=\"https://aihub.test/reset?token=a%2Bb&amp;user=7\"", html, StringComparison.Ordinal);
        Assert.Contains("Reset your password</a>", html, StringComparison.Ordinal);
        Assert.Contains("1 hour", html, StringComparison.Ordinal);
        Assert.Contains("you can ignore this email", html, StringComparison.Ordinal);
    }

    static async Task<string> RenderAsync<T>(Dictionary<string, object?> parameters) where T : Microsoft.AspNetCore.Components.IComponent
    {
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        return await new EmailRenderer(services, services.GetRequiredService<ILoggerFactory>()).RenderAsync<T>(parameters);
    }
}

public sealed class EmailSettingsTests
{
    [Fact]
    public void Defaults_are_valid_and_write_to_the_pickup_directory()
    {
        using var services = Build([]);

        services.ValidateAllSettings();
        var settings = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EmailSettings>>().Value;
        Assert.False(settings.Smtp.Enabled);
        Assert.Equal("no-reply@localhost", settings.FromMailbox.Address);
        Assert.Equal(Path.GetFullPath("/srv/aihub/data/mail"), settings.PickupDirectoryPath("/srv/aihub"));
    }

    [Fact]
    public void A_sender_that_is_not_a_mailbox_and_port_zero_are_both_named()
    {
        using var services = Build(new()
        {
            ["Email:From"] = "nobody",
            ["Email:Smtp:Host"] = "smtp.example.com",
            ["Email:Smtp:Port"] = "0",
        });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.Contains("Email:From: must be one mailbox", error.Message, StringComparison.Ordinal);
        Assert.Contains("Email:Smtp:Port: The field Port must be between 1 and 65535.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_nested_value_of_the_wrong_type_names_what_was_expected()
    {
        using var services = Build(new() { ["Email:Smtp:Security"] = "Tls" });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.Equal("Email:Smtp:Security: 'Tls' is not valid; expected one of Auto, None, StartTls, SslOnConnect", error.Message);
    }

    [Theory]
    [InlineData("00:00:00.100")]
    [InlineData("01:00:00")]
    public void An_SMTP_timeout_out_of_range_is_refused(string timeout)
    {
        using var services = Build(new() { ["Email:Smtp:Timeout"] = timeout });

        var error = Assert.Throws<InvalidConfigurationException>(services.ValidateAllSettings);

        Assert.StartsWith("Email:Smtp:Timeout: ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AiHub <no-reply@example.com>")]
    [InlineData("no-reply@example.com")]
    [InlineData("\"AiHub, Inc.\" <hello@example.com>")]
    public void Common_sender_forms_are_accepted(string from)
    {
        using var services = Build(new() { ["Email:From"] = from });

        services.ValidateAllSettings();
    }

    [Theory]
    [InlineData("alice@example.com", "a***@example.com")]
    [InlineData("x@y.org", "x***@y.org")]
    [InlineData("not-an-address", "***")]
    public void Addresses_in_logs_keep_only_the_first_letter_and_the_domain(string address, string expected) =>
        Assert.Equal(expected, EmailAddress.Mask(address));

    static ServiceProvider Build(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSettings<EmailSettings>(EmailSettings.Section);
        return services.BuildServiceProvider();
    }
}
