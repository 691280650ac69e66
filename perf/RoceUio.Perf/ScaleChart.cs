using System.Globalization;
using System.Text;

namespace RoceUio.Perf;

/// <summary>
/// Draws lookup and update time against table size, one line per peer, from the CSV report BenchmarkDotNet writes
/// for <see cref="GidTableScaleBenchmarks"/> (<c>--exporters csv</c>): a plain SVG, log-scale time axis, so that the
/// curves can be compared at a glance. No dependency beyond the BCL.
/// </summary>
internal static class ScaleChart
{
    private static readonly (string Category, string Title)[] Panels =
    [
        ("RandomHit", "Lookup hit, random-order stream"),
        ("FreshDeleteAdd", "Delete + add of a never-seen GID"),
    ];

    private static readonly (string Peer, string Color)[] Peers =
    [
        ("RoceUio", "#d62728"),
        ("ConcurrentDictionary", "#1f77b4"),
        ("KernelScan", "#7f7f7f"),
    ];

    public static int Write(string resultsDir, string? output)
    {
        string? csv = Directory.Exists(resultsDir)
            ? Directory.GetFiles(resultsDir, "*GidTableScaleBenchmarks-report.csv", SearchOption.AllDirectories).FirstOrDefault()
            : null;
        if (csv is null)
        {
            Console.Error.WriteLine($"chart: no GidTableScaleBenchmarks CSV report under '{resultsDir}' (run the benchmarks with --exporters csv)");
            return 1;
        }
        var points = Read(csv);
        if (points.Count == 0)
        {
            Console.Error.WriteLine($"chart: {csv} has no rows with Method, Size and Mean");
            return 1;
        }
        output ??= Path.Combine(Path.GetDirectoryName(csv)!, "gid-table-scale.svg");
        File.WriteAllText(output, Svg(points, Path.GetFileName(csv)));
        Console.WriteLine($"chart: {output}");
        return 0;
    }

    /// <summary>(method, size) -> mean in nanoseconds.</summary>
    internal static Dictionary<(string Method, int Size), double> Read(string csvPath)
    {
        var rows = File.ReadAllLines(csvPath).Select(SplitCsv).ToList();
        var result = new Dictionary<(string, int), double>();
        if (rows.Count < 2)
            return result;
        int method = rows[0].IndexOf("Method"), size = rows[0].IndexOf("Size"), mean = rows[0].IndexOf("Mean");
        if (method < 0 || size < 0 || mean < 0)
            return result;
        foreach (var row in rows.Skip(1))
            if (row.Count > Math.Max(mean, size) && int.TryParse(row[size], out int n) && TryNanoseconds(row[mean], out double ns))
                result[(row[method], n)] = ns;
        return result;
    }

