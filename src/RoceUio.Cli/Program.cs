using RoceUio.Cli;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// roceuio: the daemon and its command-line client. Each command lives in Commands/<Name>Command.cs.
return CommandLine.Dispatch(args);
