using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Hosting;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace AiHub.Data;

/// <summary>The <c>DataProtection</c> section: the key-encryption key that the Data Protection keys are stored under.</summary>
internal sealed class DataProtectionSettings
{
    public const string Section = "DataProtection";

    /// <summary>32 random bytes in base64; wins over <see cref="KeyEncryptionKeyFile"/>.</summary>
    public string? KeyEncryptionKey { get; set; }

    /// <summary>A file holding the key in base64. Unset when embedded: <c>aihub.kek</c> beside the data folder, made on first run.</summary>
    public string? KeyEncryptionKeyFile { get; set; }
}

/// <summary>Names the setting that is wrong, without ever printing a key.</summary>
internal sealed class DataProtectionSettingsValidator(IOptions<DatabaseSettings> database) : IValidateOptions<DataProtectionSettings>
{
    const string Key = $"{DataProtectionSettings.Section}:{nameof(DataProtectionSettings.KeyEncryptionKey)}";
    const string File = $"{DataProtectionSettings.Section}:{nameof(DataProtectionSettings.KeyEncryptionKeyFile)}";

    public ValidateOptionsResult Validate(string? name, DataProtectionSettings options)
    {
        if (!string.IsNullOrWhiteSpace(options.KeyEncryptionKey))
            return KeyEncryptionKey.TryDecode(options.KeyEncryptionKey) is null
                ? ValidateOptionsResult.Fail($"{Key}: is not valid; expected 32 random bytes in base64 (openssl rand -base64 32)")
                : ValidateOptionsResult.Success;
        if (database.Value.Provider != DatabaseProvider.Postgres)
            return ValidateOptionsResult.Success;
        // Every node must decrypt what another wrote: a key made by one node alone would lock the others out.
        if (string.IsNullOrWhiteSpace(options.KeyEncryptionKeyFile))
            return ValidateOptionsResult.Fail($"{Key}: is required when Database:Provider is Postgres, the same on every node " +
                $"(32 random bytes in base64: openssl rand -base64 32), or set {File} to a file that holds it");
        return System.IO.File.Exists(options.KeyEncryptionKeyFile) ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{File}: '{options.KeyEncryptionKeyFile}' does not exist; in a cluster it is never generated, every node reads the same file");
    }
}

/// <summary>
/// The key that encrypts the Data Protection keys at rest. It is never stored in the database, so a copy of the
/// database alone decrypts neither the provider keys nor the token signing key.
/// </summary>
internal sealed class KeyEncryptionKey
{
    public const string DefaultFileName = "aihub.kek";

    readonly Lazy<byte[]> _key;

    public KeyEncryptionKey(IOptions<DataProtectionSettings> settings, IOptions<DatabaseSettings> database, IHostEnvironment environment, ILogger<KeyEncryptionKey> log) =>
        _key = new(() => Load(settings.Value, database.Value, environment.ContentRootPath, log));

    internal KeyEncryptionKey(byte[] key) => _key = new(key);

    public byte[] Value => _key.Value;

    /// <summary>A short fingerprint stored beside each encrypted key, so a wrong key is told apart from a damaged one.</summary>
    public string Id => Convert.ToHexStringLower(SHA256.HashData(Value), 0, 8);

    public static byte[]? TryDecode(string? text)
    {
        var buffer = new byte[64];
        return Convert.TryFromBase64String(text?.Trim() ?? "", buffer, out var written) && written == 32 ? buffer[..32] : null;
    }

    /// <summary>Where an embedded node keeps its key: beside the data folder, so that a copy of the folder does not carry it.</summary>
    public static string DefaultFile(DatabaseSettings database, string contentRoot)
    {
        var source = new SqliteConnectionStringBuilder(database.ConnectionString ?? DataExtensions.DefaultSqlite).DataSource;
        if (source == ":memory:")
            return Path.Combine(contentRoot, DefaultFileName);
        var dataFolder = Path.GetDirectoryName(Path.GetFullPath(Path.Combine(contentRoot, source)))!;
        return Path.Combine(Path.GetDirectoryName(dataFolder) ?? dataFolder, DefaultFileName);
    }

