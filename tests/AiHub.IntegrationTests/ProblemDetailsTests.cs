using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests;

/// <summary>Errors come back as ProblemDetails with a reason, and bad input is never a 500.</summary>
public abstract class ProblemDetailsTests(HostFixture host)
{
    [Fact]
    public async Task An_unknown_api_route_is_a_404_problem()
    {
        using var response = await Client.GetAsync("/api/no-such-thing", TestContext.Current.CancellationToken);

        var problem = await ProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Contains("/api/no-such-thing", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(problem.TryGetProperty("traceId", out _));
    }

    [Fact]
    public async Task A_browser_missing_a_page_gets_the_not_found_page()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/no-such-page");
        request.Headers.Accept.ParseAdd("text/html");
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("This page does not exist", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_json_body_is_a_400_problem_that_says_why()
    {
        using var body = new StringContent("{\"name\": \"unterminated", Encoding.UTF8, "application/json");
        using var response = await Client.PostAsync(ProbeEndpoints.Echo, body, TestContext.Current.CancellationToken);

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("The request body is not valid JSON.", problem.GetProperty("title").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task A_body_of_the_wrong_shape_is_a_400_problem()
    {
        using var response = await Client.PostAsJsonAsync(ProbeEndpoints.Echo, new { count = "not a number" }, TestContext.Current.CancellationToken);

        await ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_a_415_problem()
    {
        using var body = new StringContent("name=x", Encoding.UTF8, "application/x-www-form-urlencoded");
        using var response = await Client.PostAsync(ProbeEndpoints.Echo, body, TestContext.Current.CancellationToken);

        await ProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task A_wrong_method_is_a_405_problem()
    {
        using var response = await Client.DeleteAsync(ProbeEndpoints.Echo, TestContext.Current.CancellationToken);

        await ProblemAsync(response, HttpStatusCode.MethodNotAllowed);
    }

    [Fact]
    public async Task An_unexpected_failure_is_a_500_problem_that_leaks_nothing()
    {
        using var response = await Client.GetAsync(ProbeEndpoints.Boom, TestContext.Current.CancellationToken);

        var problem = await ProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.DoesNotContain(ProbeEndpoints.SecretInException, problem.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_valid_body_reaches_the_endpoint()
    {
        using var response = await Client.PostAsJsonAsync(ProbeEndpoints.Echo, new { name = "a", count = 2 }, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    HttpClient Client => host.Client;

    static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal((int)expected, json.RootElement.GetProperty("status").GetInt32());
        return json.RootElement.Clone();
    }
}

public sealed class ProblemDetailsOnSqlite(ProbeHostOnSqlite host) : ProblemDetailsTests(host), IClassFixture<ProbeHostOnSqlite>;

public sealed class ProblemDetailsOnPostgres(ProbeHostOnPostgres host) : ProblemDetailsTests(host), IClassFixture<ProbeHostOnPostgres>;

/// <summary>Hosts with two extra endpoints that exercise the error pipeline the way feature endpoints will.</summary>
public sealed class ProbeHostOnSqlite() : HostFixture("Sqlite", ProbeEndpoints.Register);

public sealed class ProbeHostOnPostgres() : HostFixture("Postgres", ProbeEndpoints.Register);

internal sealed class ProbeEndpoints : IStartupFilter
{
    public const string Echo = "/api/probe/echo";
    public const string Boom = "/api/probe/boom";
    public const string SecretInException = "password=hunter2";

    sealed record EchoRequest(string? Name, int Count);

    public static void Register(IServiceCollection services) => services.AddSingleton<IStartupFilter, ProbeEndpoints>();

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        // The route builder that the application's implicit UseRouting registered: probes sit behind the same middleware as real endpoints.
        var routes = (IEndpointRouteBuilder)app.Properties["__EndpointRouteBuilder"]!;
        routes.MapPost(Echo, (EchoRequest request) => Results.Ok(request));
        routes.MapGet(Boom, IResult () => throw new InvalidOperationException("db failed: " + SecretInException));
    };
}
