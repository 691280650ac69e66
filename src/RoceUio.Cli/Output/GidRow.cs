using RoceUio.Gids;

namespace RoceUio.Cli.Output;

/// <summary>One valid GID table entry as the user sees it: what sysfs shows under ports/P/gids/I and gid_attrs/.</summary>
public sealed record GidRow(string Dev, int Port, int Index, Gid Gid, GidType Type, string Ndev, int NdevIfindex);
