using AiHub.Infrastructure.Logging;

namespace AiHub.Tests;

public sealed class SecretRedactorTests
{
    [Theory]
    [InlineData("Authorization: Bearer abc.def-123456789", "abc.def-123456789")]
    [InlineData("key ahk_4f2a9c_SuperSecretValue123 used", "ahk_4f2a9c_SuperSecretValue123")]
    [InlineData("refresh ahr_Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4 sent", "ahr_Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4")]
    [InlineData("provider key sk-proj-AbCdEf0123456789xyz", "sk-proj-AbCdEf0123456789xyz")]
    [InlineData("anthropic sk-ant-api03-AbCdEf0123456789", "sk-ant-api03-AbCdEf0123456789")]
    [InlineData("stripe sk_live_51HxYzAbCdEf", "sk_live_51HxYzAbCdEf")]
    [InlineData("Host=db;Username=aihub;Password=hunter2;Database=x", "hunter2")]
    [InlineData("{\"apiKey\": \"plain-value-42\"}", "plain-value-42")]
    [InlineData("redis://default:r3dis-pass@cache:6379", "r3dis-pass")]
    [InlineData("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3jVmNHl0w5N")]
    [InlineData("POST /reset?token=abcdef123456&x=1", "abcdef123456")]
    [InlineData("GET /api/invitations/inv_Q2hhbmdlLW1lLXRvLWEtcmVhbC10b2tlbg/accept", "Q2hhbmdlLW1lLXRvLWEtcmVhbC10b2tlbg")]
    [InlineData("GET https://aihub.test/invitations/inv_x-Y_z0123456789abcdef", "x-Y_z0123456789abcdef")]
    [InlineData("GET /api/orgs/0199a1b2-0000-7000-8000-000000000000/shared-conversations/shr_dGhpcy1pcy1hLXNoYXJlLXRva2Vu", "dGhpcy1pcy1hLXNoYXJlLXRva2Vu")]
    public void Secrets_are_masked(string text, string secret)
    {
        var redacted = SecretRedactor.Redact(text);

        Assert.DoesNotContain(secret, redacted, StringComparison.Ordinal);
        Assert.Contains(SecretRedactor.Mask, redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void A_new_API_key_is_masked_whole()
    {
        var (prefix, key) = AiHub.Organizations.ApiKeys.ApiKeySecrets.New();

        var redacted = SecretRedactor.Redact($"request with {key} failed");

        Assert.Equal("request with *** failed", redacted);
        Assert.Matches("^[a-z0-9]{8}$", prefix);
        Assert.True(AiHub.Organizations.ApiKeys.ApiKeySecrets.LooksLikeKey(key));
    }

    [Theory]
    [InlineData("Now listening on: http://localhost:5080")]
    [InlineData("Database migrations applied: 1 (20261123112607_Initial)")]
    [InlineData("Work test.probe 0199a1b2-0000-7000-8000-000000000000 failed; it will be retried")]
    public void Ordinary_text_is_left_alone(string text) => Assert.Equal(text, SecretRedactor.Redact(text));

    [Theory]
    [InlineData("password", true)]
    [InlineData("ApiKey", true)]
    [InlineData("refreshToken", true)]
    [InlineData("ConnectionString", true)]
    [InlineData("requestId", false)]
    [InlineData("path", false)]
    [InlineData("code", true)]
    [InlineData("totpCode", true)]
    [InlineData("statusCode", false)]
    public void Field_names_that_hold_secrets_are_recognised(string name, bool secret) =>
        Assert.Equal(secret, SecretRedactor.IsSecretName(name));
}
