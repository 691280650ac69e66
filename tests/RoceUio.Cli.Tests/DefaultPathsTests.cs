using NUnit.Framework;
using RoceUio.Cli.Config;

namespace RoceUio.Cli.Tests;

/// <summary>Where a non-root daemon and its clients meet when nobody named a socket.</summary>
[NonParallelizable]
public class DefaultPathsTests
{
    [Test]
    public void WithUserAndXdgUnset_TheUserDirectory_IsNamedByUid_NotEmpty()
    {
        string? user = Environment.GetEnvironmentVariable("USER"), xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        try
        {
            Environment.SetEnvironmentVariable("USER", null);
            Environment.SetEnvironmentVariable("XDG_RUNTIME_DIR", null);
            string unset = DefaultPaths.UserDirectory;
            Environment.SetEnvironmentVariable("USER", "someone-else");
            Assert.That(unset, Is.EqualTo($"/tmp/roceuio-{Tmds.Linux.LibC.geteuid()}"));
            Assert.That(DefaultPaths.UserDirectory, Is.EqualTo(unset), "a daemon started from a login shell and a client run from cron agree");
        }
        finally
        {
            Environment.SetEnvironmentVariable("USER", user);
            Environment.SetEnvironmentVariable("XDG_RUNTIME_DIR", xdg);
        }
    }
}
