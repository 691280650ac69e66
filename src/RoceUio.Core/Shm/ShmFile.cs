using System.Runtime.CompilerServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

using RoceUio.Hardware;

namespace RoceUio.Shm;

/// <summary>
/// A mapping of one shared-memory GID table file, with bounds-checked pointers to its words (the layout in
/// ShmLayout.cs). Owned by a <see cref="GidShmWriter"/> (read-write) or a <see cref="GidShmReader"/> (read-only).
/// </summary>
internal sealed unsafe class ShmFile : IDisposable
{
    private readonly MappedFile _map; // the mapping itself (mmap/munmap) is Hardware/MappedFile's

    public string Path => _map.Path;
    public long Length => _map.Length;

    private ShmFile(MappedFile map) => _map = map;

    public byte* Base => _map.Pointer;

    /// <summary>Maps the whole of an open file descriptor (the caller closes it).</summary>
    public static ShmFile Map(string path, int fd, long length, bool writable)
        => new(MappedFile.Map(path, fd, length, writable: writable));

    /// <summary>open(2) with <paramref name="flags"/> and <paramref name="mode"/> (the umask applies); throws with the path.</summary>
    public static int Open(string path, int flags, int mode = 0)
    {
        byte[] p = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* pp = p)
            fd = open(pp, flags | O_CLOEXEC, (mode_t)mode);
        if (fd < 0)
        {
            int e = errno;
            throw e == ENOENT
                ? new FileNotFoundException($"{path}: no such file (is roceuio run publishing there?)", path)
                : new IOException($"{path}: cannot open: {Hardware.Errno.Describe(e)}");
        }
        return fd;
    }

    public static long SizeOf(int fd, string path)
    {
        stat st;
        if (fstat(fd, &st) != 0)
            throw new IOException($"{path}: fstat: {Hardware.Errno.Describe(errno)}");
        return st.st_size;
    }

    /// <summary>The address of a <typeparamref name="T"/> at <paramref name="offset"/>, checked against the mapping
    /// and the type's alignment.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T* At<T>(long offset) where T : unmanaged
    {
        if ((ulong)offset > (ulong)(Length - sizeof(T)) || (offset & (sizeof(T) - 1)) != 0)
            ThrowOutside(offset, sizeof(T));
        return (T*)(Base + offset);
    }

    private void ThrowOutside(long offset, int size)
        => throw new InvalidDataException($"{Path}: a {size}-byte field at offset {offset} is outside the {Length}-byte file or misaligned");

    public void Dispose() => _map.Dispose();
}