    static byte[] Load(DataProtectionSettings settings, DatabaseSettings database, string contentRoot, ILogger log)
    {
        if (TryDecode(settings.KeyEncryptionKey) is { } configured)
            return configured;
        var path = string.IsNullOrWhiteSpace(settings.KeyEncryptionKeyFile)
            ? DefaultFile(database, contentRoot)
            : Path.GetFullPath(Path.Combine(contentRoot, settings.KeyEncryptionKeyFile));
        if (!File.Exists(path) && database.Provider == DatabaseProvider.Sqlite)
            Create(path, log);
        return TryDecode(File.ReadAllText(path)) ?? throw new InvalidConfigurationException(
            $"{DataProtectionSettings.Section}:{nameof(DataProtectionSettings.KeyEncryptionKeyFile)}: '{path}' does not hold 32 bytes in base64");
    }

    static void Create(string path, ILogger log)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!OwnerOnly.TryCreateFile(path, Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n")))
            return;
        log.LogWarning("Generated the key-encryption key at {Path}. Back it up apart from the database: without it the stored provider keys and the token signing key cannot be read, and with the database it reads them all.", path);
    }
}

/// <summary>Encrypts each Data Protection key with AES-256-GCM under the key-encryption key.</summary>
internal sealed class KeyEncryptionKeyXmlEncryptor(KeyEncryptionKey kek) : IXmlEncryptor
{
    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        var ciphertext = new byte[plaintext.Length];
        using (var aes = new AesGcm(kek.Value, tag.Length))
            aes.Encrypt(nonce, plaintext, ciphertext, tag, KeyEncryptionKeyXmlDecryptor.AssociatedData);
        CryptographicOperations.ZeroMemory(plaintext);
        var element = new XElement(KeyEncryptionKeyXmlDecryptor.ElementName,
            new XComment(" Encrypted with AiHub's key-encryption key (AES-256-GCM), which the database does not hold. "),
            new XElement("kek", kek.Id),
            new XElement("value", Convert.ToBase64String([.. nonce, .. tag, .. ciphertext])));
        return new EncryptedXmlInfo(element, typeof(KeyEncryptionKeyXmlDecryptor));
    }
}

/// <summary>Made by Data Protection from the type name stored with each key; finds the key-encryption key in the services.</summary>
internal sealed class KeyEncryptionKeyXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public const string ElementName = "encryptedKey";

    internal static readonly byte[] AssociatedData = "AiHub.DataProtection.KeyEncryptionKey.v1"u8.ToArray();

    public XElement Decrypt(XElement encryptedElement)
    {
        var kek = services.GetRequiredService<KeyEncryptionKey>();
        var id = (string?)encryptedElement.Element("kek");
        if (id != kek.Id)
            throw new CryptographicException($"A Data Protection key is encrypted with another key-encryption key ({id}); this node has {kek.Id}. Configure {DataProtectionSettings.Section}:{nameof(DataProtectionSettings.KeyEncryptionKey)} as on the node that wrote it.");
        var blob = Convert.FromBase64String((string?)encryptedElement.Element("value") ?? "");
        var nonceSize = AesGcm.NonceByteSizes.MaxSize;
        var tagSize = AesGcm.TagByteSizes.MaxSize;
        var plaintext = new byte[blob.Length - nonceSize - tagSize];
        using (var aes = new AesGcm(kek.Value, tagSize))
            aes.Decrypt(blob.AsSpan(0, nonceSize), blob.AsSpan(nonceSize + tagSize), blob.AsSpan(nonceSize, tagSize), plaintext, AssociatedData);
        try
        {
            return XElement.Parse(Encoding.UTF8.GetString(plaintext));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }
}
