using CsCheck;
using NUnit.Framework;
using RoceUio.Fuzz;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// Every fuzz target (tests/RoceUio.Fuzz) over its checked-in corpus (tests/fuzz-corpus/TARGET: seeds and every
/// finding ever made, so a fixed finding stays fixed), then a short seeded run of mutations (./build.sh fuzz runs
/// them for longer).
/// </summary>
public class FuzzCorpusTests
{
    private static IEnumerable<string> Targets => FuzzTargets.All.Select(t => t.Name);

    [TestCaseSource(nameof(Targets))]
    public void TheCorpus_RunsClean(string name)
    {
        var corpus = FuzzCorpus.Load(NativeLayout.RepoRoot, name);
        Assert.That(corpus, Is.Not.Empty, $"tests/fuzz-corpus/{name} has seeds");
        FuzzTarget target = FuzzTargets.Get(name);
        var failures = new List<string>();
        foreach (var (file, bytes) in corpus)
        {
            try
            {
                target.Run(bytes);
            }
            catch (Exception e)
            {
                failures.Add($"{file}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.That(failures, Is.Empty);
    }

    [TestCaseSource(nameof(Targets))]
    public void AShortMutationRun_FindsNothing(string name)
    {
        FuzzTarget target = FuzzTargets.Get(name);
        var corpus = FuzzCorpus.Load(NativeLayout.RepoRoot, name).Select(c => c.Bytes).ToList();
        Mutations.For(corpus).Sample(target.Run, iter: 300, threads: 1, print: b => Convert.ToHexString(b));
    }
}