    internal static bool TryNanoseconds(string text, out double ns)
    {
        ns = 0;
        string[] parts = text.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || !double.TryParse(parts[0], NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out double v))
            return false;
        double scale = parts.Length < 2 ? 1 : parts[1] switch
        {
            "ns" => 1, "μs" or "us" or "µs" => 1e3, "ms" => 1e6, "s" => 1e9, _ => double.NaN,
        };
        ns = v * scale;
        return !double.IsNaN(ns);
    }

    private static List<string> SplitCsv(string line)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        bool quoted = false;
        foreach (char c in line)
        {
            if (c == '"') quoted = !quoted;
            else if ((c == ',' || c == ';') && !quoted) { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }
        cells.Add(cell.ToString());
        return cells;
    }

    private static string Svg(Dictionary<(string Method, int Size), double> points, string source)
    {
        const int panelW = 420, panelH = 300, left = 70, top = 40, plotW = 320, plotH = 210;
        int[] sizes = points.Keys.Select(k => k.Size).Distinct().Order().ToArray();
        var svg = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        int width = panelW * Panels.Length + 20, height = panelH + 60;
        svg.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(inv, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        for (int p = 0; p < Panels.Length; p++)
        {
            var (category, title) = Panels[p];
            double x0 = p * panelW + left, y0 = top;
            var values = Peers.SelectMany(peer => sizes.Select(s => points.TryGetValue(($"{peer.Peer}_{category}", s), out double v) ? v : double.NaN))
                              .Where(v => !double.IsNaN(v) && v > 0).ToList();
            if (values.Count == 0)
                continue;
            double lo = Math.Pow(10, Math.Floor(Math.Log10(values.Min()))), hi = Math.Pow(10, Math.Ceiling(Math.Log10(values.Max())));
            if (hi <= lo) hi = lo * 10;
            double Y(double v) => y0 + plotH - (Math.Log10(v) - Math.Log10(lo)) / (Math.Log10(hi) - Math.Log10(lo)) * plotH;
            double X(int i) => x0 + (sizes.Length == 1 ? plotW / 2.0 : i * plotW / (double)(sizes.Length - 1));
            svg.Append(inv, $"<text x=\"{x0 + plotW / 2}\" y=\"{y0 - 16}\" text-anchor=\"middle\" font-weight=\"bold\">{title}</text>\n");
            svg.Append(inv, $"<rect x=\"{x0}\" y=\"{y0}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>\n");
            for (double d = lo; d <= hi * 1.0001; d *= 10)
            {
                svg.Append(inv, $"<line x1=\"{x0}\" x2=\"{x0 + plotW}\" y1=\"{Y(d):F1}\" y2=\"{Y(d):F1}\" stroke=\"#eee\"/>\n");
                svg.Append(inv, $"<text x=\"{x0 - 6}\" y=\"{Y(d) + 4:F1}\" text-anchor=\"end\">{Label(d)}</text>\n");
            }
            for (int i = 0; i < sizes.Length; i++)
                svg.Append(inv, $"<text x=\"{X(i):F1}\" y=\"{y0 + plotH + 18}\" text-anchor=\"middle\">{sizes[i]}</text>\n");
            svg.Append(inv, $"<text x=\"{x0 + plotW / 2}\" y=\"{y0 + plotH + 36}\" text-anchor=\"middle\">entries in the table</text>\n");
            svg.Append(inv, $"<text transform=\"translate({x0 - 52},{y0 + plotH / 2}) rotate(-90)\" text-anchor=\"middle\">time per operation (log)</text>\n");
            foreach (var (peer, color) in Peers)
            {
                var line = new List<string>();
                for (int i = 0; i < sizes.Length; i++)
                {
                    if (!points.TryGetValue(($"{peer}_{category}", sizes[i]), out double v) || v <= 0)
                        continue;
                    line.Add(string.Create(inv, $"{X(i):F1},{Y(v):F1}"));
                    svg.Append(inv, $"<circle cx=\"{X(i):F1}\" cy=\"{Y(v):F1}\" r=\"3\" fill=\"{color}\"/>\n");
                    svg.Append(inv, $"<text x=\"{X(i) + 5:F1}\" y=\"{Y(v) - 5:F1}\" fill=\"{color}\" font-size=\"10\">{Label(v)}</text>\n");
                }
                if (line.Count > 1)
                    svg.Append(inv, $"<polyline points=\"{string.Join(' ', line)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n");
            }
        }
        double lx = left;
        foreach (var (peer, color) in Peers)
        {
            string name = peer == "KernelScan" ? "kernel-style scan under a reader lock" : peer;
            svg.Append(inv, $"<rect x=\"{lx}\" y=\"{panelH + 20}\" width=\"14\" height=\"4\" fill=\"{color}\"/>\n");
            svg.Append(inv, $"<text x=\"{lx + 20}\" y=\"{panelH + 26}\">{name}</text>\n");
            lx += 40 + 7 * name.Length;
        }
        svg.Append(inv, $"<text x=\"{left}\" y=\"{panelH + 48}\" fill=\"#666\" font-size=\"10\">from {System.Security.SecurityElement.Escape(source)} (BenchmarkDotNet mean per operation)</text>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Label(double ns) => ns switch
    {
        >= 1e6 => (ns / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + " ms",
        >= 1e3 => (ns / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + " µs",
        _ => ns.ToString(ns < 10 ? "0.##" : "0.#", CultureInfo.InvariantCulture) + " ns",
    };
}
