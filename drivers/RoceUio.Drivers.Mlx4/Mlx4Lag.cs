using System.Buffers.Binary;
using RoceUio.Hardware;
using RoceUio.Roce;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4;

/// <summary>mlx4's virtual-to-physical port map (<c>struct mlx4_port_map</c>): which physical port each virtual port uses.</summary>
public readonly record struct Mlx4PortMap(byte Port1, byte Port2)
{
    /// <summary>Each virtual port on its own physical port: the map after INIT_HCA and after an unbond.</summary>
    public static Mlx4PortMap Identity => new(1, 2);

    public override string ToString() => $"[{Port1}][{Port2}]";
}

/// <summary>What <see cref="Mlx4Lag.Decide"/> found: bond or not, the netdev the one RoCE port follows, and the port map
/// asked for (0: keep that port's current mapping, as <c>mlx4_port_map_set</c> reads it).</summary>
public readonly record struct Mlx4BondDecision(bool Bond, int LagNetdev, byte V2pPort1, byte V2pPort2, string Why);

/// <summary>
/// RoCE LAG as the kernel's mlx4 does it:
/// <list type="bullet">
/// <item>when (en_netdev.c <c>mlx4_en_netdev_event</c>): both ports' netdevs are slaves of the same master, that master
/// is a bond (only a bond sends NETDEV_BONDING_INFO) in mode 1 (active-backup), 2 (balance-xor) or 4 (802.3ad), and it
/// has exactly two slaves; anything else unbonds;</item>
/// <item>what the firmware is told (main.c <c>mlx4_bond</c> → <c>mlx4_do_bond(true)</c>, then <c>mlx4_port_map_set</c>):
/// CONFIG_DEV with <c>MLX4_DISABLE_RX_PORT</c> and <c>CONFIG_DISABLE_RX_PORT</c> (fw.c
/// <c>mlx4_disable_rx_port_check</c>), then VIRT_PORT_MAP when the map changes: active-backup maps both virtual
/// ports to the active slave's physical port, the active-active modes map a port to itself while its link is up and to
/// the other one while it is down (a cross map [2][1] is refused by the kernel with -EINVAL and not sent); unbonding
/// (<c>mlx4_do_bond(false)</c>) sends CONFIG_DEV with the check enabled again and VIRT_PORT_MAP [1][2];</item>
/// <item>what the GID path sees (drivers/infiniband/hw/mlx4/main.c): the IB device is registered again with
/// <c>phys_port_cnt</c> 1 and <c>mlx4_ib_get_netdev</c> answers the bond's active slave (active-backup) or port 1's
/// netdev; <c>mlx4_ib_update_gids_v1</c>/<c>_v1_v2</c> then push port 1's table with SET_PORT to port 1 and to port 2
/// (<see cref="Mlx4Device.Commit"/>).</item>
/// </list>
/// Nothing is tried without <c>MLX4_DEV_CAP_FLAG2_PORT_REMAP</c> (bmme bit 24): <c>mlx4_do_bond</c> answers -EOPNOTSUPP
/// and the ports stay separate. Our choice: after an unbond the cached map is [1][2] again, what the firmware was told
/// (the kernel keeps its cache, so a later bond with the old map sends no VIRT_PORT_MAP).
/// Locking: the driver's single caller.
/// </summary>
public sealed class Mlx4Lag
{
    public const byte BondModeActiveBackup = 1, BondModeXor = 2, BondMode8023ad = 4;

    private readonly string _name;
    private readonly Func<Mlx4Hcr> _hcr;
    private readonly DmaBuffer _mailbox;
    private readonly TimeSpan _timeout;
    private int _lagNetdev;
    private string? _lastError;

    public Mlx4Lag(string name, Func<Mlx4Hcr> hcr, DmaBuffer mailbox, bool portRemap, TimeSpan timeout)
    {
        _name = name;
        _hcr = hcr;
        _mailbox = mailbox;
        PortRemap = portRemap;
        _timeout = timeout;
    }

