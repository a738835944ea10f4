using AiHub.Infrastructure.Errors;

namespace AiHub.Credits;

/// <summary>The <c>Idempotency-Key</c> header every credit-moving endpoint reads.</summary>
internal static class IdempotencyKeys
{
    public const int MaxLength = 150;

    /// <summary>Null when absent; a key too long is refused, never replaced: a replaced key would move credits again on the retry.</summary>
    public static string? Read(HttpRequest request, bool required)
    {
        var key = request.Headers["Idempotency-Key"].ToString().Trim();
        if (key.Length > MaxLength || (required && key.Length == 0))
            throw ProblemException.Invalid("Idempotency-Key",
                $"Send an Idempotency-Key header of 1 to {MaxLength} characters: a retry with the same key changes nothing twice.");
        return key.Length == 0 ? null : key;
    }

    /// <summary>A fixed-length digest of a client's key, for ledger keys that must fit beside a prefix.</summary>
    public static string Digest(string key) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
}
