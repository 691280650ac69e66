namespace RoceUio.Gids;

/// <summary>
/// A GID's type, with the values of <c>ibv_gid_entry.gid_type</c> and of the kernel's
/// <c>enum ib_gid_type</c> since v5.10 (IB_UVERBS_GID_TYPE_IB/ROCE_V1/ROCE_V2).
/// </summary>
public enum GidType : byte
{
    Ib = 0,
    RoceV1 = 1,
    RoceV2 = 2,
}

/// <summary>The set of GID types a port supports (<c>roce_gid_type_mask_support</c>): one bit per <see cref="GidType"/>.</summary>
[Flags]
public enum GidTypes : byte
{
    None = 0,
    Ib = 1 << GidType.Ib,
    RoceV1 = 1 << GidType.RoceV1,
    RoceV2 = 1 << GidType.RoceV2,
    Roce = RoceV1 | RoceV2,
}

public static class GidTypeText
{
    /// <summary>sysfs <c>gid_attrs/types/N</c> (<c>ib_cache_gid_type_str</c>): IB and RoCE v1 print the same, for user space compatibility.</summary>
    public static string ToSysfsString(this GidType type) => type switch
    {
        GidType.Ib or GidType.RoceV1 => "IB/RoCE v1",
        GidType.RoceV2 => "RoCE v2",
        _ => "Invalid GID type",
    };

    /// <summary>The short form used by show_gids and our CLI: "v1" or "v2" (IB prints "v1" too, as show_gids greps "[Vv].*").</summary>
    public static string ToShortString(this GidType type) => type == GidType.RoceV2 ? "v2" : "v1";

    /// <summary>
    /// Parses the sysfs strings (optional trailing newline, as <c>ib_cache_gid_parse_type_str</c>) and the short
    /// forms "v1"/"v2"/"roce-v1"/"roce-v2". "IB/RoCE v1" is read as RoCE v1, as on an Ethernet port.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out GidType type)
    {
        text = text.TrimEnd('\n').Trim();
        if (text.Equals("IB/RoCE v1", StringComparison.Ordinal) || text.Equals("v1", StringComparison.OrdinalIgnoreCase)
            || text.Equals("roce-v1", StringComparison.OrdinalIgnoreCase) || text.Equals("1", StringComparison.Ordinal))
        { type = GidType.RoceV1; return true; }
        if (text.Equals("RoCE v2", StringComparison.Ordinal) || text.Equals("v2", StringComparison.OrdinalIgnoreCase)
            || text.Equals("roce-v2", StringComparison.OrdinalIgnoreCase) || text.Equals("2", StringComparison.Ordinal))
        { type = GidType.RoceV2; return true; }
        if (text.Equals("IB", StringComparison.Ordinal) || text.Equals("0", StringComparison.Ordinal))
        { type = GidType.Ib; return true; }
        type = default;
        return false;
    }

    public static GidType Parse(string text)
        => TryParse(text, out GidType t) ? t
           : throw new FormatException($"'{text}' is not a GID type: expected 'IB/RoCE v1', 'RoCE v2', 'v1' or 'v2'");

    public static bool Contains(this GidTypes set, GidType type) => ((int)set & (1 << (int)type)) != 0;

    /// <summary>The types in the set, in ascending order (the order the kernel adds entries: v1 before v2).</summary>
    public static int CopyTo(this GidTypes set, Span<GidType> destination)
    {
        int n = 0;
        for (int t = 0; t <= (int)GidType.RoceV2; t++)
            if (((int)set & (1 << t)) != 0)
                destination[n++] = (GidType)t;
        return n;
    }

    /// <summary>Number of types in the set (<c>hweight</c> of the mask: the number of default slots).</summary>
    public static int Count(this GidTypes set) => System.Numerics.BitOperations.PopCount((uint)set);
}
