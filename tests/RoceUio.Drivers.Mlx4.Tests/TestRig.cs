using RoceUio.Hardware.Emulation;
using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Testing;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>Records every register write (the MMIO trace) of a region.</summary>
internal sealed class RecordingTracer : IMmioTracer
{
    public readonly List<(long Offset, uint Value)> Writes = new();

    public void Access(int bar, long offset, int width, bool isWrite, ulong value)
    {
        if (isWrite)
            Writes.Add((offset, (uint)value));
    }
}

/// <summary>
/// An emulated ConnectX-3 Pro in a temp dir with its model in another process (<c>dotnet roceuio.dll model mlx4 --dir</c>)
/// and, once <see cref="OpenDriver"/> ran, the driver over it.
/// </summary>
internal sealed class ProcessRig : IDisposable
{
    private readonly StringBuilder _modelOutput = new();

    public TempDirectory Dir { get; }
    public EmulatedDevice Device { get; }
    public Process ModelProcess { get; }
    public Mlx4ModelClient Client { get; }
    public Mlx4Device Driver { get; private set; } = null!;

    private ProcessRig(Mlx4ModelConfig config)
    {
        Dir = new TempDirectory("roceuio-mlx4");
        Device = config.CreateDevice(Dir.Path);
        ModelProcess = Process.Start(RoceuioCommand.StartInfo("model", "mlx4", "--dir", Dir.Path))!;
        ModelProcess.ErrorDataReceived += (_, e) => { lock (_modelOutput) _modelOutput.AppendLine(e.Data); };
        ModelProcess.OutputDataReceived += (_, e) => { lock (_modelOutput) _modelOutput.AppendLine(e.Data); };
        ModelProcess.BeginErrorReadLine();
        ModelProcess.BeginOutputReadLine();
        Client = new Mlx4ModelClient(Dir.Path);
        Client.WaitUntilReady(TimeSpan.FromSeconds(20), () => ModelProcess.HasExited
            ? $"the model exited with {ModelProcess.ExitCode}: {ModelOutput}" : "still starting");
    }

    public string ModelOutput { get { lock (_modelOutput) return _modelOutput.ToString(); } }

    public static ProcessRig Start(Mlx4ModelConfig? config = null, Mlx4DeviceOptions? options = null)
    {
        var rig = new ProcessRig(config ?? new Mlx4ModelConfig());
        try
        {
            // The kernel's own command timeout (MLX4_CMD_TIME_CLASS_A/B/C, 60 s): a model thread or process on a loaded
            // machine missed a 10 s bound during bring-up (MAP_ICM, UNMAP_ICM); tests of timeouts set their own.
            rig.Driver = Mlx4Device.Open(DeviceResources.Of(rig.Device), options ?? new Mlx4DeviceOptions { CommandTimeout = TimeSpan.FromSeconds(60) });
        }
        catch
        {
            rig.Dispose();
            throw;
        }
        return rig;
    }

    public Mlx4ModelState State => Client.ReadState();

    public void Dispose()
    {
        Driver?.Dispose();
        if (!ModelProcess.HasExited)
        {
            ModelProcess.Kill();
            ModelProcess.WaitForExit(5000);
        }
        ModelProcess.Dispose();
        Device.Dispose();
        Dir.Dispose();
    }
}

/// <summary>An emulated device with its model on a thread of the test process.</summary>
internal sealed class ThreadRig : IDisposable
{
    public TempDirectory Dir { get; }
    public EmulatedDevice Device { get; }
    public DeviceModelThread<Mlx4DeviceModel> Model { get; }

    public ThreadRig(Mlx4ModelConfig? config = null, ulong dmaBase = SharedDmaMemory.DefaultBaseAddress, Action<EmulatedDevice>? beforeModel = null)
    {
        Dir = new TempDirectory("roceuio-mlx4");
        Device = (config ?? new Mlx4ModelConfig()).CreateDevice(Dir.Path, dmaBase: dmaBase);
        beforeModel?.Invoke(Device);
        Model = Mlx4DeviceModel.StartThread(Dir.Path);
    }

    public Mlx4Device OpenDriver(Mlx4DeviceOptions? options = null)
        => Mlx4Device.Open(DeviceResources.Of(Device), options ?? new Mlx4DeviceOptions { CommandTimeout = TimeSpan.FromSeconds(60) });

    public void Dispose()
    {
        Model.Dispose();
        Device.Dispose();
        Dir.Dispose();
    }
}

internal static class Tables
{
    public static Gid G(string text) => Gid.Parse(text);

    public static GidEntry E(string gid, GidType type) => new(Gid.Parse(gid), type, 2);

    /// <summary>
    /// The model's table for each port is exactly the driver's shadow: same slots, GIDs and types, and the type/version
    /// bytes the format requires.
    /// </summary>
    public static void AssertModelEqualsShadow(Mlx4Device driver, Mlx4ModelState state)
    {
        Assert.That(state.Tables, Has.Count.EqualTo(driver.PortCount), "ports");
        for (int port = 1; port <= driver.PortCount; port++)
        {
            Mlx4GidTable shadow = driver.Table(port);
            Assert.That(shadow.NeedsPush, Is.False, $"port {port} has changes that were not committed");
            var expected = shadow.OccupiedSlots().Select(s => Describe(driver.GidFormat, s.Index, s.Gid, s.Type)).ToList();
            Mlx4ModelPortTable model = state.Table(port);
            var actual = model.Entries.Select(e => $"{e.Index} {e.Gid} type {e.Type} version {e.Version}").ToList();
            Assert.That(actual, Is.EqualTo(expected), $"port {port}: model table vs driver shadow");
            if (expected.Count > 0)
                Assert.That(model.Format, Is.EqualTo(driver.GidFormat), $"port {port}: format of the last SET_PORT");
        }
    }

    private static string Describe(Mlx4GidFormat format, int index, Gid gid, GidType type)
    {
        byte version = format == Mlx4GidFormat.RoceAddr && type == GidType.RoceV2 ? (byte)2 : (byte)0;
        byte t = version == 2 && !gid.IsIPv4Mapped ? (byte)1 : (byte)0;
        return $"{index} {gid} type {t} version {version}";
    }
}
