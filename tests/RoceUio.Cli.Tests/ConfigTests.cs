using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Gids;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

public class ConfigTests
{
    private static DaemonConfig Load(string text)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir["c.json"], text);
        return DaemonConfig.Load(dir["c.json"]);
    }

    private static ConfigException Bad(string text)
        => Assert.Throws<ConfigException>(() => Load(text))!;

    [Test]
    public void ExampleConfig_InDocs_Loads()
    {
        var cfg = DaemonConfig.Load(Path.Combine(NativeLayout.RepoRoot, "docs", "roceuio.example.json"));
        Assert.That(cfg.IndexPolicy, Is.EqualTo(IndexPolicy.Sticky));
        Assert.That(cfg.Devices.Select(d => (d.Driver, d.Pci, d.Emulate, string.Join(",", d.Netdevs))),
            Is.EqualTo(new[] { ("mlx4", (string?)"0000:03:00.0", false, "eth1,eth2"), ("ocrdma", null, true, "eth3") }));
    }

    [Test]
    public void WrongValue_NamesLineColumnAndWhatWasExpected()
    {
        var e = Bad("{\n  // comment\n  \"index_policy\": \"fifo\"\n}");
        Assert.That(e.Message, Does.Match(@"c\.json:3:19: expected ""sticky"" or ""kernel"", got the string ""fifo"""));
    }

    [Test]
    public void UnknownKey_IsNamed()
        => Assert.That(Bad("{ \"devics\": [] }").Message, Does.Contain(":1:3: unknown key \"devics\""));

    [Test]
    public void UnknownDriver_IsNamed()
        => Assert.That(Bad("{\"devices\":[{\"driver\":\"mlx5\",\"emulate\":true,\"ports\":[\"a\"]}]}").Message,
            Does.Contain("unknown driver \"mlx5\""));

    [Test]
    public void DeviceWithoutSource_IsRefused()
        => Assert.That(Bad("{\"devices\":[{\"driver\":\"mlx4\",\"ports\":[\"a\"]}]}").Message,
            Does.Contain(":1:13: a device needs exactly one of"));

    [Test]
    public void BrokenJson_GivesPosition()
        => Assert.That(Bad("{\n  \"state_dir\": \"/x\"\n  \"control\": \"/y\"\n}").Message, Does.Match(@":3:\d+: not valid JSON"));

    [TestCase("mlx4:eth1,eth2", "mlx4", "eth1,eth2")]
    [TestCase("ocrdma:veth0", "ocrdma", "veth0")]
    public void EmulateSpec_Parses(string spec, string kind, string netdevs)
    {
        var d = DeviceConfig.ParseEmulate(spec);
        Assert.That((d.Driver, string.Join(",", d.Netdevs), d.Emulate), Is.EqualTo((kind, netdevs, true)));
    }

    [Test]
    public void AttachSpec_Parses()
    {
        var d = DeviceConfig.ParseAttach("mlx4:/tmp/dev0=eth1,eth2");
        Assert.That((d.Driver, d.AttachDir, string.Join(",", d.Netdevs)), Is.EqualTo(("mlx4", "/tmp/dev0", "eth1,eth2")));
    }

    [TestCase("mlx4")]
    [TestCase("mlx4:")]
    [TestCase("mlx4:a,,b")]
    public void BadEmulateSpec_SaysTheForm(string spec)
        => Assert.That(Assert.Throws<ArgumentException>(() => DeviceConfig.ParseEmulate(spec))!.Message, Does.Contain("KIND:NETDEV"));
}
