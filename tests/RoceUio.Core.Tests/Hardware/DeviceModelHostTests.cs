using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

/// <summary>The echo model on a host in this process, poll by poll: handshake, DMA, and each injected fault.</summary>
public class DeviceModelHostTests
{
    private TempDirectory _dir = null!;
    private EmulatedDevice _driverSide = null!;
    private EmulatedDevice _modelSide = null!;
    private DeviceModelHost _host = null!;
    private MmioRegion _regs = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _driverSide = EchoModel.Create(_dir.Path);
        _modelSide = EmulatedDevice.Open(_dir.Path);
        _host = new DeviceModelHost(_modelSide, RegisterByteOrder.LittleEndian);
        EchoModel.Attach(_host);
        _regs = new MmioRegion(_driverSide.Bar(0), 0, RegisterByteOrder.LittleEndian);
    }

    [TearDown]
    public void TearDown()
    {
        _modelSide.Dispose();
        _driverSide.Dispose();
        _dir.Dispose();
    }

    [Test]
    public void A_command_write_is_detected_and_answered()
    {
        Assert.That(_regs.Read32(EchoModel.RegMagic), Is.EqualTo(EchoModel.Magic));
        Assert.That(_host.PollOnce(), Is.Zero, "nothing written yet");
        _regs.Write32(EchoModel.RegCommand, 0x1234);
        Assert.That(_host.PollOnce(), Is.EqualTo(1));
        Assert.That((_regs.Read32(EchoModel.RegStatus), _regs.Read32(EchoModel.RegResponse), _regs.Read32(EchoModel.RegCommand)),
            Is.EqualTo((EchoModel.StatusOk, ~0x1234u, 0u)));
        Assert.That(_host.PollOnce(), Is.Zero, "the model's own clear of COMMAND is not a new command");
    }

    [Test]
    public void Dma_by_device_address_and_a_bad_address_gives_the_device_error()
    {
        DmaBuffer buf = _driverSide.Dma.Allocate(8);
        "abcdefgh"u8.CopyTo(buf.Span);
        DmaBuffer answer = _driverSide.Dma.Allocate(8, 1);
        Assert.That(answer.DeviceAddress, Is.EqualTo(buf.DeviceAddress + 8));
        Command(0x1, buf.DeviceAddress, 8);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(EchoModel.StatusOk));
        Assert.That(answer.Span.ToArray(), Is.EqualTo("hgfedcba"u8.ToArray()));

        Command(0x2, 0x10, 8);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(EchoModel.StatusDmaFault));
    }

    [Test]
    public void Faults_stall_delay_and_error_status()
    {
        _host.Faults.Stalled = true;
        _regs.Write32(EchoModel.RegCommand, 0x77);
        Assert.That(_host.PollOnce(), Is.Zero);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.Zero, "a stalled device does not answer");
        _host.Faults.Stalled = false;
        Assert.That(_host.PollOnce(), Is.EqualTo(1), "the write is seen once it resumes");

        _host.Faults.InjectError(0xdead, count: 1);
        Command(0x5, 0, 0);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(0xdeadu));
        Command(0x6, 0, 0);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(EchoModel.StatusOk), "only the next command fails");

        _host.Faults.Delay = TimeSpan.FromMilliseconds(30);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Command(0x7, 0, 0);
        Assert.That(sw.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(25)));
    }

    [Test]
    public void Faults_file_drives_a_model_from_outside_and_rejects_nonsense()
    {
        FaultInjection.Arm(_dir.Path, "stall=1\n");
        _regs.Write32(EchoModel.RegCommand, 0x9);
        Assert.That(_host.PollOnce(), Is.Zero);
        Assert.That(File.Exists(_dir["faults"]), Is.False, "the model took the file");
        FaultInjection.Arm(_dir.Path, "error=0xbad\nerror_count=1\n");
        long deadline = Environment.TickCount64 + 5000;
        int handled = 0;
        while (handled == 0 && Environment.TickCount64 < deadline)
            handled = _host.PollOnce();   // the host looks for the file every 20 ms
        Assert.That(handled, Is.EqualTo(1));
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(0xbadu));

        var e = Assert.Throws<FormatException>(() => _host.Faults.Apply("faults", ["explode=1"]));
        Assert.That(e!.Message, Does.Contain("faults:1: unknown fault 'explode'"));
    }

    private void Command(uint token, ulong addr, uint len)
    {
        _regs.Write32(EchoModel.RegStatus, 0);
        _regs.Write32(EchoModel.RegDmaLo, (uint)addr);
        _regs.Write32(EchoModel.RegDmaHi, (uint)(addr >> 32));
        _regs.Write32(EchoModel.RegDmaLen, len);
        MmioRegion.WriteBarrier();
        _regs.Write32(EchoModel.RegCommand, token);
        Assert.That(_host.PollOnce(), Is.EqualTo(1));
    }
}
