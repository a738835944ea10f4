using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;
using Microsoft.Data.Sqlite;

namespace AiHub.Infrastructure.Blobs;

/// <summary>
/// Blobs as files under one folder (0700, files 0600): <c>objects/</c> holds the blobs by key, <c>uploads/</c> one
/// folder per multipart upload, <c>tmp/</c> what is being written, renamed into place only once complete.
/// </summary>
internal sealed class DiskBlobStore : IBlobStore
{
    const int CopyBufferBytes = 81_920;
    readonly string _objects;
    readonly string _uploads;
    readonly string _temporary;

    public DiskBlobStore(string root)
    {
        Root = Path.GetFullPath(root);
        _objects = Path.Combine(Root, "objects");
        _uploads = Path.Combine(Root, "uploads");
        _temporary = Path.Combine(Root, "tmp");
    }

    public string Root { get; }

    public long MinPartBytes => 5L * 1024 * 1024;

    /// <summary>The folder the settings name, or <c>blobs</c> beside the embedded database's file.</summary>
    public static string ResolveRoot(BlobSettings blobs, DatabaseSettings database, string contentRoot)
    {
        if (!string.IsNullOrWhiteSpace(blobs.Path))
            return Path.GetFullPath(blobs.Path, contentRoot);
        var dataFolder = Path.GetFullPath("data", contentRoot);
        if (database.Provider == DatabaseProvider.Sqlite)
        {
            var source = new SqliteConnectionStringBuilder(database.ConnectionString ?? DataExtensions.DefaultSqlite).DataSource;
            if (!string.IsNullOrEmpty(source) && source != ":memory:" && !source.StartsWith("file:", StringComparison.Ordinal))
                dataFolder = Path.GetDirectoryName(Path.GetFullPath(source, contentRoot))!;
        }
        return Path.Combine(dataFolder, "blobs");
    }

