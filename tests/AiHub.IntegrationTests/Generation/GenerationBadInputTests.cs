using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AiHub.Data;
using AiHub.Generation;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Generation.GenerationApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>
/// Every way a creator can get a generation request wrong answers a 4xx ProblemDetails that names what to fix, and
/// leaves nothing behind: no credits held, no job, no file under the org's generations.
/// </summary>
public abstract class GenerationBadInputTests(GenerationApiFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, string, object> JsonCases() => new()
    {
        { "an unknown model", "model", new { kind = "image", model = "openai/gpt-image-9", prompt = "a lighthouse" } },
        { "a video model asked for an image", "model", new { kind = "image", model = "sora-2", prompt = "a lighthouse" } },
        { "a kind that does not exist", "kind", new { kind = "audio", model = "sora-2", prompt = "a lighthouse" } },
        { "a size the video model does not make", "size", new { model = "openai/sora-2", prompt = "waves", size = "640x480" } },
        { "a duration the video model does not make", "seconds", new { model = "sora-2", prompt = "waves", seconds = 5 } },
        { "an empty prompt", "prompt", new { model = "gpt-image-1", prompt = "   " } },
        { "no prompt at all", "prompt", new { model = "gpt-image-1" } },
        { "a prompt longer than the model takes", "prompt", new { model = "dall-e-3", prompt = new string('a', 4_001) } },
        { "no images", "count", new { model = "gpt-image-1", prompt = "a lighthouse", count = 0 } },
        { "more images than the model makes", "count", new { model = "gpt-image-1", prompt = "a lighthouse", count = 11 } },
        { "a quality on a model without one", "quality", new { model = "dall-e-2", prompt = "a lighthouse", quality = "hd" } },
        { "a quality the model does not have", "quality", new { model = "gpt-image-1", prompt = "a lighthouse", quality = "ultra" } },
        { "seconds on an image", "seconds", new { model = "gpt-image-1", prompt = "a lighthouse", seconds = 4 } },
        { "a reference image on a model that takes none", "inputImage", new { model = "dall-e-3", prompt = "a lighthouse", inputImage = new { generationId = Guid.NewGuid() } } },
        { "a reference to a generation that does not exist", "inputImage.generationId", new { model = "gpt-image-1", prompt = "a lighthouse", inputImage = new { generationId = Guid.NewGuid() } } },
        { "a callback to loopback", "callbackUrl", new { model = "gpt-image-1", prompt = "a lighthouse", callbackUrl = "http://127.0.0.1:8080/done" } },
        { "a callback to the metadata address", "callbackUrl", new { model = "gpt-image-1", prompt = "a lighthouse", callbackUrl = "http://169.254.169.254/latest/meta-data" } },
        { "a callback to a .localhost name", "callbackUrl", new { model = "gpt-image-1", prompt = "a lighthouse", callbackUrl = "https://hooks.localhost/done" } },
        { "a callback over ftp", "callbackUrl", new { model = "gpt-image-1", prompt = "a lighthouse", callbackUrl = "ftp://example.com/done" } },
        { "a callback that is not a URL", "callbackUrl", new { model = "gpt-image-1", prompt = "a lighthouse", callbackUrl = "done please" } },
        { "a field of the wrong type", "seconds", new { model = "sora-2", prompt = "waves", seconds = "eight" } },
    };

    [Theory]
    [MemberData(nameof(JsonCases))]
    public async Task A_json_request_with_a_mistake_is_a_400_naming_the_field_and_holds_nothing(string mistake, string field, object body)
    {
        var tenant = await fixture.SharedTenantAsync();
        var before = await fixture.FootprintAsync(tenant);

        var (status, problem, type) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs, Json(body));

        Assert.True(status == HttpStatusCode.BadRequest, $"{mistake}: {(int)status} {problem}");
        Assert.Equal("application/problem+json", type);
        Assert.Equal(ProblemTypes.Validation, problem.GetProperty("type").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{mistake}: the problem does not name {field}: {problem}");
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task The_quote_refuses_the_same_mistakes_naming_the_field()
    {
        var tenant = await fixture.SharedTenantAsync();

        var (size, sizeProblem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs + "/quote",
            Json(new { model = "sora-2", size = "640x480" }));
        var (broken, brokenProblem, brokenType) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs + "/quote",
            new StringContent("{\"model\": \"sora-2\",", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, size);
        Assert.True(sizeProblem.GetProperty("errors").TryGetProperty("size", out _), sizeProblem.ToString());
        Assert.Equal(HttpStatusCode.BadRequest, broken);
        Assert.Equal("application/problem+json", brokenType);
        Assert.True(brokenProblem.GetProperty("errors").TryGetProperty("body", out _), brokenProblem.ToString());
    }

    [Fact]
    public async Task Malformed_json_a_wrong_content_type_and_a_huge_body_are_refused_with_problems()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var before = await fixture.FootprintAsync(tenant);

        var (malformed, malformedProblem, malformedType) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            new StringContent("{\"model\": \"gpt-image-1\", \"prompt\": ", Encoding.UTF8, "application/json"));
        var (text, textProblem, textType) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            new StringContent("model=gpt-image-1 prompt=cat", Encoding.UTF8, "text/plain"));
        var huge = JsonSerializer.Serialize(new { model = "gpt-image-1", prompt = "a lighthouse", padding = new string('x', 3 * 1024 * 1024) });
        var (tooBig, tooBigProblem, tooBigType) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            new StringContent(huge, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, malformed);
        Assert.Equal("application/problem+json", malformedType);
        Assert.True(malformedProblem.GetProperty("errors").TryGetProperty("body", out _), malformedProblem.ToString());
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text);
        Assert.Equal("application/problem+json", textType);
        Assert.False(string.IsNullOrEmpty(textProblem.GetProperty("detail").GetString()));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig);
        Assert.Equal("application/problem+json", tooBigType);
        Assert.False(string.IsNullOrEmpty(tooBigProblem.GetProperty("detail").GetString()));
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task A_reference_file_that_is_not_an_image_is_a_415_and_nothing_is_kept()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var before = await fixture.FootprintAsync(tenant);
        var fields = new Dictionary<string, string> { ["model"] = "gpt-image-1", ["prompt"] = "make it blue" };

        var (status, problem, type) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            Form(fields, Encoding.UTF8.GetBytes("#!/bin/sh\necho not an image\n"), "ref.png"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        Assert.Equal("application/problem+json", type);
        Assert.True(problem.GetProperty("errors").TryGetProperty("inputImage", out _), problem.ToString());
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task A_reference_image_over_the_limit_is_a_413_and_nothing_is_kept()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var before = await fixture.FootprintAsync(tenant);
        var fields = new Dictionary<string, string> { ["model"] = "gpt-image-1", ["prompt"] = "make it blue" };
        var large = new byte[GenerationApiFixture.MaxInputImageBytes + 1];
        Png.CopyTo(large, 0);
        var huge = new byte[5 * 1024 * 1024];
        Png.CopyTo(huge, 0);

        var (status, problem, type) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs, Form(fields, large));
        var (hugeStatus, _, hugeType) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs, Form(fields, huge));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("application/problem+json", type);
        Assert.True(problem.GetProperty("errors").TryGetProperty("inputImage", out _), problem.ToString());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, hugeStatus);
        Assert.Equal("application/problem+json", hugeType);
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task A_form_field_that_is_not_a_number_and_a_form_with_a_bad_model_hold_nothing()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var before = await fixture.FootprintAsync(tenant);

        var (seconds, secondsProblem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            Form(new Dictionary<string, string> { ["model"] = "sora-2", ["prompt"] = "waves", ["seconds"] = "four" }, Png));
        var (model, modelProblem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            Form(new Dictionary<string, string> { ["model"] = "openai/nothing", ["prompt"] = "waves" }, Png));

        Assert.Equal(HttpStatusCode.BadRequest, seconds);
        Assert.True(secondsProblem.GetProperty("errors").TryGetProperty("seconds", out _), secondsProblem.ToString());
        Assert.Equal(HttpStatusCode.BadRequest, model);
        Assert.True(modelProblem.GetProperty("errors").TryGetProperty("model", out _), modelProblem.ToString());
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task A_reference_to_another_workspaces_or_another_orgs_generation_is_refused_and_holds_nothing()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var otherWorkspace = await Organizations.OrgApi.CreateAsync(tenant.Client, tenant.Owner, tenant.OrgId, "workspaces", new { name = "Elsewhere" });
        var stranger = await NewTenantAsync(fixture.Host, "Stranger");
        var inOtherWorkspace = await fixture.SeedJobAsync(tenant.OrgId, otherWorkspace, Organizations.OrgApi.UserIdOf(tenant.Owner));
        var inOtherOrg = await fixture.SeedJobAsync(stranger.OrgId, stranger.WorkspaceId, Organizations.OrgApi.UserIdOf(stranger.Owner));
        var before = await fixture.FootprintAsync(tenant);

        foreach (var id in new[] { inOtherWorkspace, inOtherOrg })
        {
            var (status, problem, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
                Json(new { model = "gpt-image-1", prompt = "the same, in blue", inputImage = new { generationId = id } }));
            Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {problem}");
            Assert.True(problem.GetProperty("errors").TryGetProperty("inputImage.generationId", out _), problem.ToString());
            Assert.DoesNotContain("stranger", problem.ToString(), StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(before, await fixture.FootprintAsync(tenant));
    }

    [Fact]
    public async Task A_valid_request_after_all_those_refusals_is_accepted_and_holds_its_quote()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var before = await fixture.FootprintAsync(tenant);

        var (status, job, _) = await SendAsync(tenant.Client, tenant.Owner.AccessToken, HttpMethod.Post, tenant.Jobs,
            Form(new Dictionary<string, string> { ["model"] = "gpt-image-1", ["prompt"] = "make it blue", ["quality"] = "low" }, Png));

        Assert.True(status == HttpStatusCode.Accepted, $"{(int)status} {job}");
        Assert.True(job.GetProperty("hasInputImage").GetBoolean());
        var after = await fixture.FootprintAsync(tenant);
        Assert.Equal(before.Jobs + 1, after.Jobs);
        Assert.Equal(before.Holds + 1, after.Holds);
        Assert.Equal(1_100_000, job.GetProperty("cost").GetProperty("heldMicros").GetInt64());
    }
}

public sealed class GenerationBadInputOnSqlite(SqliteGenerationApiFixture fixture) : GenerationBadInputTests(fixture), IClassFixture<SqliteGenerationApiFixture>;

/// <summary>The same refusals on PostgreSQL: the database must not change which requests are refused or what they leave.</summary>
public sealed class GenerationBadInputOnPostgres(PostgresGenerationApiFixture fixture) : GenerationBadInputTests(fixture), IClassFixture<PostgresGenerationApiFixture>;
