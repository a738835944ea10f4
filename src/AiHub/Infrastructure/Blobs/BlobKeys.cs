using System.Text.RegularExpressions;

namespace AiHub.Infrastructure.Blobs;

/// <summary>Keys are relative paths of safe characters, so that no key can leave the store's folder or bucket prefix.</summary>
internal static partial class BlobKeys
{
    const int MaxLength = 512;

    /// <exception cref="InvalidBlobKeyException">The key is empty, too long, absolute, has an empty, <c>.</c> or <c>..</c> segment, or another character than [A-Za-z0-9/._-].</exception>
    public static string Validate(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > MaxLength || !Shape().IsMatch(key)
            || key.Split('/').Any(segment => segment is "." or ".."))
            throw new InvalidBlobKeyException(key);
        return key;
    }

    /// <summary>A prefix is a key, or a key followed by <c>/</c>; an empty prefix (everything) is refused.</summary>
    public static string ValidatePrefix(string prefix)
    {
        Validate(prefix.EndsWith('/') ? prefix[..^1] : prefix);
        return prefix;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")]
    private static partial Regex Shape();
}

internal sealed class InvalidBlobKeyException(string key)
    : ArgumentException($"'{(key.Length > 80 ? key[..80] + "…" : key)}' is not a valid blob key: a relative path of [A-Za-z0-9._-] segments.");

/// <summary>A multipart upload that cannot go on or complete: unknown upload, a part missing, changed or too small.</summary>
internal sealed class BlobUploadException(string message) : Exception(message);