    public async Task<long> PutAsync(string key, Stream content, long maxBytes, CancellationToken ct)
    {
        var target = ObjectPath(key);
        var (temporary, file) = CreateTemporary();
        try
        {
            long written;
            await using (file)
                written = await CopyAsync(content, file, maxBytes, null, ct);
            MoveIntoPlace(temporary, target);
            return written;
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken ct)
    {
        var path = ObjectPath(key);
        try
        {
            // Delete is shared so that a blob being read can still be replaced or removed.
            Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, useAsync: true);
            return Task.FromResult<Stream?>(stream);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task<BlobInfo?> InfoAsync(string key, CancellationToken ct)
    {
        var file = new FileInfo(ObjectPath(key));
        return Task.FromResult(file.Exists ? new BlobInfo(key, file.Length, file.LastWriteTimeUtc) : null);
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        File.Delete(ObjectPath(key));
        return Task.CompletedTask;
    }

    public Task DeletePrefixAsync(string prefix, CancellationToken ct)
    {
        BlobKeys.ValidatePrefix(prefix);
        var slash = prefix.LastIndexOf('/');
        var folder = slash < 0 ? _objects : Path.Combine(_objects, prefix[..slash]);
        if (!Directory.Exists(folder))
            return Task.CompletedTask;
        foreach (var path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            ct.ThrowIfCancellationRequested();
            if (KeyOf(path).StartsWith(prefix, StringComparison.Ordinal))
                File.Delete(path);
        }
        RemoveEmptyFolders(folder);
        return Task.CompletedTask;
    }

    public Task<string> StartMultipartAsync(string key, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        var uploadId = Guid.NewGuid().ToString("N");
        var folder = Path.Combine(_uploads, uploadId);
        CreateFolder(folder);
        using (var file = OwnerOnly.CreateFile(Path.Combine(folder, "key")))
            file.Write(System.Text.Encoding.UTF8.GetBytes(key));
        return Task.FromResult(uploadId);
    }

    public async Task<BlobPart> PutPartAsync(string key, string uploadId, int partNumber, Stream content, long length, CancellationToken ct)
    {
        if (partNumber is < 1 or > 10_000)
            throw new BlobUploadException($"Part numbers go from 1 to 10,000; {partNumber} is out of range.");
        var folder = UploadFolder(key, uploadId);
        var (temporary, file) = CreateTemporary();
        try
        {
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            long written;
            await using (file)
                written = await CopyAsync(content, file, length, md5, ct);
            // A part cut short by a dropped connection is not kept, so that listing the parts tells the client what to resend.
            if (written != length)
                throw new BlobUploadException($"Part {partNumber} ended after {written:N0} of its {length:N0} bytes.");
            var etag = Convert.ToHexStringLower(md5.GetHashAndReset());
            foreach (var earlier in Directory.EnumerateFiles(folder, PartPrefix(partNumber) + "*"))
                File.Delete(earlier);
            File.Move(temporary, Path.Combine(folder, PartPrefix(partNumber) + etag));
            return new BlobPart(partNumber, etag, written);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public Task<IReadOnlyList<BlobPart>> ListPartsAsync(string key, string uploadId, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<BlobPart>>(Parts(UploadFolder(key, uploadId)).Select(p => p.Part).ToList());

    public async Task<long> CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct)
    {
        var folder = UploadFolder(key, uploadId);
        var stored = Parts(folder).ToDictionary(p => p.Part.Number);
        if (parts.Count == 0)
            throw new BlobUploadException("An upload completes with at least one part.");
        var files = new List<string>(parts.Count);
        for (var i = 0; i < parts.Count; i++)
        {
            var part = parts[i];
            if (i > 0 && part.Number <= parts[i - 1].Number)
                throw new BlobUploadException("Parts are listed in increasing order of their numbers.");
            if (!stored.TryGetValue(part.Number, out var have) || !string.Equals(have.Part.ETag, part.ETag.Trim('"'), StringComparison.OrdinalIgnoreCase))
                throw new BlobUploadException($"Part {part.Number} was not received, or was received with other content.");
            // The same limit as S3, so that a client written against one store works with the other.
            if (i < parts.Count - 1 && have.Part.Size < MinPartBytes)
                throw new BlobUploadException($"Part {part.Number} has {have.Part.Size:N0} bytes; every part but the last needs at least {MinPartBytes:N0}.");
            files.Add(have.Path);
        }
        var (temporary, file) = CreateTemporary();
        try
        {
            long written = 0;
            await using (file)
            {
                foreach (var path in files)
                {
                    await using var part = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferBytes, useAsync: true);
                    written += await CopyAsync(part, file, long.MaxValue, null, ct);
                }
            }
            MoveIntoPlace(temporary, ObjectPath(key));
            Directory.Delete(folder, recursive: true);
            return written;
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        var folder = Path.Combine(_uploads, ValidUploadId(uploadId));
        if (Directory.Exists(folder))
            Directory.Delete(folder, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>Writes and removes a small file: what the readiness check asks of the folder.</summary>
    public async Task ProbeAsync(CancellationToken ct)
    {
        var (temporary, file) = CreateTemporary();
        await using (file)
            await file.WriteAsync("ok"u8.ToArray(), ct);
        File.Delete(temporary);
    }

    public Uri? PresignedGetUrl(string key, string downloadName, string contentType, TimeSpan lifetime, bool inline = false)
    {
        BlobKeys.Validate(key);
        return null;
    }

    string ObjectPath(string key)
    {
        var path = Path.GetFullPath(Path.Combine(_objects, BlobKeys.Validate(key)));
        // A second fence behind the key rules: whatever a key holds, the path stays inside the store's folder.
        return path.StartsWith(_objects + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? path : throw new InvalidBlobKeyException(key);
    }

    string KeyOf(string path) => Path.GetRelativePath(_objects, path).Replace(Path.DirectorySeparatorChar, '/');

    static string PartPrefix(int number) => number.ToString("D5", CultureInfo.InvariantCulture) + "-";

    string UploadFolder(string key, string uploadId)
    {
        BlobKeys.Validate(key);
        var folder = Path.Combine(_uploads, ValidUploadId(uploadId));
        var keyFile = Path.Combine(folder, "key");
        if (!File.Exists(keyFile) || File.ReadAllText(keyFile) != key)
            throw new BlobUploadException("No such upload for this key: it was completed, aborted or never started.");
        return folder;
    }

    static string ValidUploadId(string uploadId) =>
        Guid.TryParseExact(uploadId, "N", out _) ? uploadId : throw new BlobUploadException("No such upload: the upload id is not one this store gave.");

    static IEnumerable<(BlobPart Part, string Path)> Parts(string folder) =>
        Directory.EnumerateFiles(folder)
            .Select(path => (Path: path, Name: Path.GetFileName(path)))
            .Where(f => f.Name.Length > 6 && f.Name[5] == '-' && int.TryParse(f.Name.AsSpan(0, 5), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(f => (new BlobPart(int.Parse(f.Name.AsSpan(0, 5), CultureInfo.InvariantCulture), f.Name[6..], new FileInfo(f.Path).Length), f.Path))
            .OrderBy(p => p.Item1.Number);

    (string Path, FileStream File) CreateTemporary()
    {
        CreateFolder(_temporary);
        var path = Path.Combine(_temporary, Guid.NewGuid().ToString("N"));
        return (path, OwnerOnly.CreateFile(path));
    }

    /// <summary>Creates the folder and each missing one above it 0700 (creating a path at once gives the folders above it the default mode).</summary>
    static void CreateFolder(string path)
    {
        if (Directory.Exists(path))
            return;
        if (Path.GetDirectoryName(path) is { } parent)
            CreateFolder(parent);
        OwnerOnly.CreateDirectory(path);
    }

    static void MoveIntoPlace(string temporary, string target)
    {
        CreateFolder(Path.GetDirectoryName(target)!);
        // A rename within one file system: a reader sees the old blob or the new one, never half of one.
        File.Move(temporary, target, overwrite: true);
    }

    /// <summary>Copies at most <paramref name="limit"/> bytes, counting as it goes.</summary>
    /// <exception cref="BlobTooLargeException">The source has more than <paramref name="limit"/> bytes.</exception>
    static async Task<long> CopyAsync(Stream source, Stream target, long limit, IncrementalHash? hash, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                total += read;
                if (total > limit)
                    throw new BlobTooLargeException(limit);
                hash?.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), ct);
            }
            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    void RemoveEmptyFolders(string folder)
    {
        foreach (var child in Directory.EnumerateDirectories(folder))
            RemoveEmptyFolders(child);
        if (!Directory.EnumerateFileSystemEntries(folder).Any() && !string.Equals(folder, _objects, StringComparison.Ordinal))
            Directory.Delete(folder);
    }
}
