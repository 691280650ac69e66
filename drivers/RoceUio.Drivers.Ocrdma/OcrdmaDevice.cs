using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>How to bring up an <see cref="OcrdmaDevice"/> (name, tracer and VLAN lookup: <see cref="RoceDeviceOptions"/>).</summary>
public sealed record OcrdmaDeviceOptions : RoceDeviceOptions
{
    public OcrdmaDeviceOptions() => Name = "ocrdma0";

    /// <summary>How long an MQ command may take (the kernel waits 30 s).</summary>
    public TimeSpan CommandTimeout { get; init; } = OcrdmaMq.DefaultTimeout;
    /// <summary>How long each bootstrap-mailbox step may take.</summary>
    public TimeSpan MailboxTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Who keeps a GID entry alive while a QP or AH uses its index, and the only count of those users: the core
    /// table (<see cref="CoreGidReferences"/>). Null: the device counts them itself (<see cref="SgidUseCounter"/>).</summary>
    public ISgidReferences? References { get; init; }
    /// <summary>The source MAC of the address vectors, as a 48-bit number: the MAC of the netdev the port is bound to, taken
    /// at bring-up as the kernel does (ocrdma_add copies be2net's <c>netdev->dev_addr</c> into <c>nic_info.mac_addr</c>,
    /// which ocrdma_build_av puts in every AV). Null: not known, and <see cref="OcrdmaDevice.CreateAddressHandle"/>
    /// refuses rather than invent one.</summary>
    public ulong? SourceMac { get; init; }
    /// <summary>Reads the function's POST semaphore (be_POST_stage_get on Skyhawk: PCI config dword 0x94), which the
    /// bring-up polls until the firmware is ready (be_fw_wait_ready). Null: not waited for.</summary>
    public Func<uint>? PostSemaphore { get; init; }
    /// <summary>How long to wait for the firmware's POST (the kernel waits 60 s).</summary>
    public TimeSpan PostTimeout { get; init; } = OcrdmaBringUpLayout.PostTimeout;
}

/// <summary>
/// An Emulex Skyhawk-R RoCE function (ocrdma) driven from user space: the bring-up of ocrdma_hw.c (bootstrap mailbox →
/// MQ's CQ and MQ, then CREATE_AH_TBL once), the host SGID table behind the core's, and its two consumers: MODIFY_QP
/// with a path built from an sgid index, and address vectors in the AV table.
/// </summary>
/// <remarks>
/// <para>GIDs: <see cref="AddGid"/> and <see cref="DeleteGid"/> change the host SGID table only (slot → GID), with no
/// device I/O, as the kernel (<c>ocrdma_add_gid</c> returns 0; current kernels have no such op). <see cref="Commit"/> does
/// nothing.</para>
/// <para>References: a QP path or AV holds its index through <see cref="OcrdmaDeviceOptions.References"/> (the core
/// table's entry, as rdma_hold_gid_attr), the one count of its users; a delete asks it whether the index is still held
/// and keeps the GID pending until the last release, as the kernel's del_gid leaves the entry PENDING_DEL.</para>
/// <para>Locking: <see cref="IRoceDevice"/> calls come from one thread; the consumers (<see cref="ModifyQpPath"/>,
/// <see cref="CreateAddressHandle"/>, <see cref="DestroyAddressHandle"/>, <see cref="ReleaseQpPath"/>) may come from any thread
/// and are serialised by <c>_consumerLock</c>, holds and releases outside it; the MQ has its own lock; the host table its own.</para>
/// <para>Not modelled: EQs (the MQ's CQ names EQ 0), PDs, CREATE_QP/DELETE_QP (a QP id is taken as given), DCBX
/// (<c>dev->sl</c> = 0, no PFC), neighbour resolution (the caller gives the destination MAC).</para>
/// </remarks>
public sealed class OcrdmaDevice : IRoceDevice
{
    private readonly MmioRegion _db;
    private readonly OcrdmaBringUp _bringUp;
    private readonly OcrdmaMq _mq;
    private readonly DmaBuffer _avTable;
    private readonly OcrdmaSgidTable _sgids;
    private readonly ISgidReferences _refs;
    private readonly OcrdmaDeviceOptions _options;
    private readonly object _consumerLock = new();
    private readonly Dictionary<int, (int Port, int Index)> _qpPaths = new();
    private readonly (int Port, int Index)[] _ahs = new (int, int)[MaxAh];
    private readonly bool[] _ahInUse = new bool[MaxAh];
    private bool _disposed;

