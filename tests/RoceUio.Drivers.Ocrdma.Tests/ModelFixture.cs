using RoceUio.Hardware.Emulation;
using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Hardware;
using RoceUio.Testing;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>A fresh emulated Skyhawk and its model, in another process (roceuio model ocrdma) or on a thread.</summary>
internal sealed class ModelFixture : IDisposable
{
    private readonly Process? _process;
    private readonly DeviceModelThread<OcrdmaDeviceModel>? _thread;

    public ModelFixture(bool inProcess = false, bool vf = false, ushort vendor = OcrdmaLayout.VendorEmulex)
    {
        Dir = new TempDirectory("ocrdma");
        Device = OcrdmaDeviceModel.CreateDevice(Dir.Path, vf, vendor);
        if (inProcess)
        {
            _thread = OcrdmaDeviceModel.StartThread(Dir.Path);
            return;
        }
        _process = Process.Start(RoceuioCommand.StartInfo("model", "ocrdma", "--dir", Dir.Path))!;
        string? line = _process.StandardOutput.ReadLine(); // "ocrdma model: serving DIR"
        if (line == null || !line.Contains("serving"))
            throw new AssertionException($"the model process did not start: {line} {_process.StandardError.ReadToEnd()}");
    }

    public TempDirectory Dir { get; }
    public EmulatedDevice Device { get; }

    public string[] Violations => OcrdmaDeviceModel.ReadViolations(Dir.Path);

    /// <summary>Why the in-process model died; null while it serves.</summary>
    public string? ModelFailure => _thread?.Failure;

    /// <summary>The driver over the device, with the model's SYNTHETIC side channel following it (as the ocrdma
    /// descriptor does for an emulated device).</summary>
    public OcrdmaDevice Open(OcrdmaDeviceOptions? options = null)
    {
        options ??= new OcrdmaDeviceOptions();
        return Follow(OcrdmaDevice.Open(DeviceResources.Of(Device), options.SourceMac is null ? options with { SourceMac = SourceMac } : options));
    }

    /// <summary>The MAC of the (pretend) netdev the port is bound to, unless the options give another.</summary>
    public const ulong SourceMac = 0x02_00_5e_10_20_30UL;

    /// <summary>Has the model's side channel (Model/SgidShadowFile) follow <paramref name="device"/>.</summary>
    public OcrdmaDevice Follow(OcrdmaDevice device)
    {
        SgidShadowFile.Follow(device, Dir.Path);
        return device;
    }

    public void Dispose()
    {
        if (_process != null)
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit();
            _process.Dispose();
        }
        _thread?.Dispose();
        Device.Dispose();
        Dir.Dispose();
    }
}
