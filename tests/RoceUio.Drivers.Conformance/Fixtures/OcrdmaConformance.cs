using RoceUio.Hardware.Emulation;
using RoceUio.Drivers.Ocrdma;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Drivers.Conformance.Fixtures;

/// <summary>
/// ocrdma under the suite: the driver over an emulated Skyhawk whose model runs on a thread. ocrdma keeps no GID table
/// in the device, so "the hardware" is the host SGID table that MODIFY_QP and address vectors are built from
/// (<see cref="OcrdmaDevice.Sgids"/>, valid and pending slots), indexed by the core index itself. GID changes send no
/// command, so there is nothing to refuse (<see cref="ArmRefusal"/> is false); a consumer is a QP whose path was set by
/// MODIFY_QP from the index, which the model checks against the host table.
/// </summary>
public sealed class OcrdmaUnderTest : DeviceUnderTest
{
    private static readonly Gid RemoteGid = Gid.Parse("2001:db8::ffff");
    private readonly TempDirectory _dir;
    private readonly EmulatedDevice _device;
    private readonly DeviceModelThread<OcrdmaDeviceModel> _model;
    private readonly OcrdmaDevice _driver;
    private int _nextQp = 100;

    public OcrdmaUnderTest(OcrdmaDeviceOptions? options = null)
    {
        _dir = new TempDirectory("roceuio-conf-ocrdma");
        _device = OcrdmaDeviceModel.CreateDevice(_dir.Path);
        _model = OcrdmaDeviceModel.StartThread(_dir.Path);
        try
        {
            options ??= new OcrdmaDeviceOptions { CommandTimeout = TimeSpan.FromSeconds(60) };
            _driver = OcrdmaDevice.Open(DeviceResources.Of(_device), options.SourceMac is null ? options with { SourceMac = 0x02_00_5e_10_20_30UL } : options);
            SgidShadowFile.Follow(_driver, _dir.Path);
        }
        catch
        {
            _model.Dispose();
            _device.Dispose();
            _dir.Dispose();
            throw;
        }
    }

    public OcrdmaDevice Driver => _driver;
    public override IRoceDevice Device => _driver;

    public override IReadOnlyList<HardwareGid> ReadHardware(int port)
        => _driver.Sgids.Snapshot().Where(s => s.Port == port).OrderBy(s => s.Index)
            .Select(s => new HardwareGid(s.Index, s.Sgid.Gid, s.Sgid.Type)).ToList();

    public override bool TryResolve(int port, int index, out int slot)
    {
        slot = index;
        bool inRange = (uint)(port - 1) < (uint)_driver.PortCount && (uint)index < OcrdmaSgidTable.Capacity;
        return inRange && _driver.Sgids.StateOf(port, index) == OcrdmaSgidState.Valid;
    }

    public override IDisposable Use(int port, int index)
    {
        int qp = _nextQp++;
        _driver.ModifyQpPath(qp, port, index, new OcrdmaPath(RemoteGid, 0x001122334455UL));
        return new QpUse(_driver, qp);
    }

    public override IReadOnlyList<string> DeviceViolations() => OcrdmaDeviceModel.ReadViolations(_dir.Path);

    public override void Dispose()
    {
        _driver.Dispose();
        _model.Dispose();
        _device.Dispose();
        _dir.Dispose();
    }

    private sealed class QpUse(OcrdmaDevice driver, int qp) : IDisposable
    {
        public void Dispose() => driver.ReleaseQpPath(qp);
    }
}

/// <summary>ocrdma (Skyhawk PF), model on a thread.</summary>
public sealed class OcrdmaConformance : RoceDeviceConformance
{
    protected override DeviceUnderTest CreateDevice() => new OcrdmaUnderTest();
}
