using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Organizations;

/// <summary>Small steps of the organisation API that the tests repeat, each asserting it worked.</summary>
public static class OrgApi
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<JsonElement> SendAsync(HttpClient client, AuthTokens who, HttpMethod method, string path, object? body = null, HttpStatusCode expected = HttpStatusCode.OK,
        string? idempotencyKey = null)
    {
        using var request = As(who, method, path, body, idempotencyKey);
        using var response = await client.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{method} {path}: {(int)response.StatusCode} {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<Guid> PersonalOrgAsync(HttpClient client, AuthTokens who)
    {
        var orgs = await SendAsync(client, who, HttpMethod.Get, "/api/orgs");
        return orgs.EnumerateArray().Single(o => o.GetProperty("personal").GetBoolean()).GetProperty("id").GetGuid();
    }

    public static async Task<Guid> CreateOrgAsync(HttpClient client, AuthTokens who, string name) =>
        (await SendAsync(client, who, HttpMethod.Post, "/api/orgs", new { name }, HttpStatusCode.Created)).GetProperty("id").GetGuid();

    public static async Task<Guid> CreateAsync(HttpClient client, AuthTokens who, Guid orgId, string collection, object body) =>
        (await SendAsync(client, who, HttpMethod.Post, $"/api/orgs/{orgId}/{collection}", body, HttpStatusCode.Created)).GetProperty("id").GetGuid();

    public static Guid UserIdOf(AuthTokens who) => Guid.Parse(new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(who.AccessToken).Subject);

    /// <summary>Invites <paramref name="email"/> and accepts as <paramref name="invitee"/> with the token from the mail.</summary>
    public static async Task JoinAsync(IdentityHost host, HttpClient client, AuthTokens owner, Guid orgId, string email, AuthTokens invitee, string role = "Member")
    {
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email, role }, HttpStatusCode.Created);
        var token = await InvitationTokenAsync(host, email);
        await SendAsync(client, invitee, HttpMethod.Post, $"/api/invitations/{token}/accept");
    }

    public static async Task<string> InvitationTokenAsync(IdentityHost host, string email)
    {
        var mail = await host.MailAsync(email, "invited");
        return System.Text.RegularExpressions.Regex.Match(mail.TextBody ?? "", @"/invitations/(inv_[A-Za-z0-9_-]+)").Groups[1].Value;
    }
}
