using System.Text;
using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Drivers;
using RoceUio.Drivers.Mlx4;
using RoceUio.Hardware.Pci;

namespace RoceUio.Cli.Tests;

/// <summary>The driver registry as the program uses it: names, PCI ids, and the per-driver config keys.</summary>
public class DriverRegistryTests
{
    private static RoceDriver Software(string name, params DriverSetting[] settings)
        => new() { Name = name, OpenSoftware = ctx => throw new NotSupportedException(ctx.Name), Settings = settings };

    private static DaemonConfig Parse(string json, RoceDriverRegistry? drivers = null)
        => DaemonConfig.FromJson(JValue.Parse("c.json", Encoding.UTF8.GetBytes(json)), drivers);

    [Test]
    public void Builtin_registry_names_the_three_families_and_claims_their_ids()
    {
        Assert.That(BuiltinDrivers.Registry.Names, Is.EqualTo(new[] { "mlx4", "ocrdma", "rxe" }));
        Assert.That(BuiltinDrivers.Registry.TryMatch(0x15b3, 0x1007, out RoceDriver mlx4), Is.True);
        Assert.That(mlx4.Name, Is.EqualTo("mlx4"));
        Assert.That(BuiltinDrivers.Registry.TryMatch(0x10df, 0x0720, out RoceDriver ocrdma), Is.True);
        Assert.That(ocrdma.Name, Is.EqualTo("ocrdma"));
        Assert.That(BuiltinDrivers.Registry.TryMatch(0x15b3, 0x1004, out _), Is.False, "an mlx4 VF is not claimed: no comm channel");
        Assert.That(BuiltinDrivers.Registry.Get("mlx4").NameOf(1), Is.EqualTo("mlx4_1"));
        Assert.That(BuiltinDrivers.Registry.Get("ocrdma").NameOf(1), Is.EqualTo("ocrdma1"));
    }

    [Test]
    public void Unknown_driver_name_is_an_error_listing_the_known_ones()
    {
        var registry = new RoceDriverRegistry().Register(Software("a")).Register(Software("b"));
        var e = Assert.Throws<ArgumentException>(() => registry.Get("c"));
        Assert.That(e!.Message, Is.EqualTo("unknown driver 'c' (known: a, b)"));
    }

    [Test]
    public void A_second_driver_of_the_same_name_is_refused_and_the_first_kept()
    {
        RoceDriver first = Software("toy");
        var registry = new RoceDriverRegistry().Register(first);
        var e = Assert.Throws<InvalidOperationException>(() => registry.Register(Software("toy")));
        Assert.That(e!.Message, Is.EqualTo("a driver named 'toy' is already registered"));
        Assert.That(registry.Get("toy"), Is.SameAs(first));
        Assert.That(registry.Names, Is.EqualTo(new[] { "toy" }));
    }

    [Test]
    public void A_driver_must_say_how_it_is_opened()
    {
        var e = Assert.Throws<ArgumentException>(() => new RoceDriverRegistry().Register(new RoceDriver { Name = "nothing" }));
        Assert.That(e!.Message, Does.StartWith("driver 'nothing': set exactly one of Open"));
    }

    [Test]
    public void Discovery_names_the_driver_of_a_claimed_id()
    {
        var registry = new RoceDriverRegistry().Register(new RoceDriver
        {
            Name = "toy",
            PciIds = [new PciId(0x1234, 0x0001)],
            Open = (_, _) => throw new NotSupportedException(),
        });
        IPciDriverMatch match = registry;
        Assert.That(match.TryMatch(0x1234, 0x0001, out string name), Is.True);
        Assert.That(name, Is.EqualTo("toy"));
        Assert.That(match.TryMatch(0x1234, 0x0002, out _), Is.False);
    }

    [Test]
    public void Config_takes_a_drivers_own_key_and_hands_it_to_the_driver()
    {
        var cfg = Parse("""{"devices":[{"driver":"mlx4","emulate":true,"ports":["a"],"command_timeout_ms":5000}]}""");
        Assert.That(cfg.Devices[0].Settings, Is.EqualTo(new Dictionary<string, long> { ["command_timeout_ms"] = 5000 }));
        var options = Mlx4Driver.Options(new DriverOpenContext { Name = "mlx4_0", Settings = cfg.Devices[0].Settings });
        Assert.That((options.CommandTimeout, options.BusyTimeout), Is.EqualTo((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10))));
    }

    [Test]
    public void Config_refuses_a_key_the_device_driver_does_not_take_and_names_the_ones_it_does()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""{"devices":[{"driver":"mlx4","emulate":true,"ports":["a"],"mailbox_timeout_ms":5}]}"""));
        Assert.That(e!.Message, Is.EqualTo("c.json:1:59: unknown device key \"mailbox_timeout_ms\"; expected \"driver\", \"ports\", \"pci\", "
            + "\"emulate\" or \"attach\", or one of the mlx4 driver's: \"command_timeout_ms\", \"busy_timeout_ms\""));
        e = Assert.Throws<ConfigException>(() => Parse("""{"devices":[{"driver":"rxe","emulate":true,"ports":["a"],"command_timeout_ms":5}]}"""));
        Assert.That(e!.Message, Is.EqualTo("c.json:1:58: unknown device key \"command_timeout_ms\"; expected \"driver\", \"ports\", \"pci\", \"emulate\" or \"attach\""));
    }

    [TestCase("0", "\"command_timeout_ms\" must be between 1 and 600000, got 0")]
    [TestCase("1.5", "\"command_timeout_ms\": expected an integer")]
    [TestCase("\"5s\"", "\"command_timeout_ms\": expected an integer")]
    public void Config_refuses_a_drivers_key_with_a_bad_value(string value, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Parse($$"""{"devices":[{"driver":"ocrdma","emulate":true,"ports":["a"],"command_timeout_ms":{{value}}}]}"""));
        Assert.That(e!.Message, Does.StartWith($"c.json:1:82: {message}"));
    }

    [Test]
    public void Config_checks_keys_against_the_registry_it_is_given()
    {
        var registry = new RoceDriverRegistry().Register(Software("toy", new DriverSetting("depth", "queue depth", 1, 8)));
        var cfg = Parse("""{"devices":[{"ports":["a"],"depth":4,"driver":"toy","emulate":true}]}""", registry);
        Assert.That((cfg.Devices[0].Driver, cfg.Devices[0].Settings["depth"]), Is.EqualTo(("toy", 4L)));
        var e = Assert.Throws<ConfigException>(() => Parse("""{"devices":[{"driver":"mlx4","emulate":true,"ports":["a"]}]}""", registry));
        Assert.That(e!.Message, Is.EqualTo("c.json:1:23: unknown driver \"mlx4\"; expected one of \"toy\""));
    }
}
