using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Data;
using AiHub.Generation;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>
/// A host whose deployment provider declares image and video models at an address nothing answers: the API's edges
/// (validation, holds, isolation, prices) are tested without any job running to its end. Tenants' URLs are held to
/// the production outbound rules, and reference images are capped at 64 KB so a too-large one is cheap to send.
/// </summary>
public abstract class GenerationApiFixture(string provider) : IAsyncLifetime
{
    public const long MaxInputImageBytes = 64 * 1024;

    public IdentityHost Host { get; private set; } = null!;

    /// <summary>The disk blob store's folder, to see what the API left behind.</summary>
    public string BlobRoot { get; } = Path.Combine(Path.GetTempPath(), "aihub-gen-api-" + Guid.NewGuid().ToString("N")[..8]);

    public async ValueTask InitializeAsync() => Host = await IdentityHost.StartAsync(provider, await SettingsAsync());

    protected virtual Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>
    {
        ["Blobs:Path"] = BlobRoot,
        ["Outbound:AllowPrivateNetworks"] = "false",
        ["Providers:0:Name"] = "openai",
        ["Providers:0:Kind"] = "OpenAI",
        ["Providers:0:BaseUrl"] = "http://127.0.0.1:9/v1",
        ["Providers:0:ApiKey"] = "test-key",
        ["Providers:0:ImageModels:0"] = "gpt-image-1",
        ["Providers:0:ImageModels:1"] = "dall-e-2",
        ["Providers:0:ImageModels:2"] = "dall-e-3",
        ["Providers:0:VideoModels:0"] = "sora-2",
        ["Generation:MaxInputImageBytes"] = MaxInputImageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // A job queued by a test that only looks at submit fails fast against the closed port instead of retrying for minutes.
        ["Generation:MaxTransientFailures"] = "0",
    });

    Lazy<Task<GenerationTenant>>? _shared;

    /// <summary>One funded tenant for tests that only compare what a refusal left against what was there before.</summary>
    public Task<GenerationTenant> SharedTenantAsync() =>
        LazyInitializer.EnsureInitialized(ref _shared, () => new(() => GenerationApi.NewTenantAsync(Host, "Shared"))).Value;

    /// <summary>What a derived fixture started beside the host (a fake provider), stopped after it.</summary>
    protected virtual ValueTask StopMoreAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await StopMoreAsync();
        if (Directory.Exists(BlobRoot))
            Directory.Delete(BlobRoot, recursive: true);
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteGenerationApiFixture() : GenerationApiFixture("Sqlite");

public sealed class PostgresGenerationApiFixture() : GenerationApiFixture("Postgres");

/// <summary>An org with a funded pool and a workspace, as a creator starting to generate has.</summary>
public sealed record GenerationTenant(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId, Guid PoolId)
{
    public string Jobs => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}/generations";
}

/// <summary>What a refused request must not have left: holds, jobs, blobs.</summary>
public sealed record GenerationFootprint(long Reserved, int Holds, int Jobs, int Blobs);

