#pragma warning disable CA1822
namespace AiHub.Notifications;

internal sealed class Mailer
{
    public Task SendVerificationCodeAsync(string to, string? displayName, string code, CancellationToken ct) => Task.CompletedTask;
    public Task SendPasswordResetAsync(string to, string? displayName, Uri resetLink, CancellationToken ct) => Task.CompletedTask;
    public Task SendWelcomeAsync(string to, string? displayName, Uri appLink, CancellationToken ct) => Task.CompletedTask;
}