    private OcrdmaDevice(ushort vendorId, ushort deviceId, MappedFile doorbellBar, IDmaAllocator dma, OcrdmaDeviceOptions options)
    {
        _options = options;
        VendorId = vendorId;
        DeviceId = deviceId;
        DoorbellBar = OcrdmaPci.DoorbellBar(deviceId);
        _db = new MmioRegion(doorbellBar, DoorbellBar, RegisterByteOrder.LittleEndian) { Tracer = options.Tracer };
        _sgids = new OcrdmaSgidTable(PortCount, options.References);
        _refs = _sgids.References;
        _sgids.Changed += Publish;

        // ocrdma_init_hw: the handshake, the EQ, the MQ's CQ and the MQ, GET_FW_CONFIG, QUERY_CONFIG (OcrdmaBringUp).
        _bringUp = new OcrdmaBringUp(options.Name, _db, (len, align, what) => Allocate(dma, len, align, what), options.MailboxTimeout, options.CommandTimeout,
            options.PostSemaphore, options.PostTimeout);
        // An emulated device's DMA memory is its file, which outlives this process; a real function's goes with it.
        _sharedMemory = dma is SharedDmaMemory;
        _bringUp.Run();
        _mq = _bringUp.Mq;
        DmaBuffer pbl = Allocate(dma, PageSize4K, PageSize4K, "AH table PBL");
        _avTable = Allocate(dma, MaxAh * AvSize, PageSize4K, "AV table");

        // ocrdma_init_hw → ocrdma_mbx_create_ah_tbl: register the AV table once.
        OcrdmaCommands.EncodeAhTablePbl(pbl.Span, _avTable.DeviceAddress, AhTablePages);
        byte[] mqe = new byte[MqeSize];
        OcrdmaCommands.EncodeCreateAhTbl(mqe, pbl.DeviceAddress);
        // conf_err: a refused CREATE_AH_TBL undoes the MQ and the EQs (ocrdma_destroy_mq, ocrdma_destroy_eqs).
        DeviceBringUp.StartOrTearDown(() => _mq.Execute(mqe, "CREATE_AH_TBL"), _bringUp.ShutDown);
        AhTableId = (int)(DmaAccess.Read32(mqe, CreateAhTblRspAhid) & 0xFFFF);
        _ahTableUp = true;
    }

    private bool _ahTableUp, _shutDown;
    private readonly bool _sharedMemory;

    /// <summary>The control path's start and stop, and what GET_FW_CONFIG and QUERY_CONFIG said.</summary>
    public OcrdmaBringUp BringUp => _bringUp;

    /// <summary>
    /// <c>ocrdma_cleanup_hw</c>: DELETE_AH_TBL, then DELETE_MQ, DELETE_CQ, DELETE_EQ and be2net's FW_CLEAN
    /// (<see cref="OcrdmaBringUp.ShutDown"/>). Idempotent; afterwards only <see cref="Dispose"/> may be called.
    /// </summary>
    public void ShutDown()
    {
        if (_shutDown)
            return;
        _shutDown = true;
        lock (_consumerLock)
        {
            if (_ahTableUp)
            {
                Span<byte> mqe = stackalloc byte[MqeSize];
                OcrdmaCommands.InitEmbedded(mqe, SubsysRoce, CmdRoceDeleteAhTbl, OcrdmaBringUpLayout.DeleteAhTblSize);
                DmaAccess.Write32(mqe, Payload, (uint)AhTableId);
                _mq.Execute(mqe, "DELETE_AH_TBL");
                _ahTableUp = false;
            }
        }
        _bringUp.ShutDown();
    }

    /// <summary>
    /// Brings up a Skyhawk RoCE function: <paramref name="doorbellBar"/> is its doorbell BAR mapped (BAR4 on the PF 0720,
    /// BAR0 on the VF 0728: <see cref="OcrdmaPci.DoorbellBar"/>; sysfs resource, UIO, VFIO or an emulated file),
    /// <paramref name="dma"/> gives memory the device can reach. The BAR and the DMA memory stay the caller's (disposing
    /// the driver leaves them alone).
    /// </summary>
    public static OcrdmaDevice Open(ushort vendorId, ushort deviceId, MappedFile doorbellBar, IDmaAllocator dma, OcrdmaDeviceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(doorbellBar);
        ArgumentNullException.ThrowIfNull(dma);
        options ??= new OcrdmaDeviceOptions();
        ThrowIfUnsupported(options.Name, vendorId, deviceId, where: null);
        int bar = OcrdmaPci.DoorbellBar(deviceId);
        if (doorbellBar.Length < DoorbellBarMinLength)
            throw new RoceDeviceException($"{options.Name}: the doorbell BAR{bar} ({doorbellBar.Path}) is 0x{doorbellBar.Length:x} bytes; "
                + $"the bootstrap mailbox doorbell at 0x{MpuMailboxDbOffset:x} does not fit (is this BAR{bar} of {vendorId:x4}:{deviceId:x4}?)");
        return new OcrdmaDevice(vendorId, deviceId, doorbellBar, dma, options);
    }

