using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using static RoceUio.Drivers.Ocrdma.OcrdmaBringUpLayout;

namespace RoceUio.Drivers.Ocrdma.Model;

/// <summary>
/// The PCI config space of an emulated Skyhawk function, as far as the bring-up reads it: a 256-byte file
/// <c>pci_config</c> in the device directory (vendor and device id at 0x00/0x02, little-endian as PCI has them, and
/// the POST semaphore <c>SLIPORT_SEMAPHORE_OFFSET_SH</c> at 0x94 that be_fw_wait_ready polls). The model writes the
/// semaphore as its firmware "boots"; the driver reads it as it would read a real function's config space. SYNTHETIC
/// in the sense that real hardware has the register in config space, not in a file; the layout is the real one.
/// </summary>
public static class EmulatedPciConfig
{
    public const string FileName = "pci_config";
    public const int Size = 256;

    /// <summary>Writes the file: ids, and the semaphore 0 (POST not done: the model sets it when it starts).</summary>
    public static void Create(string directory, ushort vendor, ushort device)
    {
        var b = new byte[Size];
        BinaryPrimitives.WriteUInt16LittleEndian(b, vendor);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), device);
        File.WriteAllBytes(Path.Combine(directory, FileName), b);
    }

    /// <summary>A reader of the POST semaphore of the emulated function in <paramref name="directory"/> (a fresh pread each
    /// call, so nothing stays open); null when the directory has no config file.</summary>
    public static Func<uint>? PostSemaphore(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            return null;
        return () =>
        {
            Span<byte> v = stackalloc byte[4];
            using SafeFileHandle h = File.OpenHandle(path);
            return RandomAccess.Read(h, v, SliportSemaphoreOffsetSh) == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(v) : 0;
        };
    }
}
