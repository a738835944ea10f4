using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Jobs;
using Microsoft.Extensions.Options;

namespace AiHub.Notifications;

public static class NotificationsExtensions
{
    /// <summary>Email rendered from Razor templates, queued as durable work, delivered over SMTP or into a pickup directory.</summary>
    public static IHostApplicationBuilder AddNotifications(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<EmailSettings>(EmailSettings.Section);
        services.AddSingleton<SmtpEmailSender>();
        services.AddSingleton<PickupDirectoryEmailSender>();
        services.AddSingleton<IEmailSender>(sp => sp.GetRequiredService<IOptions<EmailSettings>>().Value.Smtp.Enabled
            ? sp.GetRequiredService<SmtpEmailSender>()
            : sp.GetRequiredService<PickupDirectoryEmailSender>());
        services.AddScoped<EmailRenderer>();
        services.AddScoped<Mailer>();
        services.AddScoped<IWorkHandler, EmailSendHandler>();
        return builder;
    }
}
