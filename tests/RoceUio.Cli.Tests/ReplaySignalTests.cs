using System.Diagnostics;
using System.Runtime.InteropServices;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary><c>roceuio replay</c> stopped by a signal leaves no <c>roceuio-replay-PID-*</c> directory behind.</summary>
public class ReplaySignalTests
{
    private const int Eth0 = 2;

    [TestCase(15, TestName = "Replay_StoppedBySigterm_RemovesItsTempDirectory")]
    [TestCase(2, TestName = "Replay_StoppedBySigint_RemovesItsTempDirectory")]
    public void Replay_StoppedByASignal_RemovesItsTempDirectory(int signal)
    {
        using var dir = new TempDirectory("roceuio-replay-sig");
        using (var w = RtmonCaptureWriter.Create(dir["cap"]))
        {
            byte[] link = RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = "02:00:00:00:00:0a" });
            link[NlMsgHdr.OffsetFlags] |= (byte)NlMsgFlags.NLM_F_MULTI; // a dump reply, as rtmon's first dump
            w.WriteMessage(link);
            for (int i = 0; i < 3000; i++)
                w.WriteEvents(RtnlMessages.NewAddress(Eth0, $"10.{i / 250}.{i % 250}.1/32"));
        }
        // -v prints a line per event to stderr, which nobody reads: once the pipe is full (64 KiB) the replay blocks
        // in the middle, with its device files in TMPDIR/roceuio-replay-PID-*.
        string tmp = Directory.CreateDirectory(dir["tmp"]).FullName;
        ProcessStartInfo psi = RoceuioCommand.StartInfo("replay", dir["cap"], "--emulate", "mlx4:eth0", "-v");
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.Environment["TMPDIR"] = tmp;
        using Process p = Process.Start(psi)!;
        try
        {
            var sw = Stopwatch.StartNew();
            while (Directory.GetDirectories(tmp, $"roceuio-replay-{p.Id}-*").Length == 0)
            {
                Assert.That(p.HasExited, Is.False, "the replay ended before it could be stopped");
                Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "the replay's directory never appeared");
                Thread.Sleep(10);
            }
            Assert.That(kill(p.Id, signal), Is.EqualTo(0));
            Assert.That(p.WaitForExit(20_000), Is.True, "the replay stops on the signal");
            Assert.That(Directory.GetDirectories(tmp, "roceuio-replay-*"), Is.Empty, "the replay's directory is gone");
        }
        finally
        {
            if (!p.HasExited)
                p.Kill();
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
