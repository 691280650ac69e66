namespace RoceUio.Hardware.Pci;

/// <summary>A (vendor, device) pair a driver claims, like an entry of a kernel driver's <c>pci_device_id</c> table.</summary>
public readonly record struct PciId(ushort Vendor, ushort Device) : IComparable<PciId>
{
    public int CompareTo(PciId other) => ((Vendor << 16) | Device).CompareTo((other.Vendor << 16) | other.Device);

    public override string ToString() => $"{Vendor:x4}:{Device:x4}";
}