    /// <summary>
    /// Brings up the function the registry opened (<see cref="DeviceResources"/>): its doorbell BAR and DMA memory through
    /// <see cref="Open(ushort, ushort, MappedFile, IDmaAllocator, OcrdmaDeviceOptions?)"/>, with the POST semaphore
    /// (be_POST_stage_get on Skyhawk) read from the PCI function's config space (dword 0x94) or, for an emulated device,
    /// from its config file, unless <paramref name="options"/> gives one.
    /// </summary>
    public static OcrdmaDevice Open(DeviceResources res, OcrdmaDeviceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(res);
        options ??= new OcrdmaDeviceOptions();
        ThrowIfUnsupported(options.Name, res.VendorId, res.DeviceId, res.ModelDirectory);
        Func<uint>? post = options.PostSemaphore
            ?? (res.Config is { } cfg ? () => cfg.ReadUInt32(OcrdmaBringUpLayout.SliportSemaphoreOffsetSh)
                : res.ModelDirectory is { } d ? Model.EmulatedPciConfig.PostSemaphore(d) : null);
        return Open(res.VendorId, res.DeviceId, res.Bar(OcrdmaPci.DoorbellBar(res.DeviceId)), res.Dma, options with { PostSemaphore = post });
    }

    /// <summary>The doorbell BAR must reach the last register the driver writes (MPU_MAILBOX_DB, 32 bits).</summary>
    private const int DoorbellBarMinLength = MpuMailboxDbOffset + 4;

    private static void ThrowIfUnsupported(string name, ushort vendorId, ushort deviceId, string? where)
    {
        if (!OcrdmaPci.IsSupported(vendorId, deviceId))
            throw new RoceDeviceException($"{name}: {(where is null ? "" : where + ": ")}PCI {vendorId:x4}:{deviceId:x4} is not a Skyhawk RoCE function "
                + "(want vendor 10df or 19a2, device 0720 (PF) or 0728 (VF))");
    }

    private DmaBuffer Allocate(IDmaAllocator dma, int length, int alignment, string what)
    {
        DmaBuffer b = dma.Allocate(length, alignment);
        if (b.Length < length || (b.DeviceAddress & (ulong)(alignment - 1)) != 0)
            throw new RoceDeviceException($"{Name}: the DMA allocator gave the {what} {b.Length} bytes at 0x{b.DeviceAddress:x}; it needs {length} bytes aligned to {alignment}");
        return b;
    }

    /// <summary>The PCI vendor id the function was opened as (10df or 19a2).</summary>
    public ushort VendorId { get; }
    /// <summary>The PCI device id (0720 PF, 0728 VF).</summary>
    public ushort DeviceId { get; }
    /// <summary>True for the Skyhawk VF (0728).</summary>
    public bool IsVirtualFunction => OcrdmaPci.IsVirtualFunction(DeviceId);
    /// <summary>The BAR the doorbells are in (4 on a PF, 0 on a VF).</summary>
    public int DoorbellBar { get; }
    /// <summary>The doorbell page (for an MMIO tracer).</summary>
    public MmioRegion Doorbells => _db;
    public OcrdmaMq Mq => _mq;
    /// <summary>The host SGID table (slot → GID, and which deleted GIDs are still held).</summary>
    public OcrdmaSgidTable Sgids => _sgids;
    public int AhTableId { get; }

    public string Name => _options.Name;
    public string DriverName => "ocrdma";
    public int PortCount => 1;
    public int GidTableSize(int port) => OcrdmaSgidTable.Capacity;
    /// <summary>
    /// RoCE v1 always; RoCE v2 only if QUERY_CONFIG's L3 types say UDP encapsulation (IPv4 or IPv6), as ocrdma_main.c
    /// <c>ocrdma_port_immutable</c> adds <c>RDMA_CORE_CAP_PROT_ROCE_UDP_ENCAP</c> only when
    /// <c>ocrdma_is_udp_encap_supported</c>.
    /// </summary>
    public GidTypes SupportedGidTypes(int port) => _bringUp.RoceV2 ? GidTypes.Roce : GidTypes.RoceV1;

    // ---- IRoceDevice: host SGID table only ----

