using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RoceUio.Perf;

/// <summary>
/// Instruction counts per operation, for a machine too busy to time (see perf/RESULTS.md): run under
/// <c>valgrind --tool=callgrind --toggle-collect=lfind --dump-after=lfind</c> (perf/callgrind.sh). Each measurement
/// runs inside a libc lfind over one element whose comparator is the workload, so callgrind counts only the workload (plus a
/// constant transition, measured by an empty run first) and writes one dump per measurement, in the order printed.
/// </summary>
internal static unsafe class InstructionProbe
{
    [DllImport("libc", EntryPoint = "lfind")]
    private static extern void* LFind(void* key, void* items, nuint* count, nuint size, delegate* unmanaged<void*, void*, int> compare);

    private static Action s_work = () => { };

    [UnmanagedCallersOnly]
    private static int Compare(void* a, void* b)
    {
        s_work();
        return 0;
    }

    private static void Measure(string name, int ops, Action work)
    {
        // Compiled and warm outside the measurement: enough calls for tiering to promote every method on the path
        // to optimised code (the count starts at once: DOTNET_TC_CallCountingDelayMs=0), a pause for the background
        // compile to land, and a few calls more on the final code.
        for (int i = 0; i < 40; i++)
            work();
        Thread.Sleep(300);
        for (int i = 0; i < 3; i++)
            work();
        s_work = work;
        long* one = stackalloc long[2];
        nuint count = 1;
        LFind(one, one + 1, &count, 8, &Compare);   // one element: the comparator (the workload) runs once
        Console.WriteLine($"measure {name} ops={ops}");
    }

    public static void Run()
    {
        Measure("empty", 1, () => { });
        foreach (int size in new[] { 16, 128, 1024 })
        {
            var b = new GidTableScaleBenchmarks { Size = size };
            b.Setup();
            const int lookups = 2 * 4096, fresh = 4 * 256;
            Measure($"RoceUio_RandomHit/{size}", lookups, () => { b.RoceUio_RandomHit(); b.RoceUio_RandomHit(); });
            Measure($"ConcurrentDictionary_RandomHit/{size}", lookups, () => { b.ConcurrentDictionary_RandomHit(); b.ConcurrentDictionary_RandomHit(); });
            Measure($"KernelScan_RandomHit/{size}", lookups, () => { b.KernelScan_RandomHit(); b.KernelScan_RandomHit(); });
            // Fill the sticky history to its limit first (4 x capacity keys), as in the steady state BDN measures.
            for (int i = 0; i < 20 * size / 256 + 20; i++)
                b.RoceUio_FreshDeleteAdd();
            Measure($"RoceUio_FreshDeleteAdd/{size}", fresh, () => { for (int r = 0; r < 4; r++) b.RoceUio_FreshDeleteAdd(); });
            Measure($"ConcurrentDictionary_FreshDeleteAdd/{size}", fresh, () => { for (int r = 0; r < 4; r++) b.ConcurrentDictionary_FreshDeleteAdd(); });
            Measure($"KernelScan_FreshDeleteAdd/{size}", fresh, () => { for (int r = 0; r < 4; r++) b.KernelScan_FreshDeleteAdd(); });
        }
    }
}
