using RoceUio.Cli;

// roceuio: the daemon and its command-line client. Each command lives in Commands/<Name>Command.cs.
return CommandLine.Dispatch(args);
