using RoceUio.Hardware.Emulation;
using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Hardware;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Drivers.Conformance.Fixtures;

/// <summary>
/// mlx4 under the suite: the driver over an emulated ConnectX-3 whose model runs on a thread or in another process
/// (<c>dotnet roceuio.dll model mlx4 --dir DIR</c>). The hardware is the model's table of the last accepted SET_PORT;
/// the core index resolves through <see cref="Mlx4Device.TryGetRealIndex"/>; a refusal is an EXCEED_LIM status for the
/// next command.
/// </summary>
public sealed class Mlx4UnderTest : DeviceUnderTest
{
    private readonly TempDirectory _dir;
    private readonly EmulatedDevice _device;
    private readonly DeviceModelThread<Mlx4DeviceModel>? _thread;
    private readonly Process? _process;
    private readonly Mlx4ModelClient _client;
    private readonly StringBuilder _processOutput = new();
    private readonly Mlx4Device _driver;
    private int _armed;

    public Mlx4UnderTest(Mlx4ModelConfig config, bool inProcess)
    {
        _dir = new TempDirectory("roceuio-conf-mlx4");
        _device = config.CreateDevice(_dir.Path);
        _client = new Mlx4ModelClient(_dir.Path);
        try
        {
            if (inProcess)
                _thread = Mlx4DeviceModel.StartThread(_dir.Path);
            else
            {
                _process = StartModelProcess(_dir.Path, _processOutput);
                _client.WaitUntilReady(TimeSpan.FromSeconds(20), () => _process.HasExited ? $"the model exited: {_processOutput}" : "still starting");
            }
            _driver = Mlx4Device.Open(DeviceResources.Of(_device), new Mlx4DeviceOptions { CommandTimeout = TimeSpan.FromSeconds(60) });
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override IRoceDevice Device => _driver;

    public Mlx4ModelState State => _thread?.Model.Snapshot() ?? _client.ReadState();

    public override IReadOnlyList<HardwareGid> ReadHardware(int port)
        => State.Table(port).Entries.Select(e => new HardwareGid(e.Index, e.Gid, e.GidType)).ToList();

    public override bool TryResolve(int port, int index, out int slot) => _driver.TryGetRealIndex(port, index, out slot);

    public override bool ArmRefusal(int port)
    {
        var fault = new Mlx4ModelFaults { Status = (byte)Mlx4Status.ExceedLim, StatusCount = 1 };
        if (_thread != null)
            _thread.Model.SetFaults(fault);
        else
            _client.SetFaults(fault);
        _armed++;
        return true;
    }

    /// <summary>mlx4 has no consumer of its own here (no QPs): only the core holds an index.</summary>
    public override IDisposable? Use(int port, int index) => null;

    /// <summary>Commands the model refused beyond the ones the suite armed.</summary>
    public override IReadOnlyList<string> DeviceViolations()
    {
        Mlx4ModelState s = State;
        var list = new List<string>();
        if (s.Rejected > _armed)
            list.Add($"{s.Rejected - _armed} command(s) refused; last: {s.LastError}");
        if (_thread?.Failure is { } f)
            list.Add($"the model thread died: {f}");
        return list;
    }

    internal static Process StartModelProcess(string dir, StringBuilder output)
    {
        Process p = Process.Start(RoceuioCommand.StartInfo("model", "mlx4", "--dir", dir))!;
        p.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return p;
    }

    public override void Dispose()
    {
        _driver?.Dispose();
        _thread?.Dispose();
        if (_process != null)
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
            _process.Dispose();
        }
        _device.Dispose();
        _dir.Dispose();
    }
}

/// <summary>mlx4, RoCE v1_v2 (SET_PORT ROCE_ADDR), two ports, model on a thread.</summary>
public sealed class Mlx4RoceAddrConformance : RoceDeviceConformance
{
    protected override DeviceUnderTest CreateDevice() => new Mlx4UnderTest(new Mlx4ModelConfig(), inProcess: true);
}

/// <summary>mlx4 without the v1_v2 capability (SET_PORT GID_TABLE, RoCE v1 only), one port, model on a thread.</summary>
public sealed class Mlx4GidTableConformance : RoceDeviceConformance
{
    protected override DeviceUnderTest CreateDevice()
        => new Mlx4UnderTest(new Mlx4ModelConfig { Ports = 1, RoceV1V2 = false }, inProcess: true);
}

/// <summary>mlx4, RoCE v1_v2, two ports, model in another process (the side channel is its state and fault files).</summary>
public sealed class Mlx4ModelProcessConformance : RoceDeviceConformance
{
    protected override DeviceUnderTest CreateDevice() => new Mlx4UnderTest(new Mlx4ModelConfig(), inProcess: false);
}
