using AiHub.Data;
using AiHub.Identity;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace AiHub.EndToEndTests;

/// <summary>AiHub on a real Kestrel port, embedded on its own SQLite file, and Debian's Chromium driven by Playwright.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    readonly string _dataDirectory = Directory.CreateTempSubdirectory("aihub-e2e-").FullName;
    readonly Factory _app;
    IPlaywright? _playwright;

    public BrowserFixture() => _app = new Factory(_dataDirectory, MailDirectory);

    public IBrowser Browser { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The app's services, for setting up what a test needs without a UI for it (usage that AI calls would record).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Where AiHub writes the mail it sends, one .eml file each, when no SMTP server is configured.</summary>
    public string MailDirectory => Path.Combine(_dataDirectory, "mail");

    /// <summary>Where screenshots go; scripts/test.sh keeps them as artifacts of the run.</summary>
    public static string ArtifactsDirectory =>
        Environment.GetEnvironmentVariable("AIHUB_TEST_ARTIFACTS") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "artifacts");

    public async ValueTask InitializeAsync()
    {
        _app.UseKestrel(0);
        _app.StartServer();
        using (var client = _app.CreateClient())
            BaseAddress = client.BaseAddress!;

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Environment.GetEnvironmentVariable("AIHUB_TEST_CHROMIUM") ?? "/usr/bin/chromium",
            Headless = true,
            // Without these Chromium reaches for Google's services, which a closed network refuses many times over.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new() { Width = 1280, Height = 800 }, ColorScheme = ColorScheme.Light });
        return await context.NewPageAsync();
    }

    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ArtifactsDirectory);
        var path = Path.Combine(ArtifactsDirectory, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    /// <summary>A verified account, for tests about what comes after sign-up.</summary>
    public async Task CreateAccountAsync(string email, string password, string? displayName = null, string role = Roles.Default)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var user = new AppUser { UserName = email, Email = email, EmailConfirmed = true, DisplayName = displayName, CreatedAt = DateTimeOffset.UtcNow };
        var created = await users.CreateAsync(user, password);
        Assert.True(created.Succeeded, string.Join(" ", created.Errors.Select(e => e.Description)));
        await users.AddToRoleAsync(user, role);
        // What sign-up does next: the personal organisation, among others.
        foreach (var listener in scope.ServiceProvider.GetServices<IAccountEvents>())
            await listener.UserCreatedAsync(user, CancellationToken.None);
        await scope.ServiceProvider.GetRequiredService<AppDbContext>().SaveChangesAsync();
    }

    /// <summary>Gives an account a platform role, as an operator's <c>create-admin</c> would.</summary>
    public async Task GrantRoleAsync(string email, string role)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var user = await users.FindByEmailAsync(email) ?? throw new InvalidOperationException($"No account {email}.");
        Assert.True((await users.AddToRoleAsync(user, role)).Succeeded);
        await scope.ServiceProvider.GetRequiredService<PermissionLookup>().InvalidateAsync(user.Id, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright?.Dispose();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    sealed class Factory(string dataDirectory, string mailDirectory) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            // Development is what `dotnet run` uses, and it serves the UI's static assets from the build output.
            builder.UseEnvironment("Development");
            builder.UseSetting("Database:ConnectionString", $"Data Source={Path.Combine(dataDirectory, "aihub.db")}");
            builder.UseSetting("Email:PickupDirectory", mailDirectory);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedBrowser : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
