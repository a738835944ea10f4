namespace AiHub.Infrastructure.Errors;

/// <summary>The <c>type</c> of each ProblemDetails a client may want to tell apart; docs/problems.md describes them.</summary>
internal static class ProblemTypes
{
    public const string Prefix = "urn:aihub:problem:";

    public const string RateLimited = Prefix + "rate-limited";
    public const string Validation = Prefix + "validation";
    public const string InvalidCredentials = Prefix + "invalid-credentials";
    public const string EmailNotVerified = Prefix + "email-not-verified";
    public const string AccountLocked = Prefix + "account-locked";
    public const string TwoFactorRequired = Prefix + "two-factor-required";
    public const string InvalidTwoFactorCode = Prefix + "invalid-two-factor-code";
    public const string InvalidApiKey = Prefix + "invalid-api-key";
    public const string ApiKeyNotAllowed = Prefix + "api-key-not-allowed";
    public const string InvalidRefreshToken = Prefix + "invalid-refresh-token";
    public const string RefreshTokenReused = Prefix + "refresh-token-reused";
    public const string VerificationCodeInvalid = Prefix + "verification-code-invalid";
    public const string ResetTokenInvalid = Prefix + "reset-token-invalid";
    public const string WeakPassword = Prefix + "weak-password";
    public const string Forbidden = Prefix + "forbidden";
    public const string CrossSiteRequest = Prefix + "cross-site-request";
    public const string Conflict = Prefix + "conflict";
    public const string NotFound = Prefix + "not-found";
    public const string InsufficientCredits = Prefix + "insufficient-credits";
    public const string CreditLimit = Prefix + "credit-limit";
    public const string ModelNotPriced = Prefix + "model-not-priced";
    public const string ChatLimitExceeded = Prefix + "chat-limit-exceeded";
    public const string StorageLimitExceeded = Prefix + "storage-limit-exceeded";
    public const string VideoLimitExceeded = Prefix + "video-limit-exceeded";
    public const string FileTooLarge = Prefix + "file-too-large";
    public const string UnsupportedFile = Prefix + "unsupported-file";
    public const string ImportRefused = Prefix + "import-refused";
    public const string PromoCodeNotFound = Prefix + "promo-code-not-found";
    public const string PromoCodeInactive = Prefix + "promo-code-inactive";
    public const string PromoCodeExpired = Prefix + "promo-code-expired";
    public const string PromoCodeUsedUp = Prefix + "promo-code-used-up";
    public const string PromoCodeAlreadyRedeemed = Prefix + "promo-code-already-redeemed";
    public const string AllowanceExceeded = Prefix + "allowance-exceeded";
    public const string ApiKeyBudgetExceeded = Prefix + "api-key-budget-exceeded";
    public const string ContextTooLong = Prefix + "context-too-long";
    public const string ProviderFailed = Prefix + "provider-failed";
    public const string StreamIncomplete = Prefix + "stream-incomplete";
    public const string NoProvider = Prefix + "no-provider";
    public const string ModelNotFound = Prefix + "model-not-found";
    public const string ModelNotAllowed = Prefix + "model-not-allowed";
}
