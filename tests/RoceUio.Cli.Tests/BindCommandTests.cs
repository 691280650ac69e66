using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary><c>roceuio bind</c> as a user runs it, against a fake sysfs tree (never the real /sys).</summary>
public class BindCommandTests
{
    private FakeSysfs _sys = null!;

    [SetUp] public void SetUp() => _sys = new FakeSysfs();
    [TearDown] public void TearDown() => _sys.Dispose();

    [Test]
    public void Dry_run_prints_the_shell_commands_and_changes_nothing()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core", iommuGroup: 5);
        _sys.AddDriver("vfio-pci");
        var (exit, output, err) = RoceuioProcess.Run("bind", "0000:03:00.0", "--vfio", "--dry-run", "--sysfs", _sys.Root);
        Assert.That(exit, Is.Zero, err);
        Assert.That(output.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            $"echo 'vfio-pci' > {_sys.Root}/bus/pci/devices/0000:03:00.0/driver_override",
            $"echo '0000:03:00.0' > {_sys.Root}/bus/pci/drivers/mlx4_core/unbind",
            $"echo '0000:03:00.0' > {_sys.Root}/bus/pci/drivers_probe",
        }));
        Assert.That(_sys.Read("bus/pci/drivers_probe"), Is.Empty);
    }

    [Test]
    public void A_function_no_driver_claims_is_bound_with_a_warning()
    {
        _sys.AddFunction("0000:00:03.0", 0x1af4, 0x1000, driver: "virtio-pci");
        _sys.AddDriver("vfio-pci");
        var (exit, output, err) = RoceuioProcess.Run("bind", "0000:00:03.0", "--vfio", "--dry-run", "--sysfs", _sys.Root);
        Assert.That(exit, Is.Zero, err);
        Assert.That(err.Split('\n')[0], Is.EqualTo("roceuio bind: warning: 0000:00:03.0 is 1af4:1000, which no RoceUio driver claims (mlx4, ocrdma): roceuio run will not drive it"));
        Assert.That(output, Does.Contain("driver_override"), "the commands are still printed");
    }

    [Test]
    public void A_real_run_writes_and_reports_that_the_driver_did_not_change()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core");
        _sys.AddDriver("uio_pci_generic");
        var (exit, output, err) = RoceuioProcess.Run("bind", "03:00.0", "--uio", "--sysfs", _sys.Root);
        Assert.That(_sys.Read("bus/pci/devices/0000:03:00.0/driver_override"), Is.EqualTo("uio_pci_generic"));
        Assert.That(output, Does.Contain("wrote: echo '0000:03:00.0' > "));
        Assert.That(exit, Is.EqualTo(1), "no kernel behind plain files rebinds it");
        Assert.That(err, Does.Contain("is bound to mlx4_core after drivers_probe, not uio_pci_generic"));
    }

    [TestCase(new[] { "bind", "0000:03:00.0" }, "say where to bind it")]
    [TestCase(new[] { "bind", "zz:00.0", "--vfio" }, "'zz:00.0' is not a PCI address")]
    [TestCase(new[] { "bind", "0000:03:00.0", "--vfio", "--uio" }, "only one of")]
    public void Usage_errors(string[] args, string message)
    {
        var (exit, _, err) = RoceuioProcess.Run(args);
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(err, Does.Contain(message));
    }

    [Test]
    public void Hardware_errors_are_printed_without_a_stack_trace()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core");
        var (exit, _, err) = RoceuioProcess.Run("bind", "0000:03:00.0", "--vfio", "--sysfs", _sys.Root);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(err.Trim(), Is.EqualTo("roceuio bind: cannot bind 0000:03:00.0: vfio-pci is not loaded: run `modprobe vfio_pci` first"));
    }
}
