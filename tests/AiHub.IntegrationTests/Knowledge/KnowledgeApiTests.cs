using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using AiHub.Infrastructure.Outbound;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Knowledge;

/// <summary>
/// A host whose blobs live in a folder of the test's own, whose imports may reach loopback; a second host keeps the
/// shipped default (private networks closed) behind a resolver where <c>public.import.test</c> is a public address
/// carried to <see cref="Site"/> and <c>rebind.import.test</c> resolves to loopback.
/// </summary>
public abstract class KnowledgeFixture(string provider) : IAsyncLifetime
{
    readonly string _blobs = Directory.CreateTempSubdirectory("aihub-blobs-").FullName;
    readonly SemaphoreSlim _closedStart = new(1, 1);
    IdentityHost? _closed;

    public IdentityHost Host { get; private set; } = null!;

    public LocalSite Site { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Site = await LocalSite.StartAsync(new Dictionary<string, (int Status, string Body, string? Location)>
        {
            ["/guide"] = (200, "<html><head><title>Beekeeping guide</title><script>var secret = 1;</script></head><body><h1>Hives</h1><p>Bees make honey from nectar.</p></body></html>", null),
            ["/hop"] = (302, "", "/guide"),
            ["/moved"] = (302, "", "http://169.254.169.254/latest/meta-data/"),
        });
        Host = await StartAsync(new Dictionary<string, string?>());
    }

    /// <summary>A host with the outbound policy as a deployment ships it: private networks closed to tenants.</summary>
    public async Task<IdentityHost> ClosedHostAsync()
    {
        await _closedStart.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            var network = new ImportNetwork(((IPEndPoint)Site.Endpoint).Port);
            return _closed ??= await StartAsync(new Dictionary<string, string?> { ["Outbound:AllowPrivateNetworks"] = "false" },
                s => s.AddSingleton<OutboundNetwork>(network));
        }
        finally
        {
            _closedStart.Release();
        }
    }

    Task<IdentityHost> StartAsync(Dictionary<string, string?> extra, Action<IServiceCollection>? services = null)
    {
        extra["Blobs:Path"] = _blobs;
        extra["Knowledge:UploadPartBytes"] = (5 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        extra["Jobs:MaxAttempts"] = "2";
        return IdentityHost.StartAsync(provider, extra, services);
    }

    public async ValueTask DisposeAsync()
    {
        if (_closed is not null)
            await _closed.DisposeAsync();
        await Host.DisposeAsync();
        await Site.DisposeAsync();
        _closedStart.Dispose();
        Directory.Delete(_blobs, recursive: true);
        GC.SuppressFinalize(this);
    }

    sealed class ImportNetwork(int sitePort) : OutboundNetwork
    {
        static readonly IPAddress Public = IPAddress.Parse("203.0.113.8");

        public override Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) => host switch
        {
            "public.import.test" => Task.FromResult<IPAddress[]>([Public]),
            "rebind.import.test" => Task.FromResult<IPAddress[]>([IPAddress.Loopback]),
            _ => base.ResolveAsync(host, ct),
        };

        public override Task<Stream> ConnectAsync(IPEndPoint endpoint, CancellationToken ct) =>
            base.ConnectAsync(endpoint.Address.Equals(Public) ? new IPEndPoint(IPAddress.Loopback, sitePort) : endpoint, ct);
    }
}

public sealed class SqliteKnowledgeFixture() : KnowledgeFixture("Sqlite");

public sealed class PostgresKnowledgeFixture() : KnowledgeFixture("Postgres");

