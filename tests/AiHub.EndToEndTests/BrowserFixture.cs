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

    public BrowserFixture() : this(new Dictionary<string, string?>())
    {
    }

    /// <param name="settings">Configuration on top of the defaults, such as an AI provider.</param>
    internal BrowserFixture(IReadOnlyDictionary<string, string?> settings) => _app = new Factory(_dataDirectory, MailDirectory, settings);

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

    /// <param name="injectsScripts">For a test that adds its own script to pages (axe-core): the app's policy refuses inline scripts, as it should.</param>
    public async Task<IPage> NewPageAsync(bool injectsScripts = false)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new() { Width = 1280, Height = 800 },
            ColorScheme = ColorScheme.Light,
            BypassCSP = injectsScripts,
        });
        return await context.NewPageAsync();
    }

    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ArtifactsDirectory);
        var path = Path.Combine(ArtifactsDirectory, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    /// <summary>A verified account made the way the app makes every account, with a platform <paramref name="role"/> besides the default one if given.</summary>
    public async Task CreateAccountAsync(string email, string password, string? displayName = null, string? role = null)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var user = new AppUser { UserName = email, Email = email, EmailConfirmed = true, DisplayName = displayName, CreatedAt = DateTimeOffset.UtcNow };
        var created = await services.GetRequiredService<Accounts>().CreateAsync(user, password, via: "password", CancellationToken.None);
        Assert.True(created.Succeeded, string.Join(" ", created.Errors.Select(e => e.Description)));
        if (role is not null)
        {
            var granted = await services.GetRequiredService<UserManager<AppUser>>().AddToRoleAsync(user, role);
            Assert.True(granted.Succeeded, string.Join(" ", granted.Errors.Select(e => e.Description)));
            // As the app does on every role change, so that no cached permissions outlive it.
            await services.GetRequiredService<PermissionLookup>().InvalidateAsync(user.Id, CancellationToken.None);
        }
        await services.GetRequiredService<AppDbContext>().SaveChangesAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright?.Dispose();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    sealed class Factory(string dataDirectory, string mailDirectory, IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            // Development is what `dotnet run` uses, and it serves the UI's static assets from the build output.
            builder.UseEnvironment("Development");
            builder.UseSetting("Database:ConnectionString", $"Data Source={Path.Combine(dataDirectory, "aihub.db")}");
            builder.UseSetting("Email:PickupDirectory", mailDirectory);
            foreach (var (key, value) in settings)
                builder.UseSetting(key, value);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedBrowser : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
