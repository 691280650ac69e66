using BenchmarkDotNet.Running;
using RoceUio.Perf;

// Benchmarks for RoceUio; ./build.sh bench runs the quick set, writes perf/results/ and draws the chart.
//   --chart DIR           draw DIR/gid-table-scale.svg from the GidTableScaleBenchmarks CSV report in DIR
//   --instructions        the instruction-count probe (run it under callgrind: perf/callgrind.sh)
if (args is ["--chart", var dir, ..])
    return ScaleChart.Write(dir, args.Length > 2 ? args[2] : null);
if (args is ["--instructions"])
{
    InstructionProbe.Run();
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

internal partial class Program;
