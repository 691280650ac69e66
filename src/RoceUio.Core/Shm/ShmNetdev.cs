namespace RoceUio.Shm;

/// <summary>
/// The netdev of a shared-memory table entry as the file names it (layout version 2, docs/shm-layout.md "Entry"):
/// its ifindex inside its own network namespace (the kernel's <c>ndev->ifindex</c>, what a process in that namespace
/// sees), that namespace's nsfs inode (<c>st_ino</c> of <c>/proc/PID/ns/net</c> or of its <c>/run/netns</c> file; 0
/// when the daemon could not learn it), the id the daemon's namespace gives that namespace (-1: the daemon's own), and
/// its name.
/// </summary>
public readonly record struct ShmNetdev(int Ifindex, ulong NetNs, int NetNsId, string Name);