internal static class GenerationApi
{
    public const long Funds = 10_000L * 1_000_000;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The smallest valid PNG (1x1), as a reference image.</summary>
    public static readonly byte[] Png = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    public static async Task<GenerationTenant> NewTenantAsync(IdentityHost host, string name = "Studio")
    {
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, name);
        var pool = await host.FundPoolAsync(orgId, Funds);
        var ws = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Stills" });
        return new GenerationTenant(client, owner, orgId, ws, pool);
    }

    public static async Task<GenerationFootprint> FootprintAsync(this GenerationApiFixture fixture, GenerationTenant tenant)
    {
        await using var scope = fixture.Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var reserved = await db.Set<CreditAccount>().IgnoreQueryFilters().Where(a => a.OrganizationId == tenant.OrgId).SumAsync(a => a.Reserved, Ct);
        var holds = await db.Set<LedgerHold>().IgnoreQueryFilters().CountAsync(h => h.OrganizationId == tenant.OrgId, Ct);
        var jobs = await db.Set<GenerationJob>().IgnoreQueryFilters().CountAsync(j => j.OrganizationId == tenant.OrgId, Ct);
        var folder = Path.Combine(fixture.BlobRoot, "objects", "orgs", tenant.OrgId.ToString("N"), "generations");
        var blobs = Directory.Exists(folder) ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Length : 0;
        return new(reserved, holds, jobs, blobs);
    }

    /// <summary>
    /// A completed image generation with one stored output, written directly: making one through the API needs a
    /// provider, and these tests are about what the API lets a caller reach.
    /// </summary>
    public static Task<Guid> SeedJobAsync(this GenerationApiFixture fixture, Guid orgId, Guid workspaceId, Guid userId,
        GenerationKind kind = GenerationKind.Image, GenerationStatus status = GenerationStatus.Completed, string model = "gpt-image-1") =>
        fixture.Host.App.Services.SeedJobAsync(orgId, workspaceId, userId, kind, status, model);

    public static async Task<Guid> SeedJobAsync(this IServiceProvider services, Guid orgId, Guid workspaceId, Guid userId,
        GenerationKind kind = GenerationKind.Image, GenerationStatus status = GenerationStatus.Completed, string model = "gpt-image-1")
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var blobs = scope.ServiceProvider.GetRequiredService<AiHub.Infrastructure.Blobs.IBlobStore>();
        var now = DateTimeOffset.UtcNow;
        var id = Guid.CreateVersion7(now);
        var job = new GenerationJob
        {
            Id = id, OrganizationId = orgId, WorkspaceId = workspaceId, UserId = userId, Kind = kind, Provider = "openai", Model = model,
            Prompt = "a seeded lighthouse", Size = kind == GenerationKind.Video ? "1280x720" : "1024x1024", Seconds = kind == GenerationKind.Video ? 4 : null,
            Quality = kind == GenerationKind.Video ? null : "low", Count = 1, Status = status, CreatedAt = now, UpdatedAt = now,
            CompletedAt = status == GenerationStatus.Completed ? now : null,
        };
        db.Add(job);
        if (status == GenerationStatus.Completed)
        {
            var key = GenerationBlobs.Output(orgId, id, 0, kind == GenerationKind.Video ? "mp4" : "png");
            var thumb = GenerationBlobs.Thumbnail(orgId, id, 0);
            await blobs.PutAsync(key, new MemoryStream(Png), 1024 * 1024, Ct);
            await blobs.PutAsync(thumb, new MemoryStream(Png), 1024 * 1024, Ct);
            db.Add(new GenerationOutput
            {
                Id = Guid.NewGuid(), OrganizationId = orgId, JobId = id, Index = 0, BlobKey = key, ContentType = kind == GenerationKind.Video ? "video/mp4" : "image/png",
                SizeBytes = Png.Length, Width = 1, Height = 1, ThumbnailBlobKey = thumb, ThumbnailBytes = Png.Length, CreatedAt = now,
            });
        }
        await db.SaveChangesAsync(Ct);
        return id;
    }

    /// <summary>A request with a bearer token (a user's access token or an API key's secret).</summary>
    public static HttpRequestMessage Request(string bearer, HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return request;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body, string? ContentType)> SendAsync(HttpClient client, string bearer, HttpMethod method, string path,
        HttpContent? content = null)
    {
        using var request = Request(bearer, method, path, content);
        using var response = await client.SendAsync(request, Ct);
        var type = response.Content.Headers.ContentType?.MediaType;
        var text = type?.Contains("json", StringComparison.Ordinal) == true ? await response.Content.ReadAsStringAsync(Ct) : "";
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), type);
    }

    public static HttpContent Json(object body) => JsonContent.Create(body);

    /// <summary>A multipart form with the request's fields and, when given, an <c>inputImage</c> file.</summary>
    public static MultipartFormDataContent Form(IReadOnlyDictionary<string, string> fields, byte[]? image = null, string fileName = "ref.png", string type = "image/png")
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields)
            form.Add(new StringContent(value), name);
        if (image is not null)
        {
            var file = new ByteArrayContent(image);
            file.Headers.ContentType = new MediaTypeHeaderValue(type);
            form.Add(file, "inputImage", fileName);
        }
        return form;
    }
}
