using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// An emulated BAR shared with a device model in a second process (<c>roceuio model echo --dir DIR</c>): writes cross
/// the process boundary both ways and the model answers the register handshake, DMA included.
/// </summary>
public class EmulatedDeviceProcessTests
{
    private TempDirectory _dir = null!;
    private EmulatedDevice _dev = null!;
    private Process _model = null!;
    private MmioRegion _regs = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _dev = EchoModel.Create(_dir.Path);
        _regs = new MmioRegion(_dev.Bar(0), 0, RegisterByteOrder.LittleEndian);
        _model = RoceuioProcess.Start("model", "echo", "--dir", _dir.Path);
        WaitFor(() => _regs.Read32(EchoModel.RegMagic) == EchoModel.Magic, "the model to write MAGIC (a write in the other process seen here)");
        // A user who starts a model sees that it serves (it used to print nothing).
        Assert.That(_model.StandardOutput.ReadLine(), Is.EqualTo($"echo model: serving {_dir.Path}; Ctrl-C stops"));
    }

    [TearDown]
    public void TearDown()
    {
        if (!_model.HasExited)
        {
            _model.Kill();
            _model.WaitForExit(10_000);
        }
        _model.Dispose();
        _dev.Dispose();
        _dir.Dispose();
    }

    private void WaitFor(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (_model.HasExited)
                Assert.Fail($"the model exited ({_model.ExitCode}) while waiting for {what}: {_model.StandardError.ReadToEnd()}");
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(1);
        }
    }

    private uint Command(uint token, ulong addr = 0, uint len = 0)
    {
        _regs.Write32(EchoModel.RegStatus, 0);
        _regs.Write32(EchoModel.RegDmaLo, (uint)addr);
        _regs.Write32(EchoModel.RegDmaHi, (uint)(addr >> 32));
        _regs.Write32(EchoModel.RegDmaLen, len);
        MmioRegion.WriteBarrier();
        _regs.Write32(EchoModel.RegCommand, token);
        WaitFor(() => _regs.Read32(EchoModel.RegCommand) == 0 && _regs.Read32(EchoModel.RegStatus) != 0, $"command 0x{token:x} to complete");
        Assert.That(_regs.Read32(EchoModel.RegResponse), Is.EqualTo(~token));
        return _regs.Read32(EchoModel.RegStatus);
    }

    [Test]
    public void The_model_in_another_process_answers_the_handshake()
    {
        for (uint t = 1; t <= 20; t++)
            Assert.That(Command(t * 0x1111), Is.EqualTo(EchoModel.StatusOk));
    }

    [Test]
    public void The_model_reads_and_writes_dma_memory_by_device_address()
    {
        DmaBuffer buf = _dev.Dma.Allocate(256);
        for (int i = 0; i < 128; i++)
            buf.Span[i] = (byte)i;
        Assert.That(Command(0x42, buf.DeviceAddress, 128), Is.EqualTo(EchoModel.StatusOk));
        Assert.That(buf.Span[128..].ToArray(), Is.EqualTo(Enumerable.Range(0, 128).Select(i => (byte)(127 - i)).ToArray()));

        Assert.That(Command(0x43, buf.DeviceAddress + EchoModel.DmaSize, 16), Is.EqualTo(EchoModel.StatusDmaFault),
            "an address outside the DMA memory is refused as a device would");
    }

    private void ArmAndWait(string faults)
    {
        FaultInjection.Arm(_dir.Path, faults);
        Assert.That(FaultInjection.WaitTaken(_dir.Path, TimeSpan.FromSeconds(10)), Is.True, "the model takes the faults file");
    }

    [Test]
    public void Faults_reach_the_model_through_the_faults_file()
    {
        ArmAndWait("error=0xbad00002\n");
        Assert.That(Command(0x7), Is.EqualTo(0xbad00002u));
        Assert.That(Command(0x8), Is.EqualTo(EchoModel.StatusOk), "error_count defaults to one command");

        ArmAndWait("stall=1\n");
        _regs.Write32(EchoModel.RegStatus, 0);
        _regs.Write32(EchoModel.RegDmaLen, 0);
        _regs.Write32(EchoModel.RegCommand, 0x9);
        Thread.Sleep(200);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.Zero, "a stalled device does not answer");
        FaultInjection.Arm(_dir.Path, "stall=0\n");
        WaitFor(() => _regs.Read32(EchoModel.RegStatus) == EchoModel.StatusOk, "the stalled command to complete after the stall");
    }

    [Test]
    public void Model_errors_are_clear()
    {
        var (exit, _, err) = RoceuioProcess.Run("model", "echo", "--dir", _dir["nothing"]);
        Assert.That(exit, Is.Not.Zero);
        Assert.That(err, Does.Contain("is not an emulated device").And.Contain("device.conf is missing"));
    }
}
