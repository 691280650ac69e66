using System.Globalization;
using System.Text;
using System.Text.Json;
using RoceUio.Gids;

namespace RoceUio.Cli.Output;

/// <summary>
/// The two forms of <c>roceuio show gids</c>:
/// <list type="bullet">
/// <item>text: byte for byte what Mellanox's <c>show_gids</c> prints (mlnx-tools sbin/show_gids; kernel-gid.md 6):
/// a header and a dashes line, one tab-separated row per GID, <c>n_gids_found=N</c>. Devices, ports and indexes come in
/// the order <c>ls</c> lists the sysfs directories: lexicographic, so index 10 comes before 2. The all-zero GID and the
/// bare <c>fe80::</c> are skipped. A GID whose first group is 0000 gets the IPv4 column, computed from its last four
/// bytes as the script's <c>${gid:30:2}</c>... does.</item>
/// <item>JSON: an array of objects shaped like rdma-core's <c>ibv_gid_entry</c>.</item>
/// </list>
/// </summary>
public static class ShowGidsFormat
{
    public const string Header = "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV\n"
                               + "---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---\n";

    private static readonly Gid BareLinkLocal = new(Gid.LinkLocalPrefix, 0);

    /// <summary>The rows in show_gids order: device, port and index each sorted as strings.</summary>
    public static IEnumerable<GidRow> InShowGidsOrder(IEnumerable<GidRow> rows)
        => rows.OrderBy(r => r.Dev, StringComparer.Ordinal)
               .ThenBy(r => r.Port.ToString(CultureInfo.InvariantCulture), StringComparer.Ordinal)
               .ThenBy(r => r.Index.ToString(CultureInfo.InvariantCulture), StringComparer.Ordinal);

    public static string Text(IEnumerable<GidRow> rows)
    {
        var sb = new StringBuilder(Header);
        int n = 0;
        foreach (GidRow r in InShowGidsOrder(rows))
        {
            if (r.Gid.IsZero || r.Gid == BareLinkLocal)
                continue;
            string gid = r.Gid.ToString();
            string ver = r.Type.ToShortString();
            if (gid.StartsWith("0000", StringComparison.Ordinal))
            {
                string ipv4 = string.Create(CultureInfo.InvariantCulture,
                    $"{Hex(gid, 30)}.{Hex(gid, 32)}.{Hex(gid, 35)}.{Hex(gid, 37)}");
                sb.Append(CultureInfo.InvariantCulture, $"{r.Dev}\t{r.Port}\t{r.Index}\t{gid}\t{ipv4}  \t{ver}\t{r.Ndev}\n");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"{r.Dev}\t{r.Port}\t{r.Index}\t{gid}\t\t\t{ver}\t{r.Ndev}\n");
            }
            n++;
        }
        sb.Append(CultureInfo.InvariantCulture, $"n_gids_found={n}\n");
        return sb.ToString();
    }

    private static int Hex(string gid, int at) => int.Parse(gid.AsSpan(at, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary><c>[{"dev","port","index","gid","gid_type","ndev","ndev_ifindex","ipv4"?}]</c>, in table order;
    /// one line unless <paramref name="indented"/> (<c>show gids -j</c> is compact, <c>-jp</c> pretty, as in ip and rdma).</summary>
    public static string Json(IEnumerable<GidRow> rows, bool indented = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartArray();
            foreach (GidRow r in rows.OrderBy(r => r.Dev, StringComparer.Ordinal).ThenBy(r => r.Port).ThenBy(r => r.Index))
            {
                w.WriteStartObject();
                w.WriteString("dev", r.Dev);
                w.WriteNumber("port", r.Port);
                w.WriteNumber("index", r.Index);
                w.WriteString("gid", r.Gid.ToString());
                w.WriteNumber("gid_type", (int)r.Type);
                w.WriteString("ndev", r.Ndev);
                w.WriteNumber("ndev_ifindex", r.NdevIfindex);
                if (r.Gid.IsIPv4Mapped)
                    w.WriteString("ipv4", r.Gid.ToIPAddress().ToString());
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
