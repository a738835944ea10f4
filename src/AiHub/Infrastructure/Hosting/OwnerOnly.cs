namespace AiHub.Infrastructure.Hosting;

/// <summary>Files and folders that hold secrets are made readable by the owner alone (0600 and 0700).</summary>
internal static class OwnerOnly
{
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode Folder = File | UnixFileMode.UserExecute;

    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
            Directory.CreateDirectory(path);
        else
            Directory.CreateDirectory(path, Folder);
    }

    /// <summary>A new file, 0600 from its first byte (never created wider and narrowed after).</summary>
    public static FileStream CreateFile(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = File;
        return new FileStream(path, options);
    }

    /// <summary>Creates the file 0600 holding <paramref name="content"/>; false when it exists already (another process of the node made it first).</summary>
    public static bool TryCreateFile(string path, ReadOnlySpan<byte> content)
    {
        try
        {
            using var file = CreateFile(path);
            file.Write(content);
            return true;
        }
        catch (IOException) when (System.IO.File.Exists(path))
        {
            return false;
        }
    }

    /// <summary>Takes group and other access away from an existing file (a database made by an earlier version was 0644).</summary>
    public static void Restrict(string path)
    {
        if (OperatingSystem.IsWindows() || !System.IO.File.Exists(path))
            return;
        var mode = System.IO.File.GetUnixFileMode(path);
        if ((mode & ~File) != 0)
            System.IO.File.SetUnixFileMode(path, mode & File);
    }
}
