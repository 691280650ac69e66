namespace RoceUio.Roce;

/// <summary>
/// A device whose ports can run as one RoCE port when their netdevs are slaves of one bond (RoCE LAG; the kernel's
/// mlx4 does it: <c>mlx4_is_bonded</c>, drivers/infiniband/hw/mlx4/main.c). An <see cref="IRoceDevice"/> that also
/// implements this is asked by the <see cref="GidManager"/>, after every link event and when it is registered, with the
/// netdev each of its ports is bound to; the device decides by its own rules (which bond modes, how many slaves), sends
/// its firmware what bonding needs, and answers with the netdev the one bonded port follows, or 0 for "not bonded".
/// </summary>
/// <remarks>
/// While bonded the manager runs the device as the kernel runs a re-registered one-port device
/// (<c>phys_port_cnt = 1</c>): port 1's table is the only table, filled by the usual rules with the answered netdev as
/// the port's netdev (<c>ib_device_get_netdev(1)</c>, the bond's active slave in active-backup mode); the other ports
/// hold nothing and are not bound. A change of the answer between 0 and non-zero is a re-registration: every entry of
/// every port is deleted and the tables are filled again from the netdev state. A change between two netdevs (a
/// failover) only rebinds port 1 before the event's own commands run. Called on the manager's worker thread.
/// </remarks>
public interface IRocePortBonding
{
    /// <param name="graph">The netdev state, already showing the event.</param>
    /// <param name="portNetdevs">Each port's own bound netdev (ifindex; 0 while it does not exist), port 1 first.</param>
    /// <param name="error">Why the device could not do what the netdevs ask for (a refused command); null when all went well.
    /// The manager reports it; the answer is still the state the device is in.</param>
    /// <returns>The ifindex of the netdev port 1 follows while the ports are bonded; 0 when they are not.</returns>
    int UpdateBonding(INetdevGraph graph, ReadOnlySpan<int> portNetdevs, out string? error);
}
