using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Web;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Identity;

/// <summary>The first SuperAdmin comes from the <c>create-admin</c> command or from <c>Bootstrap:AdminEmail</c>.</summary>
public sealed class AdminBootstrapTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_admin_makes_a_SuperAdmin_who_sets_a_password_through_the_printed_link()
    {
        await using var database = TestDatabase.Sqlite();
        var email = NewEmail("root");
        var embedded = new Dictionary<string, string> { ["AIHUB_Database__ConnectionString"] = database.ConnectionString, ["AIHUB_Identity__PublicUrl"] = "https://aihub.test" };

        var created = await AiHubProcess.RunAsync(embedded, "create-admin", "--email", email);
        var again = await AiHubProcess.RunAsync(embedded, "create-admin", "--email", email);
        var missing = await AiHubProcess.RunAsync(embedded, "create-admin");

        Assert.Equal(0, created.ExitCode);
        Assert.Contains($"created {email} as SuperAdmin", created.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains($"{email} is SuperAdmin", again.Stdout, StringComparison.Ordinal);
        Assert.Equal(64, missing.ExitCode);
        Assert.Contains("create-admin needs --email", missing.Stderr, StringComparison.Ordinal);

        var link = new Uri(System.Text.RegularExpressions.Regex.Match(created.Stdout, @"https://aihub\.test/\S+").Value);
        await using var app = AiHubApp.On(database);
        using var client = app.CreateClient();
        using var reset = await client.PostAsJsonAsync("/api/auth/reset-password", new { token = HttpUtility.ParseQueryString(link.Query)["token"], newPassword = Password }, Ct);
        var tokens = await LoginAsync(client, email);
        using var me = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        var roles = (await me.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("roles").EnumerateArray().Select(r => r.GetString()).ToList();

        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        Assert.Contains("SuperAdmin", roles);
    }

    [Fact]
    public async Task The_bootstrap_address_becomes_SuperAdmin_once_verified()
    {
        var adminEmail = NewEmail("boot");
        await using var host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?> { ["Bootstrap:AdminEmail"] = adminEmail });
        using var client = host.Client();

        var admin = await host.NewUserAsync(client, adminEmail);
        var someone = await host.NewUserAsync(client);
        using var adminMe = await client.SendAsync(As(admin, HttpMethod.Get, "/api/me"), Ct);
        using var someoneMe = await client.SendAsync(As(someone, HttpMethod.Get, "/api/me"), Ct);

        Assert.Contains("SuperAdmin", (await adminMe.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.DoesNotContain("SuperAdmin", (await someoneMe.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
    }
}
