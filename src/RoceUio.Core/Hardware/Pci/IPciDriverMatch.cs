namespace RoceUio.Hardware.Pci;

/// <summary>
/// Which RoceUio driver claims a PCI (vendor, device) pair: what discovery (<see cref="PciBus"/>) asks to name the
/// driver of each function it finds. <see cref="RoceUio.Drivers.RoceDriverRegistry"/> is the one implementation the
/// program uses; <see cref="None"/> claims nothing (sysfs reads that need no driver names, such as binding).
/// </summary>
public interface IPciDriverMatch
{
    /// <summary>The name of the driver that claims (vendor, device), or false.</summary>
    bool TryMatch(ushort vendor, ushort device, out string driver);

    /// <summary>Claims nothing.</summary>
    static IPciDriverMatch None { get; } = new NoDrivers();

    private sealed class NoDrivers : IPciDriverMatch
    {
        public bool TryMatch(ushort vendor, ushort device, out string driver)
        {
            driver = "";
            return false;
        }
    }
}