    public void AddGid(int port, int index, in GidEntry entry)
    {
        if (!SupportedGidTypes(port).Contains(entry.Type))
            throw new RoceDeviceException($"{Name}: add_gid port {port} index {index} ({entry}): {entry.Type} is not supported: "
                + $"QUERY_CONFIG's L3 types (0x{_bringUp.UdpEncap:x}) say no UDP encapsulation, so the port has RoCE v1 only");
        ushort vlan = _options.VlanOfNetdev?.Invoke(entry.NetdevIfindex) ?? 0;
        try
        {
            _sgids.Add(port, index, new OcrdmaSgid(entry.Gid, entry.Type, entry.NetdevIfindex, vlan));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new RoceDeviceException($"{Name}: add_gid port {port} index {index} ({entry}): {e.Message}", e);
        }
    }

    public void DeleteGid(int port, int index, in GidEntry entry)
    {
        try
        {
            _sgids.Delete(port, index, entry.Gid);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new RoceDeviceException($"{Name}: del_gid port {port} index {index} ({entry}): {e.Message}", e);
        }
    }

    /// <summary>Nothing to push: ocrdma has no GID table in the device.</summary>
    public void Commit(int port) { }

    // ---- consumers ----

    /// <summary>
    /// MODIFY_QP with the path built from sgid index <paramref name="sgidIndex"/> (IB_QP_STATE | IB_QP_AV). The QP holds a
    /// reference on that entry until its path changes again or <see cref="ReleaseQpPath"/>; on failure nothing changes.
    /// </summary>
    public void ModifyQpPath(int qpId, int port, int sgidIndex, in OcrdmaPath path)
    {
        ThrowIfDisposed();
        OcrdmaSgid sgid = Hold(port, sgidIndex, $"MODIFY_QP qp {qpId}");
        // What to give back once the consumer lock is left: the new hold if MODIFY_QP fails, the old path's if it works.
        (int Port, int Index) drop = (port, sgidIndex);
        try
        {
            lock (_consumerLock)
            {
                ThrowIfDisposed();
                bool hadOld = _qpPaths.TryGetValue(qpId, out var old);
                _qpPaths[qpId] = (port, sgidIndex);
                try
                {
                    Publish();
                    Span<byte> mqe = stackalloc byte[MqeSize];
                    OcrdmaCommands.EncodeModifyQpPath(mqe, qpId, sgid, path);
                    _mq.Execute(mqe, $"MODIFY_QP (qp {qpId}, sgid index {sgidIndex})");
                }
                catch
                {
                    if (hadOld) _qpPaths[qpId] = old; else _qpPaths.Remove(qpId);
                    Publish();
                    throw;
                }
                drop = hadOld ? old : default;
                Publish();
            }
        }
        finally
        {
            if (drop.Port != 0)
                Release(drop.Port, drop.Index);
        }
    }

    /// <summary>The QP is gone (destroyed by its owner): drop its reference on the sgid entry.</summary>
    public void ReleaseQpPath(int qpId)
    {
        (int Port, int Index) b;
        lock (_consumerLock)
        {
            if (!_qpPaths.Remove(qpId, out b))
                throw new RoceDeviceException($"{Name}: qp {qpId} has no path set by this driver");
            Publish();
        }
        Release(b.Port, b.Index);
    }

    /// <summary>
    /// ocrdma_create_ah: takes a free AV (valid bit clear) in the table registered by CREATE_AH_TBL, fills it from sgid
    /// index <paramref name="sgidIndex"/>, sets its valid bit last. Returns the AH id (the AV's index, what a UD WQE names).
    /// </summary>
    public int CreateAddressHandle(int port, int sgidIndex, in OcrdmaAhAttr attr)
    {
        ThrowIfDisposed();
        ulong smac = _options.SourceMac
            ?? throw new RoceDeviceException($"{Name}: create_ah: no source MAC: the netdev of port {port} had no MAC address when the device was opened");
        OcrdmaSgid sgid = Hold(port, sgidIndex, "create_ah");
        bool made = false;
        try
        {
            lock (_consumerLock)
            {
                ThrowIfDisposed();
                int id = Array.IndexOf(_ahInUse, false);
                if (id < 0)
                    throw new RoceDeviceException($"{Name}: create_ah: all {MaxAh} address vectors are in use (-EAGAIN)");
                Span<byte> av = stackalloc byte[AvSize];
                OcrdmaCommands.EncodeAv(av, sgid, attr, smac);
                Span<byte> slot = _avTable.Span.Slice(id * AvSize, AvSize);
                av[..AvValid].CopyTo(slot);
                MmioRegion.WriteBarrier();
                DmaAccess.WriteVolatile32(slot, AvValid, DmaAccess.Read32(av, AvValid));
                _ahInUse[id] = true;
                _ahs[id] = (port, sgidIndex);
                made = true;
                Publish();
                return id;
            }
        }
        finally
        {
            if (!made)
                Release(port, sgidIndex);
        }
    }

