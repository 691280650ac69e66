namespace RoceUio.Drivers.Mlx4;

/// <summary>What a PCI id of the mlx4 table is.</summary>
public enum Mlx4PciKind
{
    /// <summary>A physical function this driver can own (the HCR is usable).</summary>
    PhysicalFunction,
    /// <summary>An SR-IOV virtual function (<c>MLX4_PCI_DEV_IS_VF</c>): it never touches the HCR but posts through
    /// the comm channel (cmd.c mlx4_slave_cmd), which this driver does not speak.</summary>
    VirtualFunction,
    /// <summary>A ConnectX/ConnectX-2 "Gen2" part (<c>MLX4_PCI_DEV_FORCE_SENSE_PORT</c>), probed by current kernels
    /// only with CONFIG_MLX4_CORE_GEN2.</summary>
    Gen2,
}

/// <summary>One row of the kernel's <c>mlx4_pci_table</c>.</summary>
public readonly record struct Mlx4PciId(ushort DeviceId, Mlx4PciKind Kind, string Name);

/// <summary>
/// The PCI ids the kernel's mlx4_core binds (drivers/net/ethernet/mellanox/mlx4/main.c <c>mlx4_pci_table</c>,
/// torvalds/linux @02b5a603; newer trees mark the same rows with <c>MLX_SP/MLX_VF/MLX_GN</c>).
/// </summary>
public static class Mlx4PciIds
{
    /// <summary><c>PCI_VENDOR_ID_MELLANOX</c>.</summary>
    public const ushort VendorMellanox = 0x15b3;
    /// <summary><c>PCI_DEVICE_ID_MELLANOX_CONNECTX3</c>: MT27500 Family [ConnectX-3].</summary>
    public const ushort ConnectX3 = 0x1003;
    /// <summary>MT27520 Family [ConnectX-3 Pro].</summary>
    public const ushort ConnectX3Pro = 0x1007;

    public static IReadOnlyList<Mlx4PciId> All { get; } =
    [
        new(0x6340, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" SDR"),
        new(0x634a, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" DDR"),
        new(0x6354, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" QDR"),
        new(0x6732, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" DDR PCIe gen2"),
        new(0x673c, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" QDR PCIe gen2"),
        new(0x6368, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" EN 10GigE"),
        new(0x6750, Mlx4PciKind.Gen2, "MT25408 \"Hermon\" EN 10GigE PCIe gen2"),
        new(0x6372, Mlx4PciKind.Gen2, "MT25458 ConnectX EN 10GBASE-T 10GigE"),
        new(0x675a, Mlx4PciKind.Gen2, "MT25458 ConnectX EN 10GBASE-T+Gen2 10GigE"),
        new(0x6764, Mlx4PciKind.Gen2, "MT26468 ConnectX EN 10GigE PCIe gen2"),
        new(0x6746, Mlx4PciKind.Gen2, "MT26438 ConnectX EN 40GigE PCIe gen2 5GT/s"),
        new(0x676e, Mlx4PciKind.Gen2, "MT26478 ConnectX2 40GigE PCIe gen2"),
        new(0x1002, Mlx4PciKind.VirtualFunction, "MT25400 Family [ConnectX-2 Virtual Function]"),
        new(0x1003, Mlx4PciKind.PhysicalFunction, "MT27500 Family [ConnectX-3]"),
        new(0x1004, Mlx4PciKind.VirtualFunction, "MT27500 Family [ConnectX-3 Virtual Function]"),
        new(0x1005, Mlx4PciKind.PhysicalFunction, "MT27510 Family"),
        new(0x1006, Mlx4PciKind.PhysicalFunction, "MT27511 Family"),
        new(0x1007, Mlx4PciKind.PhysicalFunction, "MT27520 Family [ConnectX-3 Pro]"),
        new(0x1008, Mlx4PciKind.PhysicalFunction, "MT27521 Family"),
        new(0x1009, Mlx4PciKind.PhysicalFunction, "MT27530 Family"),
        new(0x100a, Mlx4PciKind.PhysicalFunction, "MT27531 Family"),
        new(0x100b, Mlx4PciKind.PhysicalFunction, "MT27540 Family"),
        new(0x100c, Mlx4PciKind.PhysicalFunction, "MT27541 Family"),
        new(0x100d, Mlx4PciKind.PhysicalFunction, "MT27550 Family"),
        new(0x100e, Mlx4PciKind.PhysicalFunction, "MT27551 Family"),
        new(0x100f, Mlx4PciKind.PhysicalFunction, "MT27560 Family"),
        new(0x1010, Mlx4PciKind.PhysicalFunction, "MT27561 Family"),
    ];

    /// <summary>The table row of a vendor/device pair, or false if mlx4 does not bind it.</summary>
    public static bool TryFind(ushort vendorId, ushort deviceId, out Mlx4PciId id)
    {
        id = default;
        if (vendorId != VendorMellanox)
            return false;
        foreach (Mlx4PciId row in All)
            if (row.DeviceId == deviceId)
            {
                id = row;
                return true;
            }
        return false;
    }
}
