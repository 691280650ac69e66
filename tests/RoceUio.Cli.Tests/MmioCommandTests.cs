using System.Buffers.Binary;
using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary><c>roceuio mmio</c> against a fake sysfs tree whose resource0 is a plain file (tests/vm runs it on QEMU's edu).</summary>
public class MmioCommandTests
{
    private const string Bdf = "0000:03:00.0";
    private FakeSysfs _sys = null!;
    private string Resource0 => Path.Combine(_sys.DeviceDir(Bdf), "resource0");

    [SetUp]
    public void SetUp()
    {
        _sys = new FakeSysfs();
        _sys.AddFunction(Bdf, 0x1234, 0x11e8, classCode: 0x00ff00, barSizes: 4096);
        byte[] bar = new byte[4096];
        BinaryPrimitives.WriteUInt32LittleEndian(bar.AsSpan(0), 0x010000ed);
        BinaryPrimitives.WriteUInt32LittleEndian(bar.AsSpan(4), 0xfffffffe);
        File.WriteAllBytes(Resource0, bar);
    }

    [TearDown] public void TearDown() => _sys.Dispose();

    private (int Exit, string Out, string Err) Mmio(params string[] args)
        => RoceuioProcess.Run(["mmio", Bdf, "--sysfs-root", _sys.Root, .. args]);

    [Test]
    public void Read32_prints_the_register_in_the_devices_byte_order()
    {
        var (exit, output, err) = Mmio("read32", "0x0");
        Assert.That(exit, Is.Zero, err);
        Assert.That(output, Is.EqualTo("0x010000ed\n"));
        Assert.That(Mmio("--big-endian", "read32", "0").Out, Is.EqualTo("0xed000001\n"));
    }

    [Test]
    public void Write32_stores_the_value_little_endian_and_touches_nothing_else()
    {
        var (exit, output, err) = Mmio("--sysfs", "write32", "0x10", "0xdeadbeef");
        Assert.That(exit, Is.Zero, err);
        Assert.That(output, Is.EqualTo("bar0+0x10: wrote 0xdeadbeef\n"));
        byte[] bar = File.ReadAllBytes(Resource0);
        Assert.That(bar[0x10..0x14], Is.EqualTo(new byte[] { 0xef, 0xbe, 0xad, 0xde }));
        Assert.That(bar[0x14..].All(b => b == 0), Is.True, "bytes after the register stay zero");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(bar.AsSpan(0)), Is.EqualTo(0x010000ed), "bytes before it are unchanged");
    }

    [Test]
    public void Dump_prints_four_registers_a_line_from_the_offset()
    {
        var (exit, output, err) = Mmio("dump", "0", "0x20");
        Assert.That(exit, Is.Zero, err);
        Assert.That(output, Is.EqualTo("0x000000: 010000ed fffffffe 00000000 00000000\n0x000010: 00000000 00000000 00000000 00000000\n"));
    }

    [TestCase("read32", "0x1000", "a 32-bit access at +0x1000 is outside the 0x1000-byte region or misaligned")]
    [TestCase("read32", "0x2", "a 32-bit access at +0x2 is outside the 0x1000-byte region or misaligned")]
    [TestCase("dump", "0xff8", "a 32-bit access at +0x1000 is outside")]
    public void Accesses_outside_the_bar_or_misaligned_are_refused(string op, string offset, string message)
    {
        var (exit, _, err) = op == "dump" ? Mmio(op, offset, "0x10") : Mmio(op, offset);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(err, Does.Contain(message));
    }

    [Test]
    public void A_missing_function_a_missing_bar_and_a_busy_function_say_so()
    {
        var (exit, _, err) = RoceuioProcess.Run("mmio", "0000:00:1e.7", "--sysfs-root", _sys.Root, "read32", "0");
        Assert.That((exit, err), Is.EqualTo((1, "roceuio mmio: 0000:00:1e.7: no such PCI function under " + _sys.Root + "/bus/pci/devices (see lspci -D)\n")));

        (exit, _, err) = Mmio("--bar", "2", "read32", "0");
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(err, Does.Contain("resource2 is missing: BAR2 is not implemented"));

        _sys.BindDriver(Bdf, "mlx4_core");
        (exit, _, err) = Mmio("read32", "0");
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(err, Does.Contain($"{Bdf} is bound to mlx4_core; unbind it or run `roceuio bind {Bdf} --uio`"));
    }

    [TestCase(new[] { "read32" }, "say read32, write32 or dump, and an OFFSET")]
    [TestCase(new[] { "peek32", "0" }, "unknown operation 'peek32'")]
    [TestCase(new[] { "write32", "0" }, "expected write32 OFFSET VALUE")]
    [TestCase(new[] { "write32", "0", "0x100000000" }, "does not fit 32 bits")]
    [TestCase(new[] { "read32", "zz" }, "OFFSET 'zz' is not a number")]
    [TestCase(new[] { "--vfio", "--uio", "read32", "0" }, "only one of --vfio, --uio, --sysfs")]
    [TestCase(new[] { "--bar", "6", "read32", "0" }, "a BAR is 0 to 5")]
    public void Usage_errors(string[] args, string message)
    {
        var (exit, _, err) = Mmio(args);
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(err, Does.Contain(message));
    }
}