    /// <summary>QUERY_DEV_CAP advertised <c>MLX4_BMME_FLAG_PORT_REMAP</c>.</summary>
    public bool PortRemap { get; }
    /// <summary><c>mlx4_is_bonded</c>.</summary>
    public bool IsBonded { get; private set; }
    /// <summary><c>priv->v2p</c>: the map the firmware was last told.</summary>
    public Mlx4PortMap PortMap { get; private set; } = Mlx4PortMap.Identity;

    /// <summary>Called after a bond or an unbond took effect (the device marks its tables for a push).</summary>
    public Action<bool>? BondingChanged { get; init; }

    /// <summary>mlx4_en_netdev_event's checks over the netdev state; <paramref name="ports"/> are the two ports' netdevs.</summary>
    public static Mlx4BondDecision Decide(INetdevGraph graph, ReadOnlySpan<int> ports)
    {
        if (ports.Length != 2)
            return No($"{ports.Length} port(s): mlx4 bonds exactly two");
        if (ports[0] == 0 || ports[1] == 0 || graph.Find(ports[0]) is not { } p1 || graph.Find(ports[1]) is not { } p2)
            return No("a port has no netdev");
        if (p1.MasterIfindex == 0 || p2.MasterIfindex == 0)
            return No("a port's netdev is not a slave");
        if (p1.MasterIfindex != p2.MasterIfindex)
            return No("the ports' netdevs have different masters");
        if (graph.Find(p1.MasterIfindex) is not { IsBondMaster: true } bond)
            return No("their master is not a bond");
        if (bond.BondMode is not (BondModeActiveBackup or BondModeXor or BondMode8023ad))
            return No($"bond mode {bond.BondMode}: mlx4 bonds modes 1, 2 and 4 only");
        int slaves = graph.SlavesOf(bond.Ifindex).Count;
        if (slaves != 2)
            return No($"{bond.Name} has {slaves} slaves: mlx4 needs exactly 2");
        if (bond.BondMode == BondModeActiveBackup)
        {
            // mlx4_ib_get_netdev: the active slave (bond_option_active_slave_get_rcu), else port 1's netdev.
            if (bond.BondActiveSlave == ports[0])
                return new(true, ports[0], 1, 1, $"{bond.Name} active-backup, {p1.Name} active");
            if (bond.BondActiveSlave == ports[1])
                return new(true, ports[1], 2, 2, $"{bond.Name} active-backup, {p2.Name} active");
            return new(true, ports[0], 0, 0, $"{bond.Name} active-backup, no active slave");
        }
        // Active-active: a virtual port is its own physical port while that link is up. The active-slave query answers
        // NULL in these modes, so the RoCE port follows port 1's netdev.
        byte v1 = p1.HasCarrier ? (byte)1 : (byte)2, v2 = p2.HasCarrier ? (byte)2 : (byte)1;
        if (v1 == 2 && v2 == 1)
            v1 = v2 = 0;   // both down: the kernel refuses the cross map [2][1] (-EINVAL) and keeps the current one
        return new(true, ports[0], v1, v2, $"{bond.Name} mode {bond.BondMode}");

        static Mlx4BondDecision No(string why) => new(false, 0, 0, 0, why);
    }

    /// <summary>
    /// Brings the firmware to what the netdevs ask for and answers the netdev the one RoCE port follows (0: not bonded).
    /// A refused command leaves the state as the kernel leaves it (no bond, or still bonded) and is said in
    /// <paramref name="error"/> once.
    /// </summary>
    public int Update(INetdevGraph graph, ReadOnlySpan<int> ports, out string? error)
    {
        Mlx4BondDecision d = Decide(graph, ports);
        string? problem = null;
        if (d.Bond && !PortRemap)
            problem = $"{_name}: the ports' netdevs are the two slaves of one bond the kernel would run as one RoCE port, but the device has no PORT_REMAP capability (bmme bit 24): mlx4_do_bond answers -EOPNOTSUPP, the ports stay separate";
        else if (d.Bond)
            problem = Bond(d);
        else if (IsBonded)
            problem = Unbond(d.Why);
        error = problem is not null && problem != _lastError ? problem : null;
        _lastError = problem;
        return IsBonded ? _lagNetdev : 0;
    }

