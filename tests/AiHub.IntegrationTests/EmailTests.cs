using System.Globalization;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using AiHub.IntegrationTests.Support;
using AiHub.Notifications;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests;

/// <summary>Mail is rendered, queued as durable work and delivered to a real SMTP server, or saved as a file when there is none.</summary>
public abstract class EmailTests(string provider)
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_verification_code_reaches_the_SMTP_server_in_both_parts()
    {
        await using var smtp = await SmtpServer.StartAsync();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = AiHubApp.On(database, SmtpSettings(smtp.Port));

        var id = await QueueAsync(app, mailer => mailer.SendVerificationCodeAsync("alice@example.com", "Alice", "482913", Ct));
        var message = await smtp.WaitForMessageAsync("alice@example.com", Patience);

        Assert.Equal("Your AiHub verification code", message.Subject);
        Assert.Equal("no-reply@aihub.test", Assert.Single(message.From.Mailboxes).Address);
        Assert.Equal("alice@example.com", Assert.Single(message.To.Mailboxes).Address);
        Assert.Equal("multipart/alternative", message.Body?.ContentType.MimeType);
        Assert.Contains("482913", message.TextBody, StringComparison.Ordinal);
        Assert.Contains("15 minutes", message.TextBody, StringComparison.Ordinal);
        Assert.Contains("482913", message.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("Hello Alice,", message.HtmlBody, StringComparison.Ordinal);
        Assert.Equal(WorkState.Succeeded, (await WaitForEndAsync(app, id)).State);
    }

    [Fact]
    public async Task Without_an_SMTP_server_mail_is_saved_as_an_eml_file_in_the_pickup_directory()
    {
        var pickup = Directory.CreateTempSubdirectory("aihub-pickup-").FullName;
        try
        {
            await using var database = await TestDatabase.CreateAsync(provider);
            await using var app = AiHubApp.On(database, new Dictionary<string, string?> { ["Email:PickupDirectory"] = pickup });
            var link = new Uri("https://aihub.test/reset?token=a%2Bb&user=7");

            var id = await QueueAsync(app, mailer => mailer.SendPasswordResetAsync("bob@example.com", null, link, Ct));
            var message = await PickupDirectory.WaitForMessageAsync(pickup, "bob@example.com", Patience);

            Assert.Equal("Reset your AiHub password", message.Subject);
            Assert.Contains(link.AbsoluteUri, message.TextBody, StringComparison.Ordinal);
            Assert.Contains("1 hour", message.TextBody, StringComparison.Ordinal);
            Assert.Contains("href=\"https://aihub.test/reset?token=a%2Bb&amp;user=7\"", message.HtmlBody, StringComparison.Ordinal);
            Assert.EndsWith(".eml", Assert.Single(Directory.GetFiles(pickup)), StringComparison.Ordinal);
            Assert.Equal(WorkState.Succeeded, (await WaitForEndAsync(app, id)).State);
        }
        finally
        {
            Directory.Delete(pickup, recursive: true);
        }
    }

    [Fact]
    public async Task Mail_queued_while_the_SMTP_server_is_down_is_retried_and_delivered_when_it_is_back()
    {
        var port = SmtpServer.FreePort();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = AiHubApp.On(database, new Dictionary<string, string?>(SmtpSettings(port))
        {
            ["Jobs:MaxAttempts"] = "100",
            ["Jobs:RetryMaxDelay"] = "00:00:00.500",
        });

        var id = await QueueAsync(app, mailer => mailer.SendVerificationCodeAsync("carol@example.com", null, "105733", Ct));
        var waiting = await WaitForAsync(app, id, w => w.Attempts >= 2 && w.State == WorkState.Pending);
        await using var smtp = await SmtpServer.StartAsync(port);
        var message = await smtp.WaitForMessageAsync("carol@example.com", Patience);
        var done = await WaitForEndAsync(app, id);

        Assert.Null(waiting.CompletedAt);
        Assert.Contains("105733", message.TextBody, StringComparison.Ordinal);
        Assert.Equal(WorkState.Succeeded, done.State);
        Assert.True(done.Attempts > waiting.Attempts);
        Assert.Single(await smtp.MessagesToAsync("carol@example.com"));
    }

    [Fact]
    public async Task Mail_the_server_refuses_for_good_is_not_retried()
    {
        await using var smtp = await SmtpServer.StartAsync(maxMessageSize: 200);
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = AiHubApp.On(database, SmtpSettings(smtp.Port));

        var id = await QueueAsync(app, mailer => mailer.SendVerificationCodeAsync("dave@example.com", null, "777001", Ct));
        var item = await WaitForEndAsync(app, id);

        Assert.Equal(WorkState.Failed, item.State);
        Assert.Equal(1, item.Attempts);
        Assert.Empty(await smtp.MessagesToAsync("dave@example.com"));
    }

    [Fact]
    public async Task The_queued_work_item_holds_neither_the_code_nor_the_link_in_clear_text()
    {
        var pickup = Directory.CreateTempSubdirectory("aihub-pickup-").FullName;
        try
        {
            await using var database = await TestDatabase.CreateAsync(provider);
            await using var app = AiHubApp.On(database, new Dictionary<string, string?> { ["Email:PickupDirectory"] = pickup });

            var code = await QueueAsync(app, mailer => mailer.SendVerificationCodeAsync("erin@example.com", "Erin", "930611", Ct));
            var link = await QueueAsync(app, mailer =>
                mailer.SendPasswordResetAsync("erin@example.com", "Erin", new Uri("https://aihub.test/reset?token=SecretResetToken42"), Ct));

            foreach (var item in new[] { await WaitForEndAsync(app, code), await WaitForEndAsync(app, link) })
            {
                Assert.Equal(WorkState.Succeeded, item.State);
                Assert.Equal("email.send", item.Kind);
                Assert.DoesNotContain("930611", item.Payload, StringComparison.Ordinal);
                Assert.DoesNotContain("SecretResetToken42", item.Payload, StringComparison.Ordinal);
                Assert.DoesNotContain("erin@example.com", item.Payload, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(pickup, recursive: true);
        }
    }

    static Dictionary<string, string?> SmtpSettings(int port) => new()
    {
        ["Email:From"] = "AiHub Test <no-reply@aihub.test>",
        ["Email:Smtp:Host"] = "127.0.0.1",
        ["Email:Smtp:Port"] = port.ToString(CultureInfo.InvariantCulture),
        ["Email:Smtp:Security"] = "None",
        ["Email:Smtp:Timeout"] = "00:00:05",
    };

    /// <summary>Sends through the app's own Mailer, as a feature would, and returns the work item it queued.</summary>
    static async Task<Guid> QueueAsync(AiHubApp app, Func<Mailer, Task> send)
    {
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var before = await db.WorkItems.Select(w => w.Id).ToListAsync(Ct);
        await send(scope.ServiceProvider.GetRequiredService<Mailer>());
        return await db.WorkItems.Where(w => !before.Contains(w.Id)).Select(w => w.Id).SingleAsync(Ct);
    }

    // Waiting for the end before the app stops also keeps shutdown from waiting on a job still in flight.
    static Task<WorkItem> WaitForEndAsync(AiHubApp app, Guid id) =>
        WaitForAsync(app, id, w => w.State is WorkState.Succeeded or WorkState.Failed);

    static async Task<WorkItem> WaitForAsync(AiHubApp app, Guid id, Func<WorkItem, bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using (var scope = app.Services.CreateScope())
            {
                var item = await scope.ServiceProvider.GetRequiredService<AppDbContext>().WorkItems.AsNoTracking().SingleAsync(w => w.Id == id, Ct);
                if (condition(item))
                    return item;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"Work item {id} is {item.State} after {item.Attempts} attempt(s), not as the test expects.");
            }
            await Task.Delay(50, Ct);
        }
    }
}

public sealed class EmailOnSqlite() : EmailTests("Sqlite");

public sealed class EmailOnPostgres() : EmailTests("Postgres");
