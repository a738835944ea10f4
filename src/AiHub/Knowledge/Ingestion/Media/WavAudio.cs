using System.Buffers.Binary;

namespace AiHub.Knowledge.Ingestion.Media;

/// <summary>A 16 kHz mono 16-bit PCM WAV file as <see cref="MediaTools.ExtractAudioAsync"/> writes it.</summary>
internal sealed class WavAudio
{
    public const int SampleRate = 16_000;
    const int BytesPerSecond = SampleRate * 2;

    /// <summary>Loudness is measured in 10 ms frames: short enough to find the gap between two words.</summary>
    public const double FrameSeconds = 0.01;
    const int SamplesPerFrame = (int)(SampleRate * FrameSeconds);

    WavAudio(string path, long dataOffset, long dataLength)
    {
        Path = path;
        DataOffset = dataOffset;
        DataLength = dataLength;
    }

    public string Path { get; }
    public long DataOffset { get; }
    public long DataLength { get; }
    public double DurationSeconds => DataLength / (double)BytesPerSecond;

    /// <exception cref="IngestionException">The file is not 16 kHz mono 16-bit PCM WAV.</exception>
    public static WavAudio Open(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> header = stackalloc byte[12];
        if (stream.ReadAtLeast(header, 12, throwOnEndOfStream: false) < 12 || !header[..4].SequenceEqual("RIFF"u8) || !header[8..12].SequenceEqual("WAVE"u8))
            throw NotPcm();
        var formatSeen = false;
        Span<byte> chunk = stackalloc byte[8];
        Span<byte> format = stackalloc byte[16];
        while (stream.ReadAtLeast(chunk, 8, throwOnEndOfStream: false) == 8)
        {
            var size = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
            if (chunk[..4].SequenceEqual("fmt "u8))
            {
                if (size < 16 || stream.ReadAtLeast(format, 16, throwOnEndOfStream: false) < 16)
                    throw NotPcm();
                var pcm = BinaryPrimitives.ReadUInt16LittleEndian(format) is 1 or 0xFFFE;
                var channels = BinaryPrimitives.ReadUInt16LittleEndian(format[2..]);
                var rate = BinaryPrimitives.ReadUInt32LittleEndian(format[4..]);
                var bits = BinaryPrimitives.ReadUInt16LittleEndian(format[14..]);
                if (!pcm || channels != 1 || rate != SampleRate || bits != 16)
                    throw NotPcm();
                formatSeen = true;
                stream.Seek(size - 16 + (size & 1), SeekOrigin.Current);
            }
            else if (chunk[..4].SequenceEqual("data"u8))
            {
                if (!formatSeen)
                    throw NotPcm();
                // ffmpeg writing to a pipe leaves the size unset; what the file holds is the truth.
                var length = Math.Min(size, stream.Length - stream.Position);
                return new WavAudio(path, stream.Position, length - (length & 1));
            }
            else
            {
                stream.Seek(size + (size & 1), SeekOrigin.Current);
            }
        }
        throw NotPcm();
    }

    static IngestionException NotPcm() => new("The extracted audio could not be read back.");

    /// <summary>The RMS loudness of each 10 ms frame, read in one pass so an hour of audio costs 360,000 floats.</summary>
    public float[] FrameLoudness()
    {
        var frames = new float[(int)(DataLength / 2 / SamplesPerFrame)];
        using var stream = File.OpenRead(Path);
        stream.Position = DataOffset;
        var buffer = new byte[SamplesPerFrame * 2 * 256];
        var frame = 0;
        while (frame < frames.Length)
        {
            var wanted = Math.Min(buffer.Length, (frames.Length - frame) * SamplesPerFrame * 2);
            var read = stream.ReadAtLeast(buffer.AsSpan(0, wanted), wanted, throwOnEndOfStream: false);
            for (var offset = 0; offset + (SamplesPerFrame * 2) <= read; offset += SamplesPerFrame * 2)
            {
                double sum = 0;
                for (var i = 0; i < SamplesPerFrame; i++)
                {
                    double sample = BinaryPrimitives.ReadInt16LittleEndian(buffer.AsSpan(offset + (i * 2)));
                    sum += sample * sample;
                }
                frames[frame++] = (float)Math.Sqrt(sum / SamplesPerFrame);
            }
            if (read < wanted)
                break;
        }
        return frames;
    }

    /// <summary>Writes the stretch from <paramref name="start"/> to <paramref name="end"/> seconds as a WAV file of its own.</summary>
    public void WritePiece(double start, double end, string outputPath)
    {
        var from = Math.Clamp((long)(start * SampleRate) * 2, 0, DataLength);
        var to = Math.Clamp((long)(end * SampleRate) * 2, from, DataLength);
        using var input = File.OpenRead(Path);
        input.Position = DataOffset + from;
        using var output = File.Create(outputPath);
        WriteHeader(output, to - from);
        var remaining = to - from;
        var buffer = new byte[81920];
        while (remaining > 0)
        {
            var read = input.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (read == 0)
                break;
            output.Write(buffer, 0, read);
            remaining -= read;
        }
    }

    public static void WriteHeader(Stream output, long dataLength)
    {
        Span<byte> header = stackalloc byte[44];
        "RIFF"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)(36 + dataLength));
        "WAVEfmt "u8.CopyTo(header[8..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 16);
        BinaryPrimitives.WriteUInt16LittleEndian(header[20..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(header[22..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(header[24..], SampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(header[28..], BytesPerSecond);
        BinaryPrimitives.WriteUInt16LittleEndian(header[32..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[34..], 16);
        "data"u8.CopyTo(header[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(header[40..], (uint)dataLength);
        output.Write(header);
    }
}
