using RoceUio.Hardware;

namespace RoceUio.VmChecks;

/// <summary>
/// QEMU's <c>edu</c> teaching device (PCI 1234:11e8), as QEMU's docs/specs/edu.rst and hw/misc/edu.c define it.
/// BAR0 (1 MiB, little-endian): 0x00 identification (0xRRrr00ed: major 1, minor 0), 0x04 liveness (reads back the
/// inverse of what was written), 0x08 factorial (computed by a thread; 0x20 bit 0 is set while computing), and a DMA
/// engine at 0x80 (source), 0x88 (destination), 0x90 (count), 0x98 (command: bit 0 run, bit 1 direction 1 = device
/// to RAM, bit 2 interrupt) that copies between bus addresses and a 4 KiB buffer the device sees at 0x40000.
/// A DMA runs off a 100 ms timer; the run bit clears when it is done. A device range outside the buffer aborts QEMU
/// (edu_check_range's hw_error), so <see cref="Dma"/> checks it first; edu_check_range also wants the range's end
/// strictly inside the buffer, so one transfer moves at most <see cref="MaxTransfer"/> (4095) bytes.
/// </summary>
internal sealed class Edu(MmioRegion bar0)
{
    public const ushort VendorId = 0x1234, DeviceId = 0x11e8;
    public const long Identification = 0x00, Liveness = 0x04, Factorial = 0x08, Status = 0x20;
    public const long DmaSource = 0x80, DmaDestination = 0x88, DmaCount = 0x90, DmaCommand = 0x98;
    public const uint StatusComputing = 0x01;
    public const ulong CommandRun = 0x1, CommandToRam = 0x2;
    /// <summary>Where the device's 4 KiB DMA buffer sits in its own address space (edu.c DMA_START, DMA_SIZE).</summary>
    public const ulong BufferAddress = 0x40000, BufferSize = 4096;
    public const int MaxTransfer = (int)BufferSize - 1;

    public MmioRegion Bar0 { get; } = bar0;

    public uint Id => Bar0.Read32(Identification);

    /// <summary>Writes <paramref name="value"/> to the liveness register and returns what it reads back.</summary>
    public uint Live(uint value)
    {
        Bar0.Write32(Liveness, value);
        return Bar0.Read32(Liveness);
    }

    /// <summary>n! by the device (32-bit wrap-around).</summary>
    public uint ComputeFactorial(uint n, TimeSpan timeout)
    {
        Bar0.Write32(Factorial, n);
        WaitUntil(() => (Bar0.Read32(Status) & StatusComputing) == 0, timeout, "the factorial unit to finish");
        return Bar0.Read32(Factorial);
    }

    /// <summary>Copies <paramref name="count"/> bytes from bus address <paramref name="ram"/> into the device buffer at <paramref name="bufferOffset"/>.</summary>
    public void DmaFromRam(ulong ram, ulong bufferOffset, ulong count, TimeSpan timeout)
        => Dma(ram, BufferAddress + bufferOffset, count, toRam: false, timeout);

    /// <summary>Copies <paramref name="count"/> bytes from the device buffer at <paramref name="bufferOffset"/> to bus address <paramref name="ram"/>.</summary>
    public void DmaToRam(ulong bufferOffset, ulong ram, ulong count, TimeSpan timeout)
        => Dma(BufferAddress + bufferOffset, ram, count, toRam: true, timeout);

    private void Dma(ulong source, ulong destination, ulong count, bool toRam, TimeSpan timeout)
    {
        ulong device = toRam ? source : destination;
        if (device < BufferAddress || count == 0 || device - BufferAddress + count >= BufferSize)
            throw new ArgumentOutOfRangeException(nameof(count), $"edu DMA of {count} bytes at device 0x{device:x} does not end inside its buffer [0x{BufferAddress:x}, +0x{BufferSize:x})");
        WaitUntil(() => (Bar0.Read64(DmaCommand) & CommandRun) == 0, timeout, "an earlier DMA to finish");
        Bar0.Write64(DmaSource, source);
        Bar0.Write64(DmaDestination, destination);
        Bar0.Write64(DmaCount, count);
        Bar0.Write64(DmaCommand, CommandRun | (toRam ? CommandToRam : 0));
        WaitUntil(() => (Bar0.Read64(DmaCommand) & CommandRun) == 0, timeout, $"the DMA 0x{source:x} -> 0x{destination:x} to finish");
    }

    private static void WaitUntil(Func<bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!done())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"edu: waited {timeout.TotalSeconds:0.#} s for {what}");
            Thread.Sleep(1);
        }
    }
}
