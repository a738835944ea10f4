using System.Net;
using System.Security.Cryptography;
using AiHub.Infrastructure.Blobs;
using AiHub.IntegrationTests.Support;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Blobs;

/// <summary>What every blob store does, run on disk (embedded) and on an S3-compatible server (a cluster).</summary>
[Collection(BlobAllocations.Name)]
public abstract class BlobStoreContract(BlobHost host)
{
    const int MiB = 1024 * 1024;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IBlobStore Store => host.Store;

    static string NewKey(string name = "original") => $"orgs/{Guid.NewGuid():N}/sources/{Guid.NewGuid():N}/{name}";

    [Fact]
    public async Task Put_read_info_and_delete()
    {
        var key = NewKey();
        var content = Bytes(10_000, seed: 1);

        var written = await Store.PutAsync(key, new MemoryStream(content), 1 * MiB, Ct);
        var info = await Store.InfoAsync(key, Ct);
        var read = await ReadAllAsync(key);
        await Store.PutAsync(key, new MemoryStream(Bytes(10, seed: 2)), 1 * MiB, Ct);
        var replaced = await ReadAllAsync(key);
        await Store.DeleteAsync(key, Ct);
        await Store.DeleteAsync(key, Ct);

        Assert.Equal(10_000, written);
        Assert.Equal(new BlobInfo(key, 10_000, info!.LastModified), info);
        Assert.InRange(info.LastModified, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.Equal(content, read);
        Assert.Equal(Bytes(10, seed: 2), replaced);
        Assert.Null(await Store.InfoAsync(key, Ct));
        Assert.Null(await Store.OpenReadAsync(key, Ct));
    }

    [Fact]
    public async Task Delete_prefix_removes_the_keys_under_it_and_no_other()
    {
        var root = $"orgs/{Guid.NewGuid():N}";
        string[] under = [$"{root}/a/1", $"{root}/a/deep/2"];
        string[] kept = [$"{root}/ab/3", $"{root}/b/4"];
        foreach (var key in under.Concat(kept))
            await Store.PutAsync(key, new MemoryStream(Bytes(100, seed: 3)), MiB, Ct);

        await Store.DeletePrefixAsync($"{root}/a/", Ct);

        foreach (var key in under)
            Assert.Null(await Store.InfoAsync(key, Ct));
        foreach (var key in kept)
            Assert.NotNull(await Store.InfoAsync(key, Ct));
    }

    [Theory]
    [InlineData(2_000, 1_000)]
    [InlineData(12 * MiB, 9 * MiB)]   // past the first part of an S3 multipart upload
    public async Task Content_past_the_limit_throws_and_leaves_nothing(int size, int limit)
    {
        var key = NewKey();

        var thrown = await Assert.ThrowsAsync<BlobTooLargeException>(() =>
            Store.PutAsync(key, new GeneratedStream(size, seed: 4), limit, Ct));

        Assert.Equal(limit, thrown.MaxBytes);
        Assert.Null(await Store.InfoAsync(key, Ct));
        Assert.Empty(await host.LeftoversAsync(key));
    }

    [Fact]
    public async Task A_multipart_upload_resumes_after_an_interruption_and_a_part_sent_twice()
    {
        var key = NewKey("video.mp4");
        var first = Bytes(5 * MiB, seed: 5);
        var second = Bytes(5 * MiB, seed: 6);
        var third = Bytes(300_000, seed: 7);
        var uploadId = await Store.StartMultipartAsync(key, Ct);

        await Store.PutPartAsync(key, uploadId, 1, new NonSeekable(first), first.Length, Ct);
        // The connection drops halfway through part 2: the store must not keep half a part.
        await Assert.ThrowsAnyAsync<Exception>(() =>
            Store.PutPartAsync(key, uploadId, 2, new NonSeekable(second, failAfter: 2 * MiB), second.Length, Ct));
        var afterInterruption = await Store.ListPartsAsync(key, uploadId, Ct);
        // The client resumes: part 2 sent again in full (twice, as a retry after a lost answer would), then the last part.
        await Store.PutPartAsync(key, uploadId, 2, new NonSeekable(Bytes(5 * MiB, seed: 99)), 5 * MiB, Ct);
        await Store.PutPartAsync(key, uploadId, 2, new NonSeekable(second), second.Length, Ct);
        await Store.PutPartAsync(key, uploadId, 3, new NonSeekable(third), third.Length, Ct);
        var parts = await Store.ListPartsAsync(key, uploadId, Ct);
        var size = await Store.CompleteMultipartAsync(key, uploadId, parts, Ct);

        Assert.Equal([(1, (long)first.Length)], afterInterruption.Select(p => (p.Number, p.Size)));
        Assert.Equal([(1, (long)first.Length), (2, second.Length), (3, third.Length)], parts.Select(p => (p.Number, p.Size)));
        Assert.Equal(first.Length + second.Length + third.Length, size);
        Assert.Equal(first.Concat(second).Concat(third).ToArray(), await ReadAllAsync(key));
        Assert.Empty(await host.LeftoversAsync(key));
    }

    [Fact]
    public async Task A_part_smaller_than_the_minimum_cannot_be_followed_by_another()
    {
        var key = NewKey();
        var uploadId = await Store.StartMultipartAsync(key, Ct);
        var small = await Store.PutPartAsync(key, uploadId, 1, new MemoryStream(Bytes(1_000, seed: 8)), 1_000, Ct);
        var last = await Store.PutPartAsync(key, uploadId, 2, new MemoryStream(Bytes(1_000, seed: 9)), 1_000, Ct);

        await Assert.ThrowsAsync<BlobUploadException>(() => Store.CompleteMultipartAsync(key, uploadId, [small, last], Ct));
        await Store.AbortMultipartAsync(key, uploadId, Ct);

        Assert.Equal(5 * MiB, Store.MinPartBytes);
        Assert.Null(await Store.InfoAsync(key, Ct));
        Assert.Empty(await host.LeftoversAsync(key));
    }

    [Fact]
    public async Task Twenty_megabytes_stream_in_without_being_held_in_memory()
    {
        const int size = 20 * MiB;
        var key = NewKey();

        // The counter is the whole process's: the host's own start-up work may land in one put, but a store that holds
        // the content allocates its size in every put, so the least of three is the store's doing.
        var least = long.MaxValue;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var written = await Store.PutAsync(key, new GeneratedStream(size, seed: 10), 100 * MiB, Ct);
            least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
            Assert.Equal(size, written);
        }

        Assert.True(least < size / 2, $"Putting {size:N0} bytes allocated at least {least:N0} bytes.");
        await using var read = (await Store.OpenReadAsync(key, Ct))!;
        Assert.Equal(await SHA256.HashDataAsync(new GeneratedStream(size, seed: 10), Ct), await SHA256.HashDataAsync(read, Ct));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("orgs/../../escape")]
    [InlineData("/tmp/aihub-blob-escape")]
    [InlineData("orgs//double")]
    [InlineData("orgs/./dot")]
    [InlineData("orgs\\back")]
    [InlineData("orgs/a b")]
    [InlineData("")]
    public async Task Keys_that_could_leave_the_store_are_refused(string key)
    {
        await Assert.ThrowsAsync<InvalidBlobKeyException>(() => Store.PutAsync(key, new MemoryStream([1, 2, 3]), MiB, Ct));
        await Assert.ThrowsAsync<InvalidBlobKeyException>(() => Store.OpenReadAsync(key, Ct));
        await Assert.ThrowsAsync<InvalidBlobKeyException>(() => Store.DeleteAsync(key, Ct));
        await Assert.ThrowsAsync<InvalidBlobKeyException>(() => Store.DeletePrefixAsync(key, Ct));
        await Assert.ThrowsAsync<InvalidBlobKeyException>(() => Store.StartMultipartAsync(key, Ct));
        Assert.Throws<InvalidBlobKeyException>(() => Store.PresignedGetUrl(key, "a.txt", "text/plain", TimeSpan.FromMinutes(1)));
        Assert.False(File.Exists("/tmp/aihub-blob-escape"));
    }

