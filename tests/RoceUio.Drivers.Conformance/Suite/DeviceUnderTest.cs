using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers.Conformance;

/// <summary>One entry of a port's GID table as the hardware (or, for a host-table family, the table its consumers read)
/// holds it: the hardware's own slot number, the GID and its type.</summary>
public readonly record struct HardwareGid(int Slot, Gid Gid, GidType Type)
{
    public override string ToString() => $"slot {Slot}: {Gid.ToCompressedString()} {Type.ToShortString()}";
}

/// <summary>
/// What <see cref="RoceDeviceConformance"/> needs from a driver author: a freshly brought-up driver over its device
/// model, a way to read what the device holds, and (where the device can refuse) a way to make it refuse.
/// One instance per test; the suite disposes it.
/// </summary>
/// <remarks>
/// Implement the abstract members (each family must answer them, even with "none"); override the virtual one where the
/// family has the feature:
/// <list type="bullet">
/// <item><see cref="ReadHardware"/>: read the device, not the driver. mlx4: the model's table of the last accepted
/// SET_PORT. A family without a device table (ocrdma): the host table that MODIFY_QP / AV building reads.</item>
/// <item><see cref="TryResolve"/>: core index → hardware slot as the driver's consumers resolve it (mlx4:
/// <c>TryGetRealIndex</c>; a family that uses the core index as the slot returns it while the slot is in use).</item>
/// <item><see cref="ArmRefusal"/>: make the device refuse the next command that changes the port's GIDs (mlx4: an error
/// status for the next SET_PORT). Return false if GID changes send no command at all (ocrdma): the suite then checks
/// that the driver really writes at once instead.</item>
/// <item><see cref="Use"/>: a consumer (QP, AH) that holds a core index; null when the driver has none (mlx4), and the
/// suite then checks that a deleted entry leaves the hardware at once instead.</item>
/// <item><see cref="DeviceViolations"/>: what the model saw that the real device would refuse or never see. Abstract, so
/// that a family cannot pass the check by not looking.</item>
/// </list>
/// </remarks>
public abstract class DeviceUnderTest : IDisposable
{
    /// <summary>The driver, brought up over its device (model).</summary>
    public abstract IRoceDevice Device { get; }

    /// <summary>Every entry the device holds for <paramref name="port"/> now, in slot order.</summary>
    public abstract IReadOnlyList<HardwareGid> ReadHardware(int port);

    /// <summary>The hardware slot a consumer of core index <paramref name="index"/> would use; false if the driver maps
    /// the index to nothing (never added, or deleted).</summary>
    public abstract bool TryResolve(int port, int index, out int slot);

    /// <summary>Arms the device to refuse the next command that changes <paramref name="port"/>'s GIDs. False: the
    /// family sends no command for GID changes, so there is nothing to refuse.</summary>
    public virtual bool ArmRefusal(int port) => false;

    /// <summary>Starts a consumer (QP, AH) that uses core index <paramref name="index"/>; disposing it ends the use.
    /// Null if the driver has no consumers of its own (then a deleted entry must leave the hardware at once).</summary>
    public abstract IDisposable? Use(int port, int index);

    /// <summary>Things the device model refused or should never have seen, in order; the suite asserts none at the end
    /// of each test (refusals the suite armed itself excluded).</summary>
    public abstract IReadOnlyList<string> DeviceViolations();

    public virtual void Dispose() { }
}
