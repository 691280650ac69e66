using NUnit.Framework;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio run --emulate ocrdma:v0 --clear-on-exit</c> in a private namespace: the model inside the daemon runs
/// be2net's and ocrdma's start (be_func_init, ocrdma_init_hw) and, at SIGTERM, ocrdma_cleanup_hw and be_remove's end,
/// in the kernel's order, with nothing refused. The commands come from the model's log (the MMIO trace of ocrdma shows
/// only doorbells: its commands are in DMA memory), the doorbell kinds from the trace.
/// </summary>
[NonParallelizable]
public class OcrdmaBringUpTraceTests
{
    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuio-ocrdma");
        _dir = new TempDirectory("roceuio-ocrdma");
        _ns.IpBatch(["link add v0 type veth peer name v1", "link set v1 up", "link set v0 up"]);
    }

    [TearDown]
    public void TearDown()
    {
        _ns.Dispose();
        _dir.Dispose();
    }

    [Test]
    public void Run_brings_ocrdma_up_as_the_kernel_does_and_clear_on_exit_takes_it_down_in_reverse()
    {
        string trace = Path.Combine(_dir.Path, "mmio.trace");
        string modelDir;
        using (var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "ocrdma:v0", "--mmio-trace", trace, "--clear-on-exit"))
        {
            modelDir = Path.Combine(d.StateDir, "emulated", "ocrdma0");
            Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
            Assert.That(d.Stdout, Does.Contain("hardware tables cleared"));
        }
        string[] commands = File.ReadAllLines(Path.Combine(modelDir, OcrdmaDeviceModel.CommandsFileName));
        Assert.That(commands, Is.EqualTo(new[]
        {
            "FUNCTION_RESET", "FW_INIT", "CREATE_EQ", "CREATE_CQ", "CREATE_MQ_EXT", "GET_FW_CONFIG", "QUERY_CONFIG", "GET_FW_VER",
            "CREATE_AH_TBL",
            "DELETE_AH_TBL", "DELETE_MQ", "DELETE_CQ", "DELETE_EQ", "FUNCTION_RESET", "FW_CLEAN",
        }), "GID changes send nothing to an ocrdma function (its table is the host's)");
        Assert.That(OcrdmaDeviceModel.ReadViolations(modelDir), Is.Empty);
        // The trace: the bootstrap mailbox (BAR4+0x160) takes two writes per command, 5 at start and 5 at the end.
        int mailboxWrites = File.ReadLines(trace).Count(l => l.Contains(" W32 bar4+0x160 "));
        Assert.That(mailboxWrites, Is.EqualTo(2 * 10), "FUNCTION_RESET, FW_INIT, CREATE_EQ, CREATE_CQ, CREATE_MQ_EXT; DELETE_MQ, DELETE_CQ, DELETE_EQ, FUNCTION_RESET, FW_CLEAN");
    }
}
