using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Hardware.Pci;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// The ocrdma family as the program sees it (<see cref="RoceDriver"/>): Emulex Skyhawk-R PF and VF under both vendor
/// ids, one port per device named <c>ocrdmaN</c>, doorbells in BAR4 (PF) or BAR0 (VF), and the in-tree device model.
/// The core tables hold the GID references (<see cref="CoreGidReferences"/>, attached once the manager made them).
/// </summary>
public static class OcrdmaDriver
{
    /// <summary>Config key: <see cref="OcrdmaDeviceOptions.CommandTimeout"/> in milliseconds.</summary>
    public const string CommandTimeoutKey = "command_timeout_ms";
    /// <summary>Config key: <see cref="OcrdmaDeviceOptions.MailboxTimeout"/> in milliseconds.</summary>
    public const string MailboxTimeoutKey = "mailbox_timeout_ms";
    /// <summary>Config key: <see cref="OcrdmaDeviceOptions.PostTimeout"/> in milliseconds.</summary>
    public const string PostTimeoutKey = "post_timeout_ms";

    public static RoceDriver Descriptor { get; } = new()
    {
        Name = "ocrdma",
        Summary = "Emulex Skyhawk-R (ocrdma), host SGID table, MQ commands through the doorbell BAR",
        PciIds = (from v in new[] { OcrdmaLayout.VendorEmulex, OcrdmaLayout.VendorServerEngines }
                  from d in new[] { OcrdmaLayout.DeviceSkyhawk, OcrdmaLayout.DeviceSkyhawkVf }
                  select new PciId(v, d)).ToList(),
        MaxPortsPerDevice = 1,
        Open = Open,
        Model = new DriverModel
        {
            PortCounts = [1],
            CreateFiles = (dir, _) => OcrdmaDeviceModel.CreateDevice(dir),
            StartInProcess = OcrdmaDeviceModel.StartThread,
            Serve = OcrdmaDeviceModel.Main,
        },
        Settings =
        [
            DriverSetting.Milliseconds(CommandTimeoutKey, "how long an MQ command may take (default 30000)"),
            DriverSetting.Milliseconds(MailboxTimeoutKey, "how long each bootstrap-mailbox step may take (default 10000)"),
            DriverSetting.Milliseconds(PostTimeoutKey, "how long to wait for the firmware's POST at start (default 60000, as be_fw_wait_ready)"),
        ],
    };

    private static DriverHandle Open(DriverOpenContext ctx, DeviceResources res)
    {
        var refs = new CoreGidReferences();
        var dev = OcrdmaDevice.Open(res, Options(ctx) with { References = refs });
        // An emulated device's model checks QPs and AVs against the SYNTHETIC shadow file in its directory; real
        // hardware has no such channel, so nothing is written next to a PCI function. (Unsubscribing is not needed:
        // the subscription lives as long as the driver.)
        if (res.ModelDirectory is { } dir)
            SgidShadowFile.Follow(dev, dir);
        return new DriverHandle(dev) { AttachTables = refs.Attach };
    }

    /// <summary>The driver's options for a device opened with <paramref name="ctx"/> (no references, no oracle).</summary>
    public static OcrdmaDeviceOptions Options(DriverOpenContext ctx) => new()
    {
        Name = ctx.Name,
        Tracer = ctx.Tracer,
        VlanOfNetdev = ctx.VlanOfNetdev,
        CommandTimeout = ctx.Milliseconds(CommandTimeoutKey, OcrdmaMq.DefaultTimeout),
        MailboxTimeout = ctx.Milliseconds(MailboxTimeoutKey, TimeSpan.FromSeconds(10)),
        PostTimeout = ctx.Milliseconds(PostTimeoutKey, OcrdmaBringUpLayout.PostTimeout),
        SourceMac = ctx.PortMac(1),   // one port: its netdev's MAC, as ocrdma_add takes be2net's
    };
}
