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
    public void A_command_written_right_after_the_models_answer_is_not_lost()
    {
        // The race a loaded machine hit: the driver sees the model's answer and posts its next command before the
        // host has looked at the register again. The host must hand that command over, not take it for the answer.
        using var host = new DeviceModelHost(_modelSide, RegisterByteOrder.LittleEndian);
        var seen = new List<uint>();
        host.OnWrite(0, EchoModel.RegDmaLen, v =>
        {
            seen.Add(v);
            if (v == 1)
            {
                host.Acknowledge(0, EchoModel.RegDmaLen, 0); // the model's answer
                _regs.Write32(EchoModel.RegDmaLen, 2);       // the driver's next command, at once
            }
        });
        _regs.Write32(EchoModel.RegDmaLen, 1);
        host.PollOnce();
        host.PollOnce();
        Assert.That(seen, Is.EqualTo(new uint[] { 1, 2 }), "the second command reached the model");
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
        Assert.That(_host.PollOnce(), Is.EqualTo(1), "the file is taken before the held write is handled, not 20 ms later");
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(0xbadu));

        var e = Assert.Throws<FormatException>(() => _host.Faults.Apply("faults", ["explode=1"]));
        Assert.That(e!.Message, Is.EqualTo("faults:1: unknown key 'explode' (known: stall, delay_ms, error, error_count)"));
    }

    [Test]
    public void A_fault_armed_just_before_a_write_applies_to_that_write()
    {
        Assert.That(_host.PollOnce(), Is.Zero);   // the periodic look has just been made
        FaultInjection.Arm(_dir.Path, "error=0x77\n");
        Command(0x10, 0, 0);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(0x77u));
        Command(0x11, 0, 0);
        Assert.That(_regs.Read32(EchoModel.RegStatus), Is.EqualTo(EchoModel.StatusOk), "error_count defaults to 1");
    }

    [Test]
    public void A_bad_line_names_file_line_and_value_and_applies_nothing_of_that_file()
    {
        string? pending = "x";
        _host.Faults.AddKey("mode", "on|off", v => v is "on" or "off" ? null : "neither on nor off", v => pending = v);
        _host.Faults.Apply("dir/faults", ["stall=1", "mode=on"]);
        Assert.That((_host.Faults.Stalled, pending), Is.EqualTo((true, "on")));

        var bad = new (string[] Lines, string Message)[]
        {
            (["stall=0", "# a comment", "", "banana=1"], "dir/faults:4: unknown key 'banana' (known: stall, delay_ms, error, error_count, mode)"),
            (["stall=0", "delay_ms=soon"], "dir/faults:2: 'delay_ms=soon' is not a number (decimal or 0x hex)"),
            (["mode=maybe"], "dir/faults:1: bad value in 'mode=maybe': neither on nor off (want mode=on|off)"),
            (["stall"], "dir/faults:1: expected key=value, got 'stall'"),
        };
        foreach (var (lines, message) in bad)
        {
            var e = Assert.Throws<FormatException>(() => _host.Faults.Apply("dir/faults", lines));
            Assert.That(e!.Message, Is.EqualTo(message));
            Assert.That((_host.Faults.Stalled, pending), Is.EqualTo((true, "on")), "a refused file changes nothing");
        }

        _host.Faults.Apply("dir/faults", [" stall = 0x0 ", "delay_ms=0x1"]);
        Assert.That((_host.Faults.Stalled, _host.Faults.Delay, pending), Is.EqualTo((false, TimeSpan.FromMilliseconds(1), (string?)null)),
            "a file is the whole fault set: a family key it does not name is off");
        Assert.Throws<ArgumentException>(() => _host.Faults.AddKey("stall", "x", _ => null, _ => { }), "a common key cannot be redefined");
    }

    [Test]
    public void Poll_steps_run_every_pass_but_not_while_stalled()
    {
        int passes = 0;
        _host.OnPoll(() => ++passes % 2 == 0);
        Assert.That(_host.PollOnce() + _host.PollOnce(), Is.EqualTo(1), "a step that did something counts as work");
        _host.Faults.Stalled = true;
        _host.PollOnce();
        Assert.That(passes, Is.EqualTo(2));
    }

    [Test]
    public void A_throwing_handler_ends_Run_and_the_thread_reports_it()
    {
        _host.OnWrite(0, EchoModel.RegDmaLen, _ => throw new InvalidOperationException("the model broke"));
        using var thread = new DeviceModelThread("echo-model", stop => { _host.Run(stop); return 0; });
        _regs.Write32(EchoModel.RegDmaLen, 5);
        long deadline = Environment.TickCount64 + 10_000;
        while (thread.Failure is null && Environment.TickCount64 < deadline)
            Thread.Sleep(1);
        Assert.That(thread.Failure, Is.EqualTo("echo-model died: InvalidOperationException: the model broke"));
    }

    [Test]
    public void Run_backs_off_when_idle_and_still_answers_afterwards()
    {
        long passes = 0;
        _host.OnPoll(() => { Interlocked.Increment(ref passes); return false; });
        using var thread = new DeviceModelThread("echo-model", stop => { _host.Run(stop); return 0; });
        long deadline = Environment.TickCount64 + 60_000;
        // With the doorbell (EchoModel.Create makes one) the loop never spins: it naps 1 ms from the start.
        long toLongNaps = (_modelSide.Doorbell is null ? DeviceModelHost.IdleSpins : 0) + DeviceModelHost.IdleNaps + 5;
        while (Interlocked.Read(ref passes) < toLongNaps && Environment.TickCount64 < deadline)
            Thread.Sleep(10);
        long before = Interlocked.Read(ref passes);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 200)
            Thread.Sleep(10);
        long perSecond = (Interlocked.Read(ref passes) - before) * 1000 / sw.ElapsedMilliseconds;
        Assert.That(perSecond, Is.LessThanOrEqualTo(250), "after a quiet second the loop naps 5 ms per pass (at most ~200 passes/s)");

        _regs.Write32(EchoModel.RegCommand, 0x42);
        deadline = Environment.TickCount64 + 10_000;
        while (_regs.Read32(EchoModel.RegCommand) != 0 && Environment.TickCount64 < deadline)
            Thread.Sleep(1);
        Assert.That((_regs.Read32(EchoModel.RegResponse), thread.Failure), Is.EqualTo((~0x42u, (string?)null)));
    }

    [Test]
    public void A_sleeping_model_is_woken_by_the_drivers_write_not_by_the_end_of_its_nap()
    {
        // Naps of a minute: an answer within seconds can only come from the doorbell's wake, through the driver's
        // mapping of bar0 (a different mapping of the file than the model's: the futex must be a shared one).
        Assert.That((_driverSide.Doorbell, _modelSide.Doorbell), Is.Not.EqualTo(((EmulatedDoorbell?)null, (EmulatedDoorbell?)null)));
        using var host = new DeviceModelHost(_modelSide, RegisterByteOrder.LittleEndian) { ShortNapMs = 60_000, LongNapMs = 60_000 };
        EchoModel.Attach(host);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using (var thread = new DeviceModelThread("echo-model", stop => { host.Run(stop); return 0; }))
        {
            for (uint token = 1; token <= 20; token++)
            {
                long deadline = Environment.TickCount64 + 20_000;
                while (!_modelSide.Doorbell!.HasSleeper && Environment.TickCount64 < deadline)
                    Thread.Sleep(1);   // the model has gone to sleep on the doorbell
                _regs.Write32(EchoModel.RegCommand, token);
                while (_regs.Read32(EchoModel.RegCommand) != 0 && Environment.TickCount64 < deadline)
                    Thread.Sleep(1);
                Assert.That((_regs.Read32(EchoModel.RegResponse), thread.Failure), Is.EqualTo((~token, (string?)null)), $"command {token}");
            }
        }
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "20 commands and the stop, each woke the sleeping model (a nap's end would take a minute)");
    }

    [Test]
    public void Without_a_doorbell_file_the_model_polls_and_still_answers()
    {
        // A device directory made by another tool (or an older roceuio) has no doorbell: both sides poll.
        File.Delete(Path.Combine(_dir.Path, EmulatedDoorbell.FileName));
        using EmulatedDevice modelSide = EmulatedDevice.Open(_dir.Path);
        Assert.That(modelSide.Doorbell, Is.Null);
        using var host = new DeviceModelHost(modelSide, RegisterByteOrder.LittleEndian);
        EchoModel.Attach(host);
        using var thread = new DeviceModelThread("echo-model", stop => { host.Run(stop); return 0; });
        _regs.Write32(EchoModel.RegCommand, 0x77);
        long deadline = Environment.TickCount64 + 10_000;
        while (_regs.Read32(EchoModel.RegCommand) != 0 && Environment.TickCount64 < deadline)
            Thread.Sleep(1);
        Assert.That((_regs.Read32(EchoModel.RegResponse), thread.Failure), Is.EqualTo((~0x77u, (string?)null)));
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
