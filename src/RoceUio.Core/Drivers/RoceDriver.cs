using RoceUio.Hardware.Pci;

namespace RoceUio.Drivers;

/// <summary>
/// Everything the program needs to know about one NIC family, exported by its driver folder (one descriptor per
/// family, e.g. <c>Mlx4Driver.Descriptor</c>) and registered in a <see cref="RoceDriverRegistry"/>: its name, the PCI
/// ids it claims, how many ports one device has, how to open a device over mapped registers and DMA memory (the same
/// code for a PCI function, an emulated device and an attached model), how to serve its device model, and which
/// per-device config keys it takes. Nothing outside the folder names the family: the CLI, the config, <c>model</c>,
/// <c>bind</c> and PCI discovery ask the registry.
/// </summary>
/// <remarks>
/// A hardware family sets <see cref="Open"/> (and usually <see cref="Model"/>); a software device with no registers
/// (rxe) sets <see cref="OpenSoftware"/> instead. Immutable once registered.
/// </remarks>
public sealed class RoceDriver
{
    /// <summary>The name users write (<c>--emulate NAME:...</c>, <c>"driver": "NAME"</c>), e.g. <c>mlx4</c>.</summary>
    public required string Name { get; init; }

    /// <summary>One line for help texts and <c>show</c>: what hardware this is.</summary>
    public string Summary { get; init; } = "";

    /// <summary>The PCI functions this driver binds (its <c>pci_device_id</c> table); empty for a software device.</summary>
    public IReadOnlyList<PciId> PciIds { get; init; } = [];

    /// <summary>How many netdevs (ports) one device serves; a longer port list is split into several devices.</summary>
    public int MaxPortsPerDevice { get; init; } = 1;

    /// <summary>The name of the n-th device (0-based) this driver opens in a process; default <c>NAME</c> + n
    /// (<c>ocrdma0</c>); mlx4 uses <c>mlx4_0</c> as the kernel does.</summary>
    public Func<int, string>? DeviceName { get; init; }

    /// <summary>Opens a device over its registers and DMA memory (<see cref="DeviceResources"/>); null for a software device.</summary>
    public Func<DriverOpenContext, DeviceResources, DriverHandle>? Open { get; init; }

    /// <summary>Opens a software device (no registers, no model), e.g. rxe; null for hardware.</summary>
    public Func<DriverOpenContext, DriverHandle>? OpenSoftware { get; init; }

    /// <summary>The family's device model (<c>--emulate</c>, <c>roceuio model NAME</c>); null if it has none.</summary>
    public DriverModel? Model { get; init; }

    /// <summary>The per-device config keys this driver takes besides the common ones, validated by the config loader.</summary>
    public IReadOnlyList<DriverSetting> Settings { get; init; } = [];

    /// <summary>True for a device with no registers (<see cref="OpenSoftware"/>): nothing to bind, attach or emulate.</summary>
    public bool IsSoftware => OpenSoftware is not null;

    /// <summary>The name of the n-th device of this driver (0-based).</summary>
    public string NameOf(int n) => DeviceName is { } f ? f(n) : $"{Name}{n}";

    /// <summary>The setting called <paramref name="key"/>, or null when this driver takes no such key.</summary>
    public DriverSetting? Setting(string key) => Settings.FirstOrDefault(s => s.Key == key);

    public override string ToString() => Name;
}
