namespace RoceUio.Hardware.Emulation;

/// <summary>
/// A tiny generic device (<c>roceuio model echo</c>) for testing the emulation plumbing across processes, and an
/// example for model writers. BAR0, 4 KiB, little-endian:
/// <list type="table">
/// <item><term>0x00 MAGIC</term><description>the model writes <see cref="Magic"/> once it is polling (ready)</description></item>
/// <item><term>0x04 COMMAND</term><description>the driver writes a non-zero token; the model clears it to 0 when done</description></item>
/// <item><term>0x08 STATUS</term><description>the model writes <see cref="StatusOk"/> or an error status after the other results</description></item>
/// <item><term>0x0C RESPONSE</term><description>~token</description></item>
/// <item><term>0x10/0x14 DMA_ADDR lo/hi, 0x18 DMA_LEN</term><description>when DMA_LEN ≠ 0, the model reads DMA_LEN bytes at
/// DMA_ADDR and writes them reversed at DMA_ADDR + DMA_LEN; an address outside the DMA memory gives <see cref="StatusDmaFault"/></description></item>
/// </list>
/// </summary>
public static class EchoModel
{
    public const ushort VendorId = 0x1af4, DeviceId = 0x10ff;   // a virtio vendor ID with an unused device ID: no real driver claims it
    public const long Bar0Size = 4096, DmaSize = 64 * 1024;
    public const long RegMagic = 0x00, RegCommand = 0x04, RegStatus = 0x08, RegResponse = 0x0c, RegDmaLo = 0x10, RegDmaHi = 0x14, RegDmaLen = 0x18;
    public const uint Magic = 0x4543_4830;   // "ECH0"
    public const uint StatusOk = 1, StatusDmaFault = 0xbad0_0001;

    /// <summary>Creates the device files for an echo device in <paramref name="dir"/>.</summary>
    public static EmulatedDevice Create(string dir)
        => EmulatedDevice.Create(dir, VendorId, DeviceId, new Dictionary<int, long> { [0] = Bar0Size }, DmaSize);

    /// <summary>Serves the device in <paramref name="dir"/> until <paramref name="stop"/>; returns the exit status.</summary>
    public static int Run(string dir, CancellationToken stop)
    {
        using EmulatedDevice dev = EmulatedDevice.Open(dir);
        using var host = new DeviceModelHost(dev, RegisterByteOrder.LittleEndian);
        Attach(host);
        Console.Out.WriteLine($"echo model: serving {dir}; Ctrl-C stops");
        Console.Out.Flush();
        host.Run(stop);
        return 0;
    }

    /// <summary>Wires the echo behaviour into <paramref name="host"/> and announces readiness.</summary>
    public static void Attach(DeviceModelHost host)
    {
        MmioRegion bar = host.Bar(0);
        host.OnWrite(0, RegCommand, token =>
        {
            if (token == 0)
                return;
            uint status = StatusOk;
            uint len = bar.Read32(RegDmaLen);
            if (host.Faults.TryTakeError(out uint injected))
                status = injected;
            else if (len != 0)
            {
                ulong addr = bar.Read32(RegDmaLo) | (ulong)bar.Read32(RegDmaHi) << 32;
                if (len > int.MaxValue / 2 || !host.TryDma(addr, (int)len * 2, out Span<byte> mem))
                    status = StatusDmaFault;
                else
                {
                    mem[..(int)len].CopyTo(mem[(int)len..]);
                    mem[(int)len..].Reverse();
                }
            }
            bar.Write32(RegResponse, ~token);
            MmioRegion.WriteBarrier();
            bar.Write32(RegStatus, status);
            host.Acknowledge(0, RegCommand, 0); // the answer the driver waits for (DeviceModelHost.Acknowledge)
        });
        bar.Write32(RegMagic, Magic);
    }
}
