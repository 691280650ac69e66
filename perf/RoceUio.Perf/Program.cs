using BenchmarkDotNet.Running;
using RoceUio.Perf;

// Benchmarks for RoceUio; ./build.sh bench runs the quick set, writes perf/results/ and draws the chart.
//   --chart DIR [OUT]     draw OUT (default DIR/gid-table-scale.svg) from the GidTableScaleBenchmarks CSV report in DIR
if (args is ["--chart", var dir, ..])
    return ScaleChart.Write(dir, args.Length > 2 ? args[2] : null);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

internal partial class Program;
