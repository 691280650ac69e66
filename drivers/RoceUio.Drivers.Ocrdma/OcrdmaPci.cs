namespace RoceUio.Drivers.Ocrdma;

/// <summary>PCI identity of the functions this driver serves (benet/be.h) and where their doorbells are (be_main.c db_bar).</summary>
public static class OcrdmaPci
{
    /// <summary>True for a Skyhawk PF or VF under either vendor id. (Lancer and BE2/BE3 carry no RoCE for ocrdma here.)</summary>
    public static bool IsSupported(ushort vendor, ushort device)
        => vendor is OcrdmaLayout.VendorEmulex or OcrdmaLayout.VendorServerEngines
           && device is OcrdmaLayout.DeviceSkyhawk or OcrdmaLayout.DeviceSkyhawkVf;

    public static bool IsVirtualFunction(ushort device) => device == OcrdmaLayout.DeviceSkyhawkVf;

    /// <summary><c>db_bar()</c>: BAR4 on a Skyhawk PF, BAR0 on a VF.</summary>
    public static int DoorbellBar(ushort device) => IsVirtualFunction(device) ? OcrdmaLayout.DoorbellBarVf : OcrdmaLayout.DoorbellBarPf;
}