    [Fact]
    public async Task A_download_is_the_blob_with_its_name_and_type()
    {
        var key = NewKey();
        var content = Bytes(50_000, seed: 11);
        await Store.PutAsync(key, new MemoryStream(content), MiB, Ct);
        using var client = host.App.CreateClient(new() { AllowAutoRedirect = false });

        using var response = await client.GetAsync(BlobProbe.Url(key, "Report été.pdf", "application/pdf", inline: false), Ct);
        using var download = await FollowAsync(response);

        Assert.Equal(host.Presigns ? HttpStatusCode.Found : HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(content, await download.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal("application/pdf", download.Content.Headers.ContentType?.MediaType);
        var disposition = download.Content.Headers.ContentDisposition!;
        Assert.Equal("attachment", disposition.DispositionType);
        Assert.Equal("Report été.pdf", disposition.FileNameStar);
    }

    [Fact]
    public async Task A_video_seeks_with_a_range_request()
    {
        var key = NewKey("video.mp4");
        var content = Bytes(200_000, seed: 12);
        await Store.PutAsync(key, new MemoryStream(content), MiB, Ct);
        using var client = host.App.CreateClient(new() { AllowAutoRedirect = false });

        using var first = await client.GetAsync(BlobProbe.Url(key, "talk.mp4", "video/mp4", inline: true), Ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, first.Headers.Location ?? new Uri(client.BaseAddress!, BlobProbe.Url(key, "talk.mp4", "video/mp4", inline: true)));
        request.Headers.Range = new(100_000, 100_099);
        using var ranged = host.Presigns ? await new HttpClient().SendAsync(request, Ct) : await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, ranged.StatusCode);
        Assert.Equal(content[100_000..100_100], await ranged.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal("bytes 100000-100099/200000", ranged.Content.Headers.ContentRange?.ToString());
        Assert.Equal("inline", ranged.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("video/mp4", ranged.Content.Headers.ContentType?.MediaType);
        if (!host.Presigns)
            Assert.Contains("bytes", first.Headers.AcceptRanges);
    }

    [Fact]
    public async Task A_download_of_a_blob_that_is_gone_is_a_not_found_problem()
    {
        using var client = host.App.CreateClient(new() { AllowAutoRedirect = false });

        using var response = await client.GetAsync(BlobProbe.Url(NewKey(), "gone.txt", "text/plain", inline: false), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("urn:aihub:problem:not-found", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public void Presigned_urls_exist_only_on_S3()
    {
        var url = Store.PresignedGetUrl(NewKey(), "a.txt", "text/plain", TimeSpan.FromMinutes(5));

        Assert.Equal(host.Presigns, url is not null);
    }

    async Task<byte[]> ReadAllAsync(string key)
    {
        await using var stream = (await Store.OpenReadAsync(key, Ct))!;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    static async Task<HttpResponseMessage> FollowAsync(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.Found)
            return response;
        using var http = new HttpClient();
        return await http.GetAsync(response.Headers.Location, Ct);
    }

    static byte[] Bytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BlobAllocations
{
    public const string Name = "Blob stores (alone, so that allocations can be measured)";
}

/// <summary>One AiHub host whose blob store is under test, with an endpoint that serves downloads as a feature will.</summary>
public abstract class BlobHost : IAsyncLifetime
{
    TestDatabase? _database;

    public AiHubApp App { get; private set; } = null!;

    internal IBlobStore Store => App.Services.GetRequiredService<IBlobStore>();

    public abstract bool Presigns { get; }

    protected abstract Task<Dictionary<string, string?>> SettingsAsync();

    /// <summary>What a failed or finished upload left behind: temporary files, unfinished multipart uploads.</summary>
    public abstract Task<IReadOnlyList<string>> LeftoversAsync(string key);

    public async ValueTask InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        App = AiHubApp.On(_database, await SettingsAsync(), services => services.AddSingleton<IStartupFilter, BlobProbe>());
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        if (_database is not null)
            await _database.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

internal sealed class BlobProbe : IStartupFilter
{
    const string Path = "/api/probe/blobs";

    public static string Url(string key, string name, string type, bool inline) =>
        $"{Path}/{key}?name={Uri.EscapeDataString(name)}&type={Uri.EscapeDataString(type)}&inline={inline}";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        var routes = (IEndpointRouteBuilder)app.Properties["__EndpointRouteBuilder"]!;
        routes.MapGet(Path + "/{**key}", (string key, string name, string type, bool inline, IBlobStore store, CancellationToken ct) =>
            BlobDownloads.ServeAsync(store, key, name, type, inline, ct));
    };
}

public sealed class DiskBlobHost : BlobHost
{
    static readonly string[] Scratch = ["tmp", "uploads"];

    public override bool Presigns => false;

    /// <summary>No Blobs:Path: the store must find its folder beside the embedded database.</summary>
    protected override Task<Dictionary<string, string?>> SettingsAsync() => Task.FromResult(new Dictionary<string, string?>());

    public override Task<IReadOnlyList<string>> LeftoversAsync(string key)
    {
        var root = ((DiskBlobStore)Store).Root;
        var left = Scratch
            .Select(folder => System.IO.Path.Combine(root, folder))
            .Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories))
            .ToList();
        return Task.FromResult<IReadOnlyList<string>>(left);
    }
}

public sealed class S3BlobHost : BlobHost
{
    readonly string _bucket = TestS3.NewBucket();

    public override bool Presigns => true;

    protected override Task<Dictionary<string, string?>> SettingsAsync() => TestS3.SettingsAsync(_bucket);

    public override async Task<IReadOnlyList<string>> LeftoversAsync(string key)
    {
        using var client = new AmazonS3Client(new BasicAWSCredentials(TestS3.AccessKey, TestS3.SecretKey),
            new AmazonS3Config { ServiceURL = await TestS3.UrlAsync(), ForcePathStyle = true });
        var uploads = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = _bucket, Prefix = key });
        return (uploads.MultipartUploads ?? []).Select(u => u.Key + " " + u.UploadId).ToList();
    }
}

public sealed class BlobStoreOnDisk(DiskBlobHost host) : BlobStoreContract(host), IClassFixture<DiskBlobHost>
{
    [Fact]
    public async Task The_folder_is_beside_the_database_and_readable_by_the_owner_alone()
    {
        var store = (DiskBlobStore)host.Store;
        await store.ProbeAsync(TestContext.Current.CancellationToken);

        Assert.Equal("blobs", System.IO.Path.GetFileName(store.Root));
        Assert.True(File.Exists(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(store.Root)!, "aihub.db")));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(store.Root));
    }

    [Fact]
    public async Task Blob_files_are_readable_by_the_owner_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        var key = $"orgs/{Guid.NewGuid():N}/private";
        await host.Store.PutAsync(key, new MemoryStream([1, 2, 3]), 10, ct);
        var path = System.IO.Path.Combine(((DiskBlobStore)host.Store).Root, "objects", key);

        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(System.IO.Path.GetDirectoryName(path)!));
        }
    }
}

public sealed class BlobStoreOnS3(S3BlobHost host) : BlobStoreContract(host), IClassFixture<S3BlobHost>;

/// <summary>A request body as ASP.NET hands it over: no length, no seeking; optionally the connection drops partway.</summary>
internal sealed class NonSeekable(byte[] content, int failAfter = int.MaxValue) : Stream
{
    int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= failAfter)
            throw new IOException("The client's connection dropped.");
        var n = Math.Min(buffer.Length, Math.Min(content.Length, failAfter) - _position);
        content.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Deterministic content of any length made as it is read, so a test holds none of it.</summary>
internal sealed class GeneratedStream(long length, int seed) : Stream
{
    long _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = (int)Math.Min(buffer.Length, length - _position);
        for (var i = 0; i < n; i++)
        {
            var at = _position + i;
            buffer[i] = (byte)(at * 31 + seed + (at >> 11));
        }
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
