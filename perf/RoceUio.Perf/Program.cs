using BenchmarkDotNet.Running;

// Benchmarks for RoceUio; ./build.sh bench runs the quick set and writes perf/results/.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

internal partial class Program;