    private string? Bond(Mlx4BondDecision d)
    {
        if (!IsBonded)
        {
            try
            {
                SendRxPortCheck(disable: true);
            }
            catch (Mlx4CommandException e)
            {
                return $"{_name}: could not bond the ports ({d.Why}): {e.Message}";
            }
            IsBonded = true;
            _lagNetdev = d.LagNetdev;
            BondingChanged?.Invoke(true);
        }
        _lagNetdev = d.LagNetdev;
        var want = new Mlx4PortMap(d.V2pPort1 == 0 ? PortMap.Port1 : d.V2pPort1, d.V2pPort2 == 0 ? PortMap.Port2 : d.V2pPort2);
        if (want == PortMap)
            return null;
        try
        {
            SendPortMap(want);
        }
        catch (Mlx4CommandException e)
        {
            return $"{_name}: could not set the port map {want} ({d.Why}): {e.Message}";
        }
        PortMap = want;
        return null;
    }

    private string? Unbond(string why)
    {
        try
        {
            SendRxPortCheck(disable: false);
            SendPortMap(Mlx4PortMap.Identity);
        }
        catch (Mlx4CommandException e)
        {
            return $"{_name}: could not unbond the ports ({why}): {e.Message}";
        }
        IsBonded = false;
        PortMap = Mlx4PortMap.Identity;
        _lagNetdev = 0;
        BondingChanged?.Invoke(false);
        return null;
    }

    /// <summary>fw.c <c>mlx4_disable_rx_port_check</c>: CONFIG_DEV set (op_mod 0, in_mod 0).</summary>
    private void SendRxPortCheck(bool disable)
    {
        Span<byte> box = _mailbox.Span;
        box.Clear();
        WriteRxPortCheck(box, disable);
        _hcr().Execute(_mailbox.DeviceAddress, 0, 0, ConfigDevSet, CmdConfigDev, _timeout);
    }

    /// <summary>fw.c <c>mlx4_virt2phy_port_map</c>: VIRT_PORT_MAP (op_mod <c>MLX4_SET_PORT_VIRT2PHY</c>, in_mod 0).</summary>
    private void SendPortMap(Mlx4PortMap map)
    {
        Span<byte> box = _mailbox.Span;
        box.Clear();
        WritePortMap(box, map);
        _hcr().Execute(_mailbox.DeviceAddress, 0, 0, SetPortVirt2Phy, CmdVirtPortMap, _timeout);
    }

    /// <summary>The CONFIG_DEV mailbox of <c>mlx4_disable_rx_port_check</c>: <c>update_flags = MLX4_DISABLE_RX_PORT</c>,
    /// <c>roce_flags = CONFIG_DISABLE_RX_PORT</c> when disabling, everything else 0.</summary>
    public static void WriteRxPortCheck(Span<byte> box, bool disable)
    {
        BinaryPrimitives.WriteUInt32BigEndian(box[ConfigDevUpdateFlags..], ConfigDevUpdateDisableRxPort);
        BinaryPrimitives.WriteUInt32BigEndian(box[ConfigDevRoceFlags..], disable ? ConfigDevRoceFlagDisableRxPort : 0);
    }

    /// <summary>The VIRT_PORT_MAP mailbox: be32 <c>v_port1</c>, be32 <c>v_port2</c>.</summary>
    public static void WritePortMap(Span<byte> box, Mlx4PortMap map)
    {
        BinaryPrimitives.WriteUInt32BigEndian(box[VirtPortMapPort1..], map.Port1);
        BinaryPrimitives.WriteUInt32BigEndian(box[VirtPortMapPort2..], map.Port2);
    }
}
