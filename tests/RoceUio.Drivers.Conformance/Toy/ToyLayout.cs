namespace RoceUio.Drivers.Conformance.Toy;

/// <summary>
/// The register map of the toy family, a made-up NIC small enough to read in one sitting (BAR0, little-endian):
/// the driver writes a port's whole GID table into the staging area and rings <see cref="Doorbell"/> with the port
/// number; the device checks the table, copies it to the active area (what it routes with) and clears the doorbell,
/// leaving <see cref="StatusOk"/> or an error in <see cref="Status"/>. A refused table leaves the active area as it was.
/// </summary>
public static class ToyLayout
{
    public const ushort VendorId = 0x1d0f, DeviceId = 0x7e57;   // not a real device's ids
    public const int Ports = 2, Slots = 16, BarSize = 16 * 1024;

    public const long Doorbell = 0x00, Status = 0x04;
    public const uint StatusBusy = 0xffff_ffff, StatusOk = 0, StatusBadEntry = 0x10;

    /// <summary>One slot: GID high and low 64 bits (GID byte order as numbers), then type (1 v1, 2 v2), then valid.</summary>
    public const int SlotSize = 24;
    public const long StagingBase = 0x100, ActiveBase = 0x2100;
    public const long PortStride = Slots * SlotSize;

    public static long Staging(int port, int slot) => StagingBase + (port - 1) * PortStride + slot * SlotSize;
    public static long Active(int port, int slot) => ActiveBase + (port - 1) * PortStride + slot * SlotSize;
}
