using BenchmarkDotNet.Attributes;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Drivers.Ocrdma;
using RoceUio.Gids;
using RoceUio.Hardware;

namespace RoceUio.Perf;

/// <summary>
/// The drivers' hot paths, run where a QP or AH is created: mlx4's core index → hardware slot
/// (<see cref="Mlx4Device.TryGetRealIndex"/>, <c>mlx4_ib_gid_index_to_real_index</c>) and ocrdma's sgid lookup by
/// index plus the MODIFY_QP entry built from it. Each operation does 16 lookups over a full table; all must show 0 B.
/// Run only these: <c>dotnet run -c Release --project perf/RoceUio.Perf -- --filter '*Driver*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class DriverHotPathBenchmarks
{
    private const int Lookups = 16;
    private string _dir = "";
    private EmulatedDevice? _device;
    private Mlx4Device _mlx4 = null!;
    private OcrdmaSgidTable _sgids = null!;
    private readonly byte[] _mqe = new byte[OcrdmaLayout.MqeSize];
    private readonly OcrdmaPath _path = new(Gid.Parse("2001:db8::ffff"), 0x001122334455UL);

    [GlobalSetup]
    public void Setup()
    {
        // mlx4: a real driver over an emulated ConnectX-3 Pro whose model runs only for bring-up and the table push;
        // the lookup itself touches no register.
        _dir = Directory.CreateTempSubdirectory("roceuio-bench-mlx4-").FullName;
        _device = new Mlx4ModelConfig().CreateDevice(_dir);
        using (var model = Mlx4DeviceModel.StartThread(_dir))
        {
            _mlx4 = Mlx4Device.Open(RoceUio.Drivers.DeviceResources.Of(_device));
            for (int i = 0; i < _mlx4.GidTableSize(1); i++)
                _mlx4.AddGid(1, i, new GidEntry(Gid.Parse($"2001:db8::{i + 1:x}"), i % 2 == 0 ? GidType.RoceV1 : GidType.RoceV2, 2));
            _mlx4.Commit(1);
        }

        // ocrdma: the host SGID table, full.
        _sgids = new OcrdmaSgidTable();
        for (int i = 0; i < OcrdmaSgidTable.Capacity; i++)
            _sgids.Add(1, i, new OcrdmaSgid(Gid.Parse($"::ffff:10.0.0.{i + 1}"), GidType.RoceV2, 2, (ushort)(i & 1)));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mlx4.Dispose();
        _device?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int Mlx4_TryGetRealIndex()
    {
        int sum = 0;
        for (int i = 0; i < Lookups; i++)
            if (_mlx4.TryGetRealIndex(1, i * 7 & 127, out int real))
                sum += real;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public int Ocrdma_SgidLookup_ModifyQpEncode()
    {
        Span<byte> mqe = _mqe;
        int found = 0;
        for (int i = 0; i < Lookups; i++)
        {
            if (!_sgids.TryGet(1, i, out OcrdmaSgid sgid))
                continue;
            OcrdmaCommands.EncodeModifyQpPath(mqe, 100 + i, sgid, _path);
            found++;
        }
        return found + mqe[0];
    }
}
