using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace RoceUio.Hardware;

/// <summary>
/// A file mapped MAP_SHARED into the process: a BAR (<c>resourceN</c>, <c>/dev/uioN</c>, a VFIO region) or a
/// shared-memory file of a device model. Owns the mapping; views over it (<see cref="MmioRegion"/>) are bounds
/// checked against <see cref="Length"/> when they are made.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private byte* _base;

    public string Path { get; }
    public long Length { get; }

    /// <summary>The emulated device's write signal when this is one of its BARs (rung after every register write
    /// through an <see cref="MmioRegion"/>); null for a real BAR and for other files.</summary>
    public Emulation.EmulatedDoorbell? Doorbell { get; internal set; }

    private MappedFile(string path, byte* @base, long length)
    {
        Path = path;
        _base = @base;
        Length = length;
    }

    /// <summary>The mapping's first byte. Valid until <see cref="Dispose"/>.</summary>
    internal byte* Pointer => _base != null ? _base : throw new ObjectDisposedException(Path);

    /// <summary>
    /// Maps <paramref name="length"/> bytes of <paramref name="path"/> from <paramref name="offset"/>.
    /// With <paramref name="create"/> the file is created (or grown) to offset + length first.
    /// </summary>
    public static MappedFile Open(string path, long length, long offset = 0, bool create = false, bool writable = true)
    {
        if (length <= 0)
            throw new ArgumentOutOfRangeException(nameof(length), $"{path}: cannot map {length} bytes");
        int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0);
        int fd;
        byte[] p = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* pp = p)
            fd = open(pp, flags, 0x1b6 /* 0666 */);
        if (fd < 0)
        {
            int e = errno;
            throw new MappedFileException($"{path}: cannot open: {Errno.Describe(e)}", e);
        }
        try
        {
            if (create && ftruncate(fd, offset + length) != 0)
                throw new IOException($"{path}: cannot size to {offset + length} bytes: {Errno.Describe(errno)}");
            return Map(path, fd, length, offset, writable);
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>
    /// Maps <paramref name="length"/> bytes of an open file descriptor from <paramref name="offset"/>, MAP_SHARED
    /// (the caller keeps and closes <paramref name="fd"/>; the mapping outlives it).
    /// </summary>
    public static MappedFile Map(string path, int fd, long length, long offset = 0, bool writable = true)
    {
        int prot = PROT_READ | (writable ? PROT_WRITE : 0);
        void* m = mmap(null, (size_t)(nuint)length, prot, MAP_SHARED, fd, offset);
        if (m == MAP_FAILED)
        {
            int e = errno;
            string hint = e == 1 /* EPERM */ ? " (kernel lockdown or a missing CAP_SYS_RAWIO forbids mapping it)" : "";
            throw new MappedFileException($"{path}: could not be mapped ({length} bytes at offset {offset}): {Errno.Describe(e)}{hint}", e);
        }
        return new MappedFile(path, (byte*)m, length);
    }

    /// <summary>
    /// Takes ownership of an anonymous mapping made elsewhere (DMA memory); it is munmapped on <see cref="Dispose"/>.
    /// </summary>
    internal static MappedFile Adopt(string name, byte* mapping, long length) => new(name, mapping, length);

    /// <summary>The mapping's address in this process, for pagemap and IOMMU mapping.</summary>
    public nint Address => (nint)Pointer;

    /// <summary>A span over part of the mapping, for bulk copies (not for register access: use <see cref="MmioRegion"/>).</summary>
    public Span<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: [{offset}, {offset + length}) is outside the {Length}-byte mapping");
        return new Span<byte>(Pointer + offset, length);
    }

    public void Dispose()
    {
        if (_base != null)
        {
            munmap(_base, (size_t)(nuint)Length);
            _base = null;
        }
    }
}

/// <summary>A file could not be opened or mapped; <see cref="ErrorNumber"/> is the errno, for callers that explain it.</summary>
public sealed class MappedFileException(string message, int errorNumber) : IOException(message)
{
    public int ErrorNumber { get; } = errorNumber;
}

/// <summary>errno text for error messages.</summary>
public static unsafe class Errno
{
    public static string Describe(int errnum)
    {
        byte* buf = stackalloc byte[256];
        if (strerror_r(errnum, buf, 256) != 0)
            return $"errno {errnum}";
        return $"{Marshal.PtrToStringUTF8((IntPtr)buf)} (errno {errnum})";
    }
}
