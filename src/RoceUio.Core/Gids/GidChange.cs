namespace RoceUio.Gids;

/// <summary>
/// One change of a <see cref="GidTable"/> slot: <see cref="Old"/> is null for an add, <see cref="New"/> is null
/// for a delete.
/// </summary>
public readonly record struct GidChange(int Port, int Index, GidEntry? Old, GidEntry? New);