    /// <summary>ocrdma_destroy_ah → ocrdma_free_av: clears the valid bit and drops the sgid reference.</summary>
    public void DestroyAddressHandle(int ahId)
    {
        (int Port, int Index) b;
        lock (_consumerLock)
        {
            if ((uint)ahId >= MaxAh || !_ahInUse[ahId])
                throw new RoceDeviceException($"{Name}: destroy_ah: address handle {ahId} does not exist");
            _ahInUse[ahId] = false;
            Publish();
            DmaAccess.WriteVolatile32(_avTable.Span.Slice(ahId * AvSize, AvSize), AvValid, 0);
            b = _ahs[ahId];
        }
        Release(b.Port, b.Index);
    }

    /// <summary>The 64 bytes of an AV as the device reads them.</summary>
    public ReadOnlySpan<byte> AddressVector(int ahId) => _avTable.Span.Slice(ahId * AvSize, AvSize);

    // Holds and releases run outside _consumerLock: the core's last Release of a pending entry takes the core's writer
    // lock, and the core's writer calls AddGid/DeleteGid, whose Changed listeners (SgidShadowFile) read Bindings under
    // _consumerLock. One count (_refs: the core table's, or the SgidUseCounter of a device without one); the host table
    // only says which GID is in the slot.
    private OcrdmaSgid Hold(int port, int index, string what)
    {
        if (!_refs.TryHold(port, index, out GidEntry e))
            throw NotValid(port, index, what);
        if (!_sgids.TryGetValid(port, index, out OcrdmaSgid sgid) || sgid.Gid != e.Gid)
        {
            // A delete or re-add raced the hold (the core still showed the entry valid): give it back and refuse.
            Release(port, index);
            throw new RoceDeviceException($"{Name}: {what}: port {port} sgid index {index}: the core holds {e.Gid} but the driver's host table has {(sgid.Gid.IsZero ? "nothing valid" : sgid.Gid.ToString())}");
        }
        return sgid;
    }

    // The reference goes first, then the host table looks whether a deleted GID there is still held. If the core frees
    // and reuses the index in between, its AddGid finds the deleted slot unheld and takes it, and Released finds a valid
    // slot and leaves it.
    private void Release(int port, int index)
    {
        _refs.Release(port, index);
        _sgids.Released(port, index);
    }

    private RoceDeviceException NotValid(int port, int index, string what)
        => new($"{Name}: {what}: port {port} sgid index {index} is not a valid GID (free, pending delete or out of range 0..{OcrdmaSgidTable.Capacity - 1})");

    /// <summary>The host table or a binding changed (a GID added or deleted, a QP path set or released, an AV made or
    /// freed); raised on the caller's thread, after the change, under the consumer lock for bindings. A device model's
    /// side channel follows it (Model/SgidShadowFile); nothing in the driver depends on who listens.</summary>
    public event Action? Changed;

    /// <summary>Which sgid index each QP path and each AV was built from, now.</summary>
    public (IReadOnlyList<(int Id, int Port, int Index)> Qps, IReadOnlyList<(int Id, int Port, int Index)> Ahs) Bindings()
    {
        lock (_consumerLock)
        {
            var qps = _qpPaths.Select(kv => (kv.Key, kv.Value.Port, kv.Value.Index)).ToList();
            var ahs = new List<(int, int, int)>();
            for (int i = 0; i < MaxAh; i++)
                if (_ahInUse[i])
                    ahs.Add((i, _ahs[i].Port, _ahs[i].Index));
            return (qps, ahs);
        }
    }

    private void Publish() => Changed?.Invoke();

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed)
            return;
        // ocrdma_remove → ocrdma_cleanup_hw, then be_remove's FUNCTION_RESET and FW_CLEAN: a real function's queues and
        // AV table live in this process's DMA memory, which goes away with it, so the firmware lets go of them first.
        // An emulated device keeps running (its DMA file outlives the process; the next start resets the function).
        if (!_sharedMemory && !_shutDown)
        {
            try
            {
                ShutDown();
            }
            catch (RoceDeviceException)
            {
                // Dispose does not throw; what the teardown could not undo is in the exception ShutDown would have thrown.
            }
        }
        _disposed = true;
        _sgids.Changed -= Publish;
    }
}
