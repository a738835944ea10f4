using System.Text.RegularExpressions;

namespace AiHub.Infrastructure.Logging;

/// <summary>Masks credentials in text that is about to leave the process as a log line.</summary>
internal static partial class SecretRedactor
{
    public const string Mask = "***";

    static readonly string[] SecretNames = ["password", "pwd", "secret", "token", "apikey", "api_key", "api-key", "authorization", "cookie", "credential", "connectionstring", "code"];

    // Names that end like a secret's but hold plain numbers worth keeping in a log.
    static readonly string[] PlainNames = ["statuscode", "errorcode", "exitcode", "eventcode"];

    public static bool IsSecretName(string name)
    {
        var lower = name.ToLowerInvariant();
        if (PlainNames.Contains(lower))
            return false;
        return SecretNames.Any(s => lower.EndsWith(s, StringComparison.Ordinal) || lower.StartsWith(s, StringComparison.Ordinal));
    }

    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return text ?? "";
        text = BearerToken().Replace(text, "$1 " + Mask);
        text = Jwt().Replace(text, Mask);
        text = KnownKeyFormats().Replace(text, Mask);
        text = UrlCredentials().Replace(text, "$1" + Mask + "@");
        return SecretAssignment().Replace(text, m => m.Groups["name"].Value + m.Groups["sep"].Value + Mask);
    }

    [GeneratedRegex(@"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/=]{6,}", RegexOptions.IgnoreCase)]
    private static partial Regex BearerToken();

    [GeneratedRegex(@"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")]
    private static partial Regex Jwt();

    // AiHub API keys, refresh tokens, share links and invitations, OpenAI/Anthropic-style keys, Stripe secrets and webhook signing secrets.
    [GeneratedRegex(@"\b(ah[kr]_[A-Za-z0-9_-]{8,}|(shr|inv)_[A-Za-z0-9_-]{8,}|sk-(ant-)?[A-Za-z0-9_-]{12,}|(sk|rk)_(live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,})")]
    private static partial Regex KnownKeyFormats();

    [GeneratedRegex(@"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@", RegexOptions.IgnoreCase)]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"(?<name>\b[\w-]*(password|pwd|secret|token|api[_-]?key|access[_-]?key)[\w-]*)(?<sep>""?\s*[=:]\s*""?)[^;&\s"",}]+", RegexOptions.IgnoreCase)]
    private static partial Regex SecretAssignment();
}