/// <summary>Knowledge bases and their sources through the API: uploads of every kind, limits, bad input, imports and retries.</summary>
public abstract class KnowledgeApiTests(KnowledgeFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    readonly IdentityHost _host = fixture.Host;

    internal const string Handbook = """
        # Employee handbook

        ## Holidays

        Every employee has twenty-five days of paid holiday a year. Ask your manager two weeks ahead.

        ## Passwords

        To reset a forgotten password, open the sign-in page and choose "Forgot password". A link arrives by email.
        """;

    /// <summary>A PDF whose page N says "page N" and one fact of its own, so a page citation can be checked.</summary>
    internal static byte[] ThreePagePdf()
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        string[] facts =
        [
            "The lighthouse keeper lit the lamp every evening at dusk.",
            "The harbour froze in the winter of the great storm.",
            "Fishing boats returned to the harbour at dawn with silver herring.",
        ];
        for (var i = 0; i < facts.Length; i++)
        {
            var page = builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4);
            page.AddText($"Chapter {i + 1}", 14, new UglyToad.PdfPig.Core.PdfPoint(50, 780), font);
            page.AddText(facts[i], 11, new UglyToad.PdfPig.Core.PdfPoint(50, 750), font);
        }
        return builder.Build();
    }

    [Fact]
    public async Task The_oldest_knowledge_base_is_main_and_the_focused_one_is_remembered_per_member()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var first = await start.CreateBaseAsync("Course notes");
        var second = await start.CreateBaseAsync("Recordings");

        await SendAsync(start.Client, start.Owner, HttpMethod.Put, $"{start.Ws}/knowledge-bases/{second}/focus", expected: HttpStatusCode.NoContent);
        var bases = (await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases")).EnumerateArray().ToList();

        Assert.Equal([first, second], bases.Select(b => b.GetProperty("id").GetGuid()));
        Assert.Equal([true, false], bases.Select(b => b.GetProperty("main").GetBoolean()));
        Assert.Equal([false, true], bases.Select(b => b.GetProperty("focused").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, bases[0].GetProperty("embeddingModel").ValueKind);

        await SendAsync(start.Client, start.Owner, HttpMethod.Delete, $"{start.Ws}/knowledge-focus", expected: HttpStatusCode.NoContent);
        var after = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases/{second}");
        Assert.False(after.GetProperty("focused").GetBoolean());
    }

    [Fact]
    public async Task Bad_knowledge_base_requests_are_400s_naming_the_field_and_another_workspace_is_404()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var other = await KnowledgeStart.SignUpAsync(_host);
        var theirs = await other.CreateBaseAsync();

        await InvalidAsync(start, new { name = "" }, "name");
        await InvalidAsync(start, new { name = new string('x', 201) }, "name");
        await InvalidAsync(start, new { name = "Docs", embeddingModel = "nowhere/no-such-model" }, "embeddingModel");
        await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases/{theirs}", expected: HttpStatusCode.NotFound);
        await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"/api/orgs/{other.OrgId}/workspaces/{other.WorkspaceId}/knowledge-bases/{theirs}",
            expected: HttpStatusCode.NotFound);
    }

    static async Task InvalidAsync(KnowledgeStart start, object body, string field)
    {
        using var response = await start.Client.SendAsync(As(start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases", body), Ct);
        var problem = await ProblemAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, problem.ToString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task A_markdown_upload_is_sniffed_chunked_and_found_and_deleting_it_gives_its_storage_back()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        var usedBefore = (await start.QuotaAsync("storageBytes")).GetProperty("used").GetInt64();
        var bytes = Encoding.UTF8.GetBytes(Handbook);

        // A misleading name does not decide the type: the content does.
        var id = await start.AddAsync(kb, "handbook.md", bytes);
        var source = await start.CompletedAsync(id);

        Assert.Equal("markdown", source.GetProperty("format").GetString());
        Assert.Equal(100, source.GetProperty("progress").GetInt32());
        Assert.True(source.GetProperty("chunkCount").GetInt32() >= 1);
        Assert.Equal(usedBefore + bytes.Length, (await start.QuotaAsync("storageBytes")).GetProperty("used").GetInt64());
        var hits = (await start.SearchAsync("how do I reset my password")).GetProperty("hits").EnumerateArray().ToList();
        Assert.Contains("Forgot password", hits[0].GetProperty("text").GetString());
        Assert.Equal(id, hits[0].GetProperty("sourceId").GetGuid());

        await SendAsync(start.Client, start.Owner, HttpMethod.Delete, $"{start.Ws}/sources/{id}", expected: HttpStatusCode.NoContent);
        Assert.Equal(usedBefore, (await start.QuotaAsync("storageBytes")).GetProperty("used").GetInt64());
        Assert.Empty((await start.SearchAsync("reset password")).GetProperty("hits").EnumerateArray());
        await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}", expected: HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_pdf_is_cut_by_page_and_each_chunk_keeps_its_page_and_the_original_downloads_with_ranges()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        var pdf = ThreePagePdf();

        var id = await start.AddAsync(kb, "harbour.pdf", pdf);
        var source = await start.CompletedAsync(id);

        Assert.Equal(3, source.GetProperty("pageCount").GetInt32());
        var hit = (await start.SearchAsync("when did the harbour freeze")).GetProperty("hits").EnumerateArray().First();
        Assert.Equal(2, hit.GetProperty("page").GetInt32());
        Assert.EndsWith("#page=2", hit.GetProperty("link").GetString());

        using var whole = await start.Client.SendAsync(As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/content"), Ct);
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        Assert.Equal("application/pdf", whole.Content.Headers.ContentType?.MediaType);
        Assert.Equal(pdf, await whole.Content.ReadAsByteArrayAsync(Ct));
        using var range = As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{id}/content");
        range.Headers.Range = new RangeHeaderValue(10, 19);
        using var part = await start.Client.SendAsync(range, Ct);
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal(pdf[10..20], await part.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Content_that_is_no_supported_type_is_refused_whatever_its_name_and_an_empty_file_too_leaving_nothing()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 1, 2, 3, 4, 5, 6, 7, 8];

        using var mistyped = await start.UploadAsync(kb, "report.pdf", png);
        var problem = await ProblemAsync(mistyped);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, mistyped.StatusCode);
        Assert.Equal("urn:aihub:problem:unsupported-file", problem.GetProperty("type").GetString());
        Assert.Contains("PDF", problem.GetProperty("detail").GetString());

        using var empty = await start.UploadAsync(kb, "empty.txt", []);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);

        var sources = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases/{kb}/sources");
        Assert.Empty(sources.GetProperty("sources").EnumerateArray());
        Assert.Equal(0, (await start.QuotaAsync("storageBytes")).GetProperty("used").GetInt64());
    }

    [Fact]
    public async Task The_plans_file_size_and_storage_are_403s_whose_type_names_the_limit()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        using var admin = _host.Client();
        var root = await _host.SuperAdminAsync(admin);
        var code = "TINY" + Guid.NewGuid().ToString("N")[..6].ToUpperInvariant();
        await SendAsync(admin, root, HttpMethod.Put, $"/api/admin/plans/{code}", new
        {
            name = "Tiny", chatQuestions = 3, chatPeriod = "day", storageBytes = 600L, videos = 1, priceCents = 0, currency = "USD", grant = 0m, active = true,
            sortOrder = 50, maxFileBytes = 400L,
        }, HttpStatusCode.Created);
        await SendAsync(admin, root, HttpMethod.Put, $"/api/admin/orgs/{start.OrgId}/plan", new { code });

        using var tooBig = await start.UploadAsync(kb, "big.txt", Encoding.UTF8.GetBytes(new string('a', 500)));
        Assert.Equal(HttpStatusCode.Forbidden, tooBig.StatusCode);
        Assert.Equal("urn:aihub:problem:file-too-large", (await ProblemAsync(tooBig)).GetProperty("type").GetString());

        await start.AddAsync(kb, "first.txt", Encoding.UTF8.GetBytes(new string('b', 350) + " words"));
        using var full = await start.UploadAsync(kb, "second.txt", Encoding.UTF8.GetBytes(new string('c', 350) + " words"));
        Assert.Equal(HttpStatusCode.Forbidden, full.StatusCode);
        Assert.Equal("urn:aihub:problem:storage-limit-exceeded", (await ProblemAsync(full)).GetProperty("type").GetString());
        Assert.Single((await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases/{kb}/sources")).GetProperty("sources").EnumerateArray());
    }

    [Fact]
    public async Task A_corrupt_pdf_ends_failed_with_the_reason_in_words_and_retry_runs_it_again()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        var pdf = ThreePagePdf();
        var corrupt = pdf[..(pdf.Length / 3)].Concat(Enumerable.Repeat((byte)0x5A, 200)).ToArray();

        var id = await start.AddAsync(kb, "broken.pdf", corrupt);
        var failed = await start.SettledAsync(id);

        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Contains("PDF", failed.GetProperty("lastError").GetString());
        var retried = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/sources/{id}/retry", expected: HttpStatusCode.Accepted);
        Assert.Equal("pending", retried.GetProperty("status").GetString());
        Assert.Equal("failed", (await start.SettledAsync(id)).GetProperty("status").GetString());

        var good = await start.AddAsync(kb, "handbook.md", Encoding.UTF8.GetBytes(Handbook));
        await start.CompletedAsync(good);
        using var again = await start.Client.SendAsync(As(start.Owner, HttpMethod.Post, $"{start.Ws}/sources/{good}/retry"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task A_resumable_upload_continues_after_an_interruption_and_refuses_to_complete_with_a_part_missing()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        // 5 MiB of prose and a tail: two parts of a text document.
        var line = Encoding.UTF8.GetBytes("The orchard blossomed in April and the bees came back to the hives.\n");
        var content = new byte[5 * 1024 * 1024 + 1000];
        for (var i = 0; i < content.Length; i++)
            content[i] = line[i % line.Length];

        var upload = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/uploads",
            new { fileName = "orchard.txt", sizeBytes = content.Length }, HttpStatusCode.Created);
        var uploadId = upload.GetProperty("id").GetGuid();
        var partBytes = upload.GetProperty("partBytes").GetInt64();
        Assert.Equal(2, upload.GetProperty("partCount").GetInt32());

        await PutPartAsync(start, uploadId, 2, content[(int)partBytes..]);
        using (var early = await start.Client.SendAsync(As(start.Owner, HttpMethod.Post, $"{start.Ws}/uploads/{uploadId}/complete"), Ct))
            Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        // The client lost its connection: it asks what arrived and sends the rest (a part sent twice replaces itself).
        var status = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/uploads/{uploadId}");
        Assert.Equal([2], status.GetProperty("received").EnumerateArray().Select(p => p.GetProperty("number").GetInt32()));
        await PutPartAsync(start, uploadId, 1, content[..(int)partBytes]);
        await PutPartAsync(start, uploadId, 1, content[..(int)partBytes]);
        using (var shortPart = await start.Client.SendAsync(PartRequest(start, uploadId, 1, content[..100]), Ct))
            Assert.Equal(HttpStatusCode.BadRequest, shortPart.StatusCode);

        var source = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/uploads/{uploadId}/complete", expected: HttpStatusCode.Accepted);
        var done = await start.CompletedAsync(source.GetProperty("id").GetGuid(), seconds: 180);
        Assert.Equal(content.Length, done.GetProperty("sizeBytes").GetInt64());
        using var whole = await start.Client.SendAsync(As(start.Owner, HttpMethod.Get, $"{start.Ws}/sources/{done.GetProperty("id").GetGuid()}/content"), Ct);
        Assert.Equal(content, await whole.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task An_upload_abandoned_past_its_lifetime_is_swept_with_its_parts()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        var upload = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/uploads",
            new { fileName = "left.txt", sizeBytes = 20 }, HttpStatusCode.Created);
        var uploadId = upload.GetProperty("id").GetGuid();
        await PutPartAsync(start, uploadId, 1, Encoding.UTF8.GetBytes("twenty bytes of text"));

        await using (var scope = _host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AiHub.Data.AppDbContext>();
            var session = await db.Set<AiHub.Knowledge.UploadSession>().SingleAsync(u => u.Id == uploadId, Ct);
            db.Entry(session).Property(u => u.ExpiresAt).CurrentValue = DateTimeOffset.UtcNow.AddMinutes(-1);
            await db.SaveChangesAsync(Ct);
            Assert.True(await scope.ServiceProvider.GetRequiredService<AiHub.Knowledge.Sources.UploadSweep>().SweepAsync(Ct) >= 1);
            Assert.False(await db.Set<AiHub.Knowledge.KnowledgeSource>().AnyAsync(s => s.Id == upload.GetProperty("sourceId").GetGuid(), Ct));
        }
        await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/uploads/{uploadId}", expected: HttpStatusCode.NotFound);
    }

    static HttpRequestMessage PartRequest(KnowledgeStart start, Guid uploadId, int number, byte[] bytes)
    {
        var request = As(start.Owner, HttpMethod.Put, $"{start.Ws}/uploads/{uploadId}/parts/{number}");
        request.Content = new ByteArrayContent(bytes);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return request;
    }

    static async Task PutPartAsync(KnowledgeStart start, Guid uploadId, int number, byte[] bytes)
    {
        using var response = await start.Client.SendAsync(PartRequest(start, uploadId, number, bytes), Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/admin")]
    [InlineData("http://10.0.0.1/")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://localhost/")]
    [InlineData("file:///etc/passwd")]
    public async Task Imports_of_loopback_private_and_metadata_addresses_are_refused_by_default(string url)
    {
        var host = await fixture.ClosedHostAsync();
        var start = await KnowledgeStart.SignUpAsync(host);
        var kb = await start.CreateBaseAsync();

        using var response = await start.Client.SendAsync(As(start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/imports", new { url }), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty((await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"{start.Ws}/knowledge-bases/{kb}/sources")).GetProperty("sources").EnumerateArray());
    }

    [Fact]
    public async Task With_private_networks_closed_a_public_site_imports_but_a_name_resolving_inward_and_a_redirect_to_metadata_fail()
    {
        var host = await fixture.ClosedHostAsync();
        var start = await KnowledgeStart.SignUpAsync(host);
        var kb = await start.CreateBaseAsync();

        var hop = await ImportAsync(start, kb, "http://public.import.test/hop");
        Assert.Equal("Beekeeping guide", (await start.CompletedAsync(hop)).GetProperty("title").GetString());

        // A public-looking name that resolves to loopback (what DNS rebinding does): the connection itself is refused.
        var rebound = await start.SettledAsync(await ImportAsync(start, kb, "http://rebind.import.test/guide"));
        Assert.Equal("failed", rebound.GetProperty("status").GetString());
        Assert.Contains("does not let organisations reach", rebound.GetProperty("lastError").GetString());

        var moved = await start.SettledAsync(await ImportAsync(start, kb, "http://public.import.test/moved"));
        Assert.Equal("failed", moved.GetProperty("status").GetString());
        Assert.Contains("another site", moved.GetProperty("lastError").GetString());
    }

    static async Task<Guid> ImportAsync(KnowledgeStart start, Guid kb, string url) =>
        (await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/imports", new { url }, HttpStatusCode.Accepted))
        .GetProperty("id").GetGuid();

    [Fact]
    public async Task A_page_imported_from_a_url_is_ingested_under_its_title_and_a_redirect_to_another_site_is_refused()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();
        var site = fixture.Site;

        var imported = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/imports",
            new { url = site.Url("/guide") }, HttpStatusCode.Accepted);
        var done = await start.CompletedAsync(imported.GetProperty("id").GetGuid());
        Assert.Equal("Beekeeping guide", done.GetProperty("title").GetString());
        Assert.Equal("html", done.GetProperty("format").GetString());
        var hit = (await start.SearchAsync("what do bees make")).GetProperty("hits").EnumerateArray().First();
        Assert.Contains("honey", hit.GetProperty("text").GetString());
        Assert.DoesNotContain("secret", hit.GetProperty("text").GetString());

        var redirected = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"{start.Ws}/knowledge-bases/{kb}/imports",
            new { url = site.Url("/moved") }, HttpStatusCode.Accepted);
        var refused = await start.SettledAsync(redirected.GetProperty("id").GetGuid());
        Assert.Equal("failed", refused.GetProperty("status").GetString());
        Assert.Contains("another site", refused.GetProperty("lastError").GetString());
    }

    [Fact]
    public async Task A_guest_reads_the_knowledge_but_cannot_add_to_it()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var orgId = await CreateOrgAsync(start.Client, start.Owner, "Creator");
        var workspaces = await SendAsync(start.Client, start.Owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        var creator = start with { OrgId = orgId, WorkspaceId = workspaces.EnumerateArray().First().GetProperty("id").GetGuid() };
        var kb = await creator.CreateBaseAsync("Lessons");
        var guestEmail = NewEmail("kb-guest");
        var guest = await _host.NewUserAsync(start.Client, guestEmail);
        await JoinAsync(_host, start.Client, start.Owner, orgId, guestEmail, guest, role: "Guest");
        var audience = creator with { Owner = guest };

        Assert.Single((await SendAsync(start.Client, guest, HttpMethod.Get, $"{creator.Ws}/knowledge-bases")).EnumerateArray());
        using var upload = await audience.UploadAsync(kb, "notes.md", Encoding.UTF8.GetBytes(Handbook));
        Assert.Equal(HttpStatusCode.Forbidden, upload.StatusCode);
        await SendAsync(start.Client, guest, HttpMethod.Post, $"{creator.Ws}/knowledge-bases", new { name = "Mine" }, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_zip_that_is_not_a_word_document_is_refused_and_a_docx_zip_bomb_ends_failed_quickly()
    {
        var start = await KnowledgeStart.SignUpAsync(_host);
        var kb = await start.CreateBaseAsync();

        using var zip = await start.UploadAsync(kb, "archive.docx", ZipOf(("readme.txt", 100)));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, zip.StatusCode);

        var bomb = await start.AddAsync(kb, "bomb.docx", ZipOf(("[Content_Types].xml", 10), ("word/document.xml", 300 * 1024 * 1024)));
        var failed = await start.SettledAsync(bomb, seconds: 60);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.False(string.IsNullOrWhiteSpace(failed.GetProperty("lastError").GetString()));
    }

    /// <summary>A zip whose entries are that many zero bytes each: tiny compressed, huge inflated.</summary>
    static byte[] ZipOf(params (string Name, long Bytes)[] entries)
    {
        using var memory = new MemoryStream();
        using (var archive = new System.IO.Compression.ZipArchive(memory, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            var zeros = new byte[1024 * 1024];
            foreach (var (name, bytes) in entries)
            {
                using var entry = archive.CreateEntry(name, System.IO.Compression.CompressionLevel.Optimal).Open();
                for (long written = 0; written < bytes; written += zeros.Length)
                    entry.Write(zeros, 0, (int)Math.Min(zeros.Length, bytes - written));
            }
        }
        return memory.ToArray();
    }
}

public sealed class KnowledgeApiOnSqlite(SqliteKnowledgeFixture fixture) : KnowledgeApiTests(fixture), IClassFixture<SqliteKnowledgeFixture>;

public sealed class KnowledgeApiOnPostgres(PostgresKnowledgeFixture fixture) : KnowledgeApiTests(fixture), IClassFixture<PostgresKnowledgeFixture>;

/// <summary>A tiny web site on loopback: each path answers a status, a body and maybe a Location.</summary>
public sealed class LocalSite : IAsyncDisposable
{
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;

    LocalSite(TcpListener listener, IReadOnlyDictionary<string, (int Status, string Body, string? Location)> pages)
    {
        _listener = listener;
        _loop = Task.Run(() => ServeAsync(pages));
    }

    public static Task<LocalSite> StartAsync(IReadOnlyDictionary<string, (int Status, string Body, string? Location)> pages)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return Task.FromResult(new LocalSite(listener, pages));
    }

    public EndPoint Endpoint => _listener.LocalEndpoint;

    public string Url(string path) => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}{path}";

    async Task ServeAsync(IReadOnlyDictionary<string, (int Status, string Body, string? Location)> pages)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                    var requestLine = await reader.ReadLineAsync() ?? "";
                    while (!string.IsNullOrEmpty(await reader.ReadLineAsync()))
                    {
                    }
                    var path = requestLine.Split(' ') is { Length: > 1 } parts ? parts[1] : "/";
                    var (status, body, location) = pages.TryGetValue(path, out var page) ? page : (404, "not found", null);
                    var bytes = Encoding.UTF8.GetBytes(body);
                    var head = $"HTTP/1.1 {status} X\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n"
                        + (location is null ? "" : $"Location: {location}\r\n") + "\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                    await stream.WriteAsync(bytes);
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
