using AiHub.Infrastructure.Errors;

namespace AiHub.Credits;

/// <summary>The reason a manual movement of credits carries into the ledger and the audit log.</summary>
internal static class CreditReasons
{
    /// <summary>The longest reason a manual movement carries.</summary>
    public const int MaxLength = 200;

    public const string Rule = "Say why, in 1 to 200 characters; it goes to the audit log.";

    /// <summary>The trimmed reason of a manual movement, or a 400 that says what is missing.</summary>
    public static string Require(string? reason) =>
        reason?.Trim() is { Length: > 0 and <= MaxLength } trimmed ? trimmed : throw ProblemException.Invalid("reason", Rule);
}
