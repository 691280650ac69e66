using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

public class BinderTests
{
    private FakeSysfs _sys = null!;
    private PciBinder Binder => new(new SysfsRoot(_sys.Root, _sys.Dev));
    private static readonly PciAddress Bdf = PciAddress.Parse("0000:03:00.0");

    [SetUp] public void SetUp() => _sys = new FakeSysfs();
    [TearDown] public void TearDown() => _sys.Dispose();

    [Test]
    public void Bind_to_vfio_writes_override_unbind_and_probe_in_that_order()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core", iommuGroup: 7);
        _sys.AddDriver("vfio-pci");

        BindResult r = Binder.Bind(Bdf, BindTarget.Vfio);

        Assert.That(r.Writes.Select(w => w.Path[_sys.Root.Length..]), Is.EqualTo(new[]
        {
            "/bus/pci/devices/0000:03:00.0/driver_override", "/bus/pci/drivers/mlx4_core/unbind", "/bus/pci/drivers_probe",
        }));
        Assert.That(_sys.Read("bus/pci/devices/0000:03:00.0/driver_override"), Is.EqualTo("vfio-pci"));
        Assert.That(_sys.Read("bus/pci/drivers/mlx4_core/unbind"), Is.EqualTo("0000:03:00.0"));
        Assert.That(_sys.Read("bus/pci/drivers_probe"), Is.EqualTo("0000:03:00.0"));
        Assert.That(r.DriverBefore, Is.EqualTo("mlx4_core"));
        Assert.That(r.Succeeded, Is.False, "a plain-file tree has no kernel to rebind it: the read-back shows mlx4_core still");
    }

    [Test]
    public void Dry_run_prints_the_writes_and_writes_nothing()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core", iommuGroup: 7);
        _sys.AddDriver("vfio-pci");
        BindResult r = Binder.Bind(Bdf, BindTarget.Vfio, dryRun: true);
        Assert.That(r.Writes[0].ToString(), Is.EqualTo($"echo 'vfio-pci' > {_sys.Root}/bus/pci/devices/0000:03:00.0/driver_override"));
        Assert.That(r.Writes, Has.Count.EqualTo(3));
        Assert.That(_sys.Read("bus/pci/devices/0000:03:00.0/driver_override"), Is.EqualTo("(null)\n"));
        Assert.That(_sys.Read("bus/pci/drivers/mlx4_core/unbind"), Is.Empty);
        Assert.That(_sys.Read("bus/pci/drivers_probe"), Is.Empty);
    }

    [Test]
    public void Back_to_the_kernel_clears_the_override_and_unbinds_vfio()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "vfio-pci", iommuGroup: 7);
        File.WriteAllText(Path.Combine(_sys.DeviceDir("0000:03:00.0"), "driver_override"), "vfio-pci\n");
        BindResult r = Binder.Bind(Bdf, BindTarget.Kernel);
        Assert.That(_sys.Read("bus/pci/devices/0000:03:00.0/driver_override"), Is.EqualTo("\n"));
        Assert.That(_sys.Read("bus/pci/drivers/vfio-pci/unbind"), Is.EqualTo("0000:03:00.0"));
        Assert.That(_sys.Read("bus/pci/drivers_probe"), Is.EqualTo("0000:03:00.0"));
        Assert.That(r.TargetDriver, Is.Null);
    }

    [Test]
    public void An_unbound_function_is_only_probed()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007);
        _sys.AddDriver("uio_pci_generic");
        BindResult r = Binder.Bind(Bdf, BindTarget.Uio);
        Assert.That(r.Writes.Select(w => Path.GetFileName(w.Path)), Is.EqualTo(new[] { "driver_override", "drivers_probe" }));
    }

    [Test]
    public void Already_bound_needs_no_writes()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "vfio-pci", iommuGroup: 7);
        File.WriteAllText(Path.Combine(_sys.DeviceDir("0000:03:00.0"), "driver_override"), "vfio-pci\n");
        BindResult r = Binder.Bind(Bdf, BindTarget.Vfio);
        Assert.That(r.Writes, Is.Empty);
        Assert.That(r.Notes.Single(), Does.Contain("already bound to vfio-pci"));
        Assert.That(r.Succeeded, Is.True);
    }

    [Test]
    public void Refusals_happen_before_any_write_and_say_what_to_do()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core");
        var e = Assert.Throws<HardwareAccessException>(() => Binder.Bind(Bdf, BindTarget.Vfio));
        Assert.That(e!.Message, Does.Contain("vfio-pci is not loaded: run `modprobe vfio_pci` first"));

        _sys.AddDriver("vfio-pci");
        e = Assert.Throws<HardwareAccessException>(() => Binder.Bind(Bdf, BindTarget.Vfio));
        Assert.That(e!.Message, Does.Contain("no IOMMU group: VFIO needs the IOMMU enabled (intel_iommu=on"));
        Assert.That(_sys.Read("bus/pci/devices/0000:03:00.0/driver_override"), Is.EqualTo("(null)\n"), "nothing was written");

        BindResult dry = Binder.Bind(Bdf, BindTarget.Vfio, dryRun: true);
        Assert.That(dry.Notes.Single(), Does.StartWith("no IOMMU group"), "a dry run reports the problem instead of failing");

        Directory.CreateDirectory(Path.Combine(_sys.Root, "module/vfio/parameters"));
        File.WriteAllText(Path.Combine(_sys.Root, "module/vfio/parameters/enable_unsafe_noiommu_mode"), "Y\n");
        Assert.That(Binder.Bind(Bdf, BindTarget.Vfio).Writes, Has.Count.EqualTo(3), "no-IOMMU mode allows it");

        File.Delete(Path.Combine(_sys.DeviceDir("0000:03:00.0"), "driver_override"));
        e = Assert.Throws<HardwareAccessException>(() => Binder.Bind(Bdf, BindTarget.Uio));
        Assert.That(e!.Message, Does.Contain("driver_override is missing"));
    }

    [Test]
    public void A_function_held_open_through_its_vfio_group_is_refused_before_any_write()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "vfio-pci", iommuGroup: 7);
        File.WriteAllText(Path.Combine(_sys.DeviceDir("0000:03:00.0"), "driver_override"), "vfio-pci\n");
        string group = Path.Combine(_sys.Dev, "vfio", "7");
        Directory.CreateDirectory(Path.GetDirectoryName(group)!);
        File.WriteAllText(group, "");

        using (File.OpenRead(group))
        {
            var e = Assert.Throws<HardwareAccessException>(() => Binder.Bind(Bdf, BindTarget.Kernel));
            Assert.That(e!.Message, Does.Contain($"0000:03:00.0 is in use: pid {Environment.ProcessId} ("));
            Assert.That(e.Message, Does.Contain($"holds {group}; stop it first"));
            Assert.That(_sys.Read("bus/pci/devices/0000:03:00.0/driver_override"), Is.EqualTo("vfio-pci\n"), "nothing was written");
            Assert.That(_sys.Read("bus/pci/drivers/vfio-pci/unbind"), Is.Empty);
            Assert.That(Binder.Bind(Bdf, BindTarget.Kernel, dryRun: true).Notes.Single(), Does.Contain("is in use"), "a dry run reports it");
        }
        Assert.That(Binder.Bind(Bdf, BindTarget.Kernel).Writes, Has.Count.EqualTo(3), "closed, the bind goes ahead");
    }

    [Test]
    public void A_function_whose_bar_is_mapped_through_sysfs_is_refused()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, iommuGroup: 7, barSizes: 4096);
        _sys.AddDriver("vfio-pci");
        using (MappedFile.Open(Path.Combine(_sys.DeviceDir("0000:03:00.0"), "resource0"), 4096))
        {
            var e = Assert.Throws<HardwareAccessException>(() => Binder.Bind(Bdf, BindTarget.Vfio));
            Assert.That(e!.Message, Does.Contain("holds a mapping of ").And.Contain("/0000:03:00.0/resource0"));
        }
        Assert.That(Binder.Bind(Bdf, BindTarget.Vfio).Writes, Has.Count.EqualTo(2));
    }

    [Test]
    public void Back_to_the_kernel_with_no_driver_for_the_ids_counts_as_given_back()
    {
        BindResult Outcome(string? after) => new(Bdf, "vfio-pci", null, [], false, after, []);
        Assert.That(Outcome(null).Succeeded, Is.True, "no kernel driver claims the IDs (QEMU's edu): unbound, override cleared");
        Assert.That(Outcome("mlx4_core").Succeeded, Is.True);
        Assert.That(Outcome("vfio-pci").Succeeded, Is.False);
        Assert.That(Outcome("uio_pci_generic").Succeeded, Is.False);
    }
}
