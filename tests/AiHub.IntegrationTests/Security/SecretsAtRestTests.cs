using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiHub.IntegrationTests.Security;

/// <summary>What a copy of the database, or a look at the data folder, gives away: no key material, no world-readable files.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SecretsAtRestTests
{
    const string ProviderKeys = "AiHub.Chat.ProviderKeys";
    const string Other = "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=";
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task The_data_protection_keys_in_the_database_hold_no_plain_key_material_and_no_warning_says_so(string provider)
    {
        var logs = new LogCapture();
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = AiHubApp.On(database, services: s => s.AddSingleton<ILoggerProvider>(logs));
        using var client = app.CreateClient();
        var secret = app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Protect("sk-provider-key");

        var keys = await KeysAsync(app);

        Assert.NotEmpty(keys);
        Assert.All(keys, xml =>
        {
            Assert.DoesNotContain("masterKey", xml, StringComparison.Ordinal);
            Assert.Contains("encryptedSecret", xml, StringComparison.Ordinal);
            Assert.Contains(nameof(KeyEncryptionKeyXmlDecryptor), xml, StringComparison.Ordinal);
        });
        Assert.Equal("sk-provider-key", app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Unprotect(secret));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("unencrypted", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task A_provider_key_saved_under_one_key_encryption_key_cannot_be_read_with_another()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = AiHubApp.On(database);
        using var client = app.CreateClient();
        var secret = app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Protect("sk-provider-key");
        var keys = await KeysAsync(app);

        using var folder = new TempFolder();
        using var same = Standalone(keys, TestEnvironment.KeyEncryptionKey, Path.Combine(folder.Path, "same"));
        using var other = Standalone(keys, Other, Path.Combine(folder.Path, "other"));

        Assert.Equal("sk-provider-key", same.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Unprotect(secret));
        Assert.ThrowsAny<CryptographicException>(() => other.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Unprotect(secret));
    }

    [Fact]
    public async Task A_key_stored_unencrypted_by_an_earlier_version_is_still_read()
    {
        using var folder = new TempFolder();
        using var legacy = new ServiceCollection().AddLogging().AddDataProtection().SetApplicationName("AiHub").PersistKeysToFileSystem(new DirectoryInfo(folder.Path)).Services.BuildServiceProvider();
        var secret = legacy.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Protect("sk-old-key");
        await using var database = TestDatabase.Sqlite();
        await using (var first = AiHubApp.On(database))
        {
            using var started = first.CreateClient();
            await using var scope = first.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            foreach (var file in Directory.GetFiles(folder.Path, "*.xml"))
                db.DataProtectionKeys.Add(new DataProtectionKey { FriendlyName = Path.GetFileNameWithoutExtension(file), Xml = await File.ReadAllTextAsync(file, Ct) });
            await db.SaveChangesAsync(Ct);
        }

        await using var second = AiHubApp.On(database);
        using var client = second.CreateClient();

        Assert.Contains(await KeysAsync(second), xml => xml.Contains("masterKey", StringComparison.Ordinal));
        Assert.Equal("sk-old-key", second.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector(ProviderKeys).Unprotect(secret));
    }

    [Theory]
    [InlineData("", "DataProtection:KeyEncryptionKey: is required when Database:Provider is Postgres")]
    [InlineData("not-a-key", "DataProtection:KeyEncryptionKey: is not valid; expected 32 random bytes in base64")]
    public async Task A_cluster_node_without_a_valid_key_encryption_key_refuses_to_start_naming_the_setting(string value, string expected)
    {
        var result = await AiHubProcess.RunAsync(new Dictionary<string, string>
        {
            ["AIHUB_Database__Provider"] = "Postgres",
            ["AIHUB_Database__ConnectionString"] = "Host=127.0.0.1;Port=1;Database=aihub;Username=aihub",
            ["AIHUB_DataProtection__KeyEncryptionKey"] = value,
        });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("aihub: invalid configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        if (value.Length > 0)
            Assert.DoesNotContain(value, result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_embedded_node_makes_its_key_file_beside_the_data_folder_once_and_every_secret_file_is_the_owners_alone()
    {
        using var root = new TempFolder();
        var data = Path.Combine(root.Path, "data");
        var mail = Path.Combine(root.Path, "mail");
        var logs = new LogCapture();
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Sqlite",
            ["Database:ConnectionString"] = $"Data Source={Path.Combine(data, "aihub.db")}",
            ["Database:MigrateOnStart"] = "true",
            ["Email:PickupDirectory"] = mail,
            ["DataProtection:KeyEncryptionKey"] = null,
        };
        var email = IdentityHost.NewEmail();

        await using (var app = new AiHubApp(settings, s => s.AddSingleton<ILoggerProvider>(logs)))
        {
            using var client = app.CreateClient();
            using var registered = await client.PostAsJsonAsync("/api/auth/register", new { email, password = IdentityHost.Password, displayName = "Owner" }, Ct);
            Assert.Equal(HttpStatusCode.Accepted, registered.StatusCode);
            await PickupDirectory.WaitForMessageAsync(mail, email, TimeSpan.FromSeconds(30));

            Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(data));
            foreach (var file in new[] { "aihub.db", "aihub.db-wal", "aihub.db-shm" })
                Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(Path.Combine(data, file)));
            Assert.Equal(OwnerOnlyFolder, File.GetUnixFileMode(mail));
            Assert.All(Directory.GetFiles(mail), f => Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(f)));
        }
        var kek = Path.Combine(root.Path, KeyEncryptionKey.DefaultFileName);
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(kek));
        var written = await File.ReadAllTextAsync(kek, Ct);

        await using (var again = new AiHubApp(settings, s => s.AddSingleton<ILoggerProvider>(logs)))
        {
            using var client = again.CreateClient();
            using var login = await client.PostAsJsonAsync("/api/auth/login", new { email, password = IdentityHost.Password }, Ct);
            Assert.NotEqual(HttpStatusCode.InternalServerError, login.StatusCode);
        }

        Assert.Equal(written, await File.ReadAllTextAsync(kek, Ct));
        Assert.DoesNotContain(Path.GetFileName(kek), string.Join(",", Directory.GetFiles(data).Select(Path.GetFileName)), StringComparison.Ordinal);
        var generated = Assert.Single(logs.Lines, l => l.Contains("Generated the key-encryption key", StringComparison.Ordinal));
        Assert.Contains(kek, generated, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_file_left_world_readable_by_an_earlier_version_is_narrowed_to_its_owner()
    {
        using var root = new TempFolder();
        var file = Path.Combine(root.Path, "aihub.db");
        await File.WriteAllBytesAsync(file, [], Ct);
        File.SetUnixFileMode(file, OwnerOnlyFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await using var app = new AiHubApp(new Dictionary<string, string?>
        {
            ["Database:ConnectionString"] = $"Data Source={file}",
            ["Database:MigrateOnStart"] = "true",
            ["DataProtection:KeyEncryptionKey"] = TestEnvironment.KeyEncryptionKey,
        });
        using var client = app.CreateClient();

        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(file));
    }

    const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    const UnixFileMode OwnerOnlyFolder = OwnerOnlyFile | UnixFileMode.UserExecute;

    static async Task<List<string>> KeysAsync(AiHubApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().DataProtectionKeys.AsNoTracking().Select(k => k.Xml!).ToListAsync(Ct);
    }

    /// <summary>Data Protection with nothing but the keys copied out of the database and a key-encryption key: what a thief with the database has.</summary>
    static ServiceProvider Standalone(IEnumerable<string> keys, string kek, string path)
    {
        var folder = Directory.CreateDirectory(path);
        foreach (var (xml, i) in keys.Select((x, i) => (x, i)))
            File.WriteAllText(Path.Combine(folder.FullName, $"key-{i}.xml"), xml);
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(new KeyEncryptionKey(KeyEncryptionKey.TryDecode(kek)!));
        services.AddDataProtection().SetApplicationName("AiHub").PersistKeysToFileSystem(folder).DisableAutomaticKeyGeneration();
        return services.BuildServiceProvider();
    }

    sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("aihub-secrets-").FullName;

        public void Dispose()
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(Path, recursive: true);
        }
    }
}
