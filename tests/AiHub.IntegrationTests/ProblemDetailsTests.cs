using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiHub.IntegrationTests;

/// <summary>Errors come back as ProblemDetails with a reason, and bad input is never a 500.</summary>
public abstract class ProblemDetailsTests(ProbeHost host)
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

    [Theory]
    [InlineData("text/event-stream")]
    [InlineData("text/html")]
    [InlineData("text/plain")]
    public async Task A_refusal_is_a_problem_whatever_the_client_accepts(string accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ProbeEndpoints.Refuse);
        request.Headers.Accept.ParseAdd(accept);
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);

        var problem = await ProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Equal(ProblemTypes.ChatLimitExceeded, problem.GetProperty("type").GetString());
        Assert.Equal(ProbeEndpoints.RefusalTitle, problem.GetProperty("title").GetString());
        Assert.Equal(3, problem.GetProperty("limit").GetInt32());
        Assert.True(problem.TryGetProperty("traceId", out _));
    }

    [Theory]
    [InlineData("text/event-stream")]
    [InlineData("text/html")]
    public async Task An_api_status_without_a_body_is_a_problem_whatever_the_client_accepts(string accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/no-such-thing");
        request.Headers.Accept.ParseAdd(accept);
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);

        var problem = await ProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Contains("/api/no-such-thing", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unexpected_failure_is_a_500_problem_for_an_event_stream_client()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, ProbeEndpoints.Boom);
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);

        var problem = await ProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.DoesNotContain(ProbeEndpoints.SecretInException, problem.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_body_is_a_400_problem_for_a_client_that_accepts_only_html()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ProbeEndpoints.Echo) { Content = new StringContent("{\"name\": ", Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("text/html");
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);

        await ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData(ProbeEndpoints.Refuse)]
    [InlineData(ProbeEndpoints.Unavailable)]
    public async Task An_expected_refusal_is_logged_in_one_line_below_warning_and_without_a_stack(string route)
    {
        var path = $"{route}/{Guid.NewGuid():N}";
        using var response = await Client.PostAsync(path, null, TestContext.Current.CancellationToken);
        Assert.True((int)response.StatusCode is 403 or 503);

        var lines = host.Logs.Entries.Where(e => e.Message.Contains(path, StringComparison.Ordinal) || e.Exception?.ToString().Contains(path, StringComparison.Ordinal) == true).ToList();
        var line = Assert.Single(lines, e => e.Message.Contains("refused", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Null(line.Exception);
        Assert.Contains(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture), line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Warning && e.Exception is ProblemException);
        Assert.DoesNotContain(lines, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task An_unexpected_failure_is_logged_as_an_error_with_its_stack()
    {
        var path = $"{ProbeEndpoints.Boom}/{Guid.NewGuid():N}";
        using var response = await Client.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);

        var error = Assert.Single(host.Logs.Entries, e => e.Level == LogLevel.Error && e.Exception is InvalidOperationException && e.Message.Contains(path, StringComparison.Ordinal));
        Assert.Contains(" at ", error.Exception!.ToString(), StringComparison.Ordinal);
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

/// <summary>Hosts with extra endpoints that exercise the error pipeline the way feature endpoints will, and their log.</summary>
public abstract class ProbeHost : HostFixture
{
    protected ProbeHost(string provider) : this(provider, new LogCapture()) { }

    ProbeHost(string provider, LogCapture logs) : base(provider, services =>
    {
        ProbeEndpoints.Register(services);
        services.AddSingleton<ILoggerProvider>(logs);
    }) => Logs = logs;

    public LogCapture Logs { get; }
}

public sealed class ProbeHostOnSqlite() : ProbeHost("Sqlite");

public sealed class ProbeHostOnPostgres() : ProbeHost("Postgres");

internal sealed class ProbeEndpoints : IStartupFilter
{
    public const string Echo = "/api/probe/echo";
    public const string Boom = "/api/probe/boom";
    public const string Refuse = "/api/probe/refuse";
    public const string Unavailable = "/api/probe/unavailable";
    public const string SecretInException = "password=hunter2";
    public const string RefusalTitle = "The plan's chat questions are used up.";

    sealed record EchoRequest(string? Name, int Count);

    public static void Register(IServiceCollection services) => services.AddSingleton<IStartupFilter, ProbeEndpoints>();

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        // The route builder that the application's implicit UseRouting registered: probes sit behind the same middleware as real endpoints.
        var routes = (IEndpointRouteBuilder)app.Properties["__EndpointRouteBuilder"]!;
        routes.MapPost(Echo, (EchoRequest request) => Results.Ok(request));
        routes.MapGet(Boom + "/{tag?}", IResult () => throw new InvalidOperationException("db failed: " + SecretInException));
        routes.MapPost(Refuse + "/{tag?}", IResult () => throw new ProblemException(StatusCodes.Status403Forbidden, RefusalTitle, "All 3 questions of the day are used.", ProblemTypes.ChatLimitExceeded)
        {
            Extensions = new Dictionary<string, object?> { ["limit"] = 3 },
        });
        routes.MapPost(Unavailable + "/{tag?}", IResult () => throw new ProblemException(StatusCodes.Status503ServiceUnavailable, "No model is priced.", null, ProblemTypes.ModelNotPriced));
    };
}
