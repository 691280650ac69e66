using Tmds.Linux;
using System.Buffers.Binary;
using System.Text;
using static Tmds.Linux.LibC;

namespace RoceUio.Hardware.Pci;

/// <summary>
/// A function's configuration space through pread/pwrite on a file descriptor: the sysfs <c>config</c> file (at
/// offset 0) or a VFIO device fd's config region (at the offset VFIO_DEVICE_GET_REGION_INFO gave; VFIO fds cannot
/// seek, hence pread rather than streams). Little-endian, as PCI defines it. Used to turn on memory decoding and bus
/// mastering (ixy pci.c enable_dma; DPDK pci_vfio_set_bus_master).
/// </summary>
public sealed unsafe class PciConfigSpace : IDisposable
{
    /// <summary>Offsets and bits of include/uapi/linux/pci_regs.h.</summary>
    public const int VendorIdOffset = 0x00, DeviceIdOffset = 0x02, CommandOffset = 0x04, ClassRevisionOffset = 0x08, Bar0Offset = 0x10;
    public const ushort CommandIo = 0x1, CommandMemory = 0x2, CommandMaster = 0x4, CommandIntxDisable = 0x400;

    private int _fd;
    private readonly long _base;
    private readonly bool _ownsFd;

    /// <summary>Over an open descriptor (a VFIO device fd) at <paramref name="baseOffset"/>; the caller keeps the fd.</summary>
    public PciConfigSpace(int fd, long baseOffset, string name, bool ownsFd = false)
    {
        _fd = fd;
        _base = baseOffset;
        _ownsFd = ownsFd;
        Name = name;
    }

    /// <summary>Opens a sysfs <c>config</c> file.</summary>
    public static PciConfigSpace OpenSysfs(string configPath, bool writable = true)
    {
        byte[] p = Encoding.UTF8.GetBytes(configPath + "\0");
        int fd;
        fixed (byte* pp = p)
            fd = open(pp, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = errno;
            throw new HardwareAccessException(e switch
            {
                2 /* ENOENT */ => $"{configPath} is missing: not a PCI function's sysfs directory",
                1 or 13 /* EPERM, EACCES */ => $"{configPath}: {Errno.Describe(e)}: config space writes need root and are refused under kernel lockdown",
                _ => $"{configPath}: cannot open: {Errno.Describe(e)}",
            });
        }
        return new PciConfigSpace(fd, 0, configPath, ownsFd: true);
    }

    public string Name { get; }

    public ushort ReadUInt16(int offset)
    {
        byte* b = stackalloc byte[2];
        ReadExactly(offset, b, 2);
        return BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(b, 2));
    }

    public uint ReadUInt32(int offset)
    {
        byte* b = stackalloc byte[4];
        ReadExactly(offset, b, 4);
        return BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(b, 4));
    }

    public void WriteUInt16(int offset, ushort value)
    {
        byte* b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(new Span<byte>(b, 2), value);
        WriteExactly(offset, b, 2);
    }

    public void WriteUInt32(int offset, uint value)
    {
        byte* b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(b, 4), value);
        WriteExactly(offset, b, 4);
    }

    private void WriteExactly(int offset, byte* b, int length)
    {
        long n = pwrite(Fd, b, (size_t)length, _base + offset);
        if (n != length)
        {
            int e = n < 0 ? errno : 0;
            throw new HardwareAccessException(e == 1 /* EPERM */
                ? $"{Name}: config write at 0x{offset:x} refused: kernel lockdown (see /sys/kernel/security/lockdown) or not root"
                : $"{Name}: config write at 0x{offset:x} failed: {(n < 0 ? Errno.Describe(e) : $"wrote {n} of {length} bytes")}");
        }
    }

    private void ReadExactly(int offset, byte* into, int length)
    {
        long n = pread(Fd, into, (size_t)length, _base + offset);
        if (n != length)
            throw new HardwareAccessException(n < 0
                ? $"{Name}: config read at 0x{offset:x} failed: {Errno.Describe(errno)}"
                : $"{Name}: config read at 0x{offset:x} returned {n} of {length} bytes (beyond the first 64 bytes config space needs root)");
    }

    private int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(Name);

    public ushort Command => ReadUInt16(CommandOffset);

    /// <summary>
    /// Sets memory decoding and bus mastering in the command register (read-modify-write of the u16 at 4); returns
    /// the previous value so it can be restored. Without MASTER the device's DMA never reaches memory.
    /// </summary>
    public ushort EnableMemoryAndBusMaster()
    {
        ushort old = Command;
        ushort want = (ushort)(old | CommandMemory | CommandMaster);
        if (want != old)
            WriteUInt16(CommandOffset, want);
        return old;
    }

    public void Dispose()
    {
        if (_ownsFd && _fd >= 0)
            close(_fd);
        _fd = -1;
    }
}
