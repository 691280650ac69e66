using System.Diagnostics;
using CsCheck;
using RoceUio.Fuzz;

// ./build.sh fuzz TARGET [SECONDS]: mutates TARGET's corpus for SECONDS (default 60) on every core and reports the
// executions and findings; a finding is written to tests/fuzz-corpus/TARGET/finding-*.bin (its smallest failing form)
// and the run exits 1. ./build.sh fuzz --seeds rewrites the seed files. ./build.sh fuzz --list names the targets.
string repo = FindRepo();
if (args is ["--seeds"])
{
    FuzzCorpus.WriteSeeds(repo);
    Console.WriteLine($"seeds written under {FuzzCorpus.Root(repo)}");
    return 0;
}
if (args.Length is 0 or > 2 || args[0] is "--list" or "-h" or "--help")
{
    Console.WriteLine("usage: ./build.sh fuzz TARGET [SECONDS]   (./build.sh fuzz --seeds rewrites the seed corpus)");
    foreach (FuzzTarget t in FuzzTargets.All)
        Console.WriteLine($"  {t.Name,-8} {t.What}");
    return args.Length == 0 ? 2 : 0;
}
FuzzTarget target;
try
{
    target = FuzzTargets.Get(args[0]);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"fuzz: {e.Message}");
    return 2;
}
int seconds = args.Length > 1 && int.TryParse(args[1], out int s) && s > 0 ? s : 60;
var corpus = FuzzCorpus.Load(repo, target.Name);
long executions = 0;
byte[]? smallest = null;
Exception? firstError = null;
var sw = Stopwatch.StartNew();
try
{
    Mutations.For(corpus.Select(c => c.Bytes).ToList()).Sample(input =>
    {
        Interlocked.Increment(ref executions);
        try
        {
            target.Run(input);
        }
        catch (Exception e)
        {
            lock (corpus)
            {
                firstError ??= e;
                if (smallest is null || input.Length < smallest.Length)
                    smallest = input;
            }
            throw;
        }
    }, time: seconds, print: b => Convert.ToHexString(b));
}
catch (Exception e) when (smallest is not null)
{
    Console.Error.WriteLine(e.Message);
}
Console.WriteLine($"fuzz {target.Name}: {executions} executions in {sw.Elapsed.TotalSeconds:0.0} s "
                  + $"({executions / Math.Max(0.001, sw.Elapsed.TotalSeconds):0} per second), corpus {corpus.Count} files");
if (smallest is not null)
{
    string path = FuzzCorpus.SaveFinding(repo, target.Name, smallest);
    Console.WriteLine($"FINDING: {firstError!.GetType().Name}: {firstError.Message}\n  smallest failing input ({smallest.Length} bytes) saved as {path}");
    return 1;
}
Console.WriteLine("findings: none");
return 0;

static string FindRepo()
{
    for (string? d = AppContext.BaseDirectory; d is not null; d = Path.GetDirectoryName(d))
        if (File.Exists(Path.Combine(d, "RoceUio.sln")))
            return d;
    throw new DirectoryNotFoundException("RoceUio.sln not found above " + AppContext.BaseDirectory);
}
