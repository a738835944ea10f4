using System.Net;
using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Chat.ProviderTestSettings;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Organizations;

/// <summary>
/// Every route under <c>/api/orgs/{orgId}</c>, found by enumerating the app's endpoints, called across the tenant
/// boundary: it must answer 403 or 404, never another org's data. A new org-scoped route is covered without anyone
/// remembering to add it; a route with a parameter this test cannot fill makes it fail.
/// </summary>
public abstract partial class TenantIsolationTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    sealed record Tenant(AuthTokens Owner, string ApiKey, Guid OrgId, Guid MemberId, Dictionary<string, object> Ids);

    [Fact]
    public async Task Every_org_scoped_route_refuses_callers_and_ids_of_another_org()
    {
        using var client = host.Client();
        var mine = await TenantAsync(client, "Mine");
        var theirs = await TenantAsync(client, "Theirs");
        var routes = OrgRoutes();

        var calls = 0;
        var leaks = new List<string>();
        foreach (var (method, pattern) in routes)
        {
            var foreignIds = pattern.Contains("{orgId:guid}/", StringComparison.Ordinal) && RouteParameter().IsMatch(pattern.Replace("{orgId:guid}", "", StringComparison.Ordinal));
            foreach (var caller in new[] { Bearer(mine.Owner.AccessToken), Bearer(mine.ApiKey) })
            {
                // A member (or a key) of one org calling another org's routes, with that org's own ids.
                leaks.AddRange(await CallAsync(client, caller, method, Fill(pattern, theirs.OrgId, theirs), mine));
                calls++;
                if (!foreignIds)
                    continue;
                // The caller's own org in the route, but ids that belong to the other org.
                leaks.AddRange(await CallAsync(client, caller, method, Fill(pattern, mine.OrgId, theirs), mine));
                calls++;
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"tenant isolation: {routes.Count} org-scoped routes, {calls} cross-tenant calls");
        Assert.Empty(leaks);
        // A floor, not the count: enumeration finding fewer routes than exist today means it is broken.
        Assert.True(routes.Count >= 39, $"only {routes.Count} org-scoped routes were found");
    }

    /// <summary>
    /// The /v1 routes carry no org: the API key is the tenant. So none may answer a caller without a key, and a signed-in
    /// session (which could name any org) is not a key either; both get 401 in the format's own error shape.
    /// </summary>
    [Fact]
    public async Task Every_v1_route_takes_its_org_from_an_api_key_and_refuses_a_session_or_no_key()
    {
        using var client = host.Client();
        var theirs = await TenantAsync(client, "Keyless");
        var routes = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => ("/" + e.RoutePattern.RawText?.TrimStart('/')).StartsWith("/v1/", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (Method: m, Pattern: "/" + e.RoutePattern.RawText!.TrimStart('/'))))
            .Distinct()
            .ToList();

        var wrong = new List<string>();
        foreach (var (method, pattern) in routes)
        {
            var path = RouteParameter().Replace(pattern, "local-model");
            foreach (var caller in new[] { null, Bearer(theirs.Owner.AccessToken) })
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                if (method == "POST")
                    request.Content = System.Net.Http.Json.JsonContent.Create(new { model = "local-model", input = "hi", max_tokens = 5, messages = new[] { new { role = "user", content = "hi" } } });
                request.Headers.Authorization = caller;
                using var response = await client.SendAsync(request, Ct);
                var body = await response.Content.ReadAsStringAsync(Ct);
                var shaped = body.Contains("\"error\"", StringComparison.Ordinal);
                if (response.StatusCode != HttpStatusCode.Unauthorized || !shaped)
                    wrong.Add($"{method} {path} as {(caller is null ? "nobody" : "a session")} -> {(int)response.StatusCode} {body[..Math.Min(body.Length, 200)]}");
            }
        }

        Assert.Empty(wrong);
        // chat/completions, messages, embeddings, models and models/{id}: fewer means the enumeration missed them.
        Assert.True(routes.Count >= 5, $"only {routes.Count} /v1 routes were found: {string.Join(", ", routes)}");
    }

    /// <summary>Every (method, route pattern) under /api/orgs/{orgId}, as the app has them right now.</summary>
    List<(string Method, string Pattern)> OrgRoutes() =>
        host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.Contains("{orgId", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (m, e.RoutePattern.RawText!)))
            .Distinct()
            .OrderBy(r => r.Item2, StringComparer.Ordinal).ThenBy(r => r.m, StringComparer.Ordinal)
            .ToList();

    static System.Net.Http.Headers.AuthenticationHeaderValue Bearer(string token) => new("Bearer", token);

    static async Task<List<string>> CallAsync(HttpClient client, System.Net.Http.Headers.AuthenticationHeaderValue caller, string method, string path, Tenant mine)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (SampleBody(method, path, mine) is { } sample)
            request.Content = System.Net.Http.Json.JsonContent.Create(sample);
        request.Headers.Authorization = caller;
        using var response = await client.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        return response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound
            ? []
            : [$"{method} {path} -> {(int)response.StatusCode} {body[..Math.Min(body.Length, 200)]}"];
    }

    static string Fill(string pattern, Guid orgId, Tenant ids) => RouteParameter().Replace(pattern, m =>
    {
        var name = m.Groups["name"].Value;
        if (name == "orgId")
            return orgId.ToString();
        var before = pattern[..m.Index].TrimEnd('/');
        var collection = before[(before.LastIndexOf('/') + 1)..];
        var key = name == "id" ? collection : name;
        return ids.Ids.TryGetValue(key, out var id)
            ? $"{id}"
            : throw new InvalidOperationException($"The isolation test does not know how to fill {{{name}}} in {pattern}; add an id of that kind to TenantAsync.");
    });

    /// <summary>
    /// A body that would pass validation in the caller's own org, its user a real member there, so that only the
    /// tenant boundary (the other org's id in the path) can refuse the call.
    /// </summary>
    static Dictionary<string, object>? SampleBody(string method, string path, Tenant mine) => method is "POST" or "PATCH" or "PUT"
        ? new()
        {
            ["name"] = "Cross-tenant " + Guid.NewGuid().ToString("N")[..6] + " " + path.Length,
            ["email"] = NewEmail("cross"),
            ["role"] = "Member",
            ["userId"] = mine.MemberId,
            ["permissions"] = new[] { "workspaces:read" },
        }
        : null;

    /// <summary>An org with one resource of every kind its routes name.</summary>
    async Task<Tenant> TenantAsync(HttpClient client, string name)
    {
        var email = NewEmail(name.ToLowerInvariant());
        var owner = await host.NewUserAsync(client, email);
        var orgId = await CreateOrgAsync(client, owner, name);
        var memberEmail = NewEmail(name.ToLowerInvariant() + "-member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);
        var team = await CreateAsync(client, owner, orgId, "teams", new { name = "Team" });
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/teams/{team}/members", new { userId = UserIdOf(member) });
        var ids = new Dictionary<string, object>
        {
            ["workspaces"] = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Workspace" }),
            ["teams"] = team,
            ["invitations"] = await CreateAsync(client, owner, orgId, "invitations", new { email = NewEmail("pending"), role = "Guest" }),
            ["members"] = UserIdOf(member),
            ["userId"] = UserIdOf(member),
        };
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "everything", permissions = AiHub.Organizations.OrgPermissions.All.Select(AiHub.Organizations.OrgPermissions.Name) }, HttpStatusCode.Created);
        ids["api-keys"] = key.GetProperty("key").GetProperty("id").GetGuid();
        ids["providers"] = await CreateAsync(client, owner, orgId, "providers",
            new { name = "own", kind = "OpenAICompatible", baseUrl = "http://127.0.0.1:9/v1", models = List("local-model") });
        ids["mcp-servers"] = await CreateAsync(client, owner, orgId, "mcp-servers", new { name = "remote", url = "https://mcp.example.com/mcp" });
        ids["requestId"] = await CreateAsync(client, member, orgId, "credits/requests", new { credits = 1m, reason = "isolation" });
        ids["wsId"] = ids["workspaces"];
        ids["conversations"] = await CreateAsync(client, owner, orgId, $"workspaces/{ids["workspaces"]}/conversations", new { title = "Conversation" });
        // A question stored directly: asking a model needs a provider, and the isolation host has none.
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var store = scope.ServiceProvider.GetRequiredService<AiHub.Chat.Conversations.ConversationService>();
            var conversation = await store.FindOwnAsync(orgId, (Guid)ids["workspaces"], (Guid)ids["conversations"], UserIdOf(owner), TestContext.Current.CancellationToken);
            ids["messageId"] = (await store.AddUserMessageAsync(conversation, null, "A question", TestContext.Current.CancellationToken)).Id;
        }
        var (kb, source, upload) = await AiHub.IntegrationTests.Knowledge.KnowledgeStart.SeedAsync(client, owner, orgId, (Guid)ids["workspaces"]);
        ids["kbId"] = kb;
        ids["sources"] = source;
        ids["uploadId"] = upload;
        ids["partNumber"] = 1;
        ids["index"] = 0;
        (ids["checkoutId"], ids["invoiceId"]) = await AiHub.IntegrationTests.Billing.BillingSeed.SeedAsync(host.App.Services, orgId, UserIdOf(owner), TestContext.Current.CancellationToken);
        // A finished generation with an output and its thumbnail, stored directly: the isolation host has no generation provider.
        ids["generations"] = await AiHub.IntegrationTests.Generation.GenerationApi.SeedJobAsync(host.App.Services, orgId, (Guid)ids["workspaces"], UserIdOf(owner));
        ids["token"] = (await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{ids["workspaces"]}/conversations/{ids["conversations"]}/share")).GetProperty("token").GetString()!;
        return new Tenant(owner, key.GetProperty("secret").GetString()!, orgId, UserIdOf(member), ids);
    }

    [GeneratedRegex(@"\{(?<name>[A-Za-z]+)(:[^}]*)?\}")]
    private static partial Regex RouteParameter();
}

public sealed class TenantIsolationOnSqlite(SqliteIdentityFixture fixture) : TenantIsolationTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class TenantIsolationOnPostgres(PostgresIdentityFixture fixture) : TenantIsolationTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
