using CsCheck;

namespace RoceUio.Fuzz;

/// <summary>
/// Inputs for a target, as CsCheck generators: a corpus entry changed by a few mutations (what AFL's havoc stage does:
/// bit flips, interesting values, length fields made too big or small, truncation, splices, inserted and deleted
/// runs), or plain random bytes. Generation is seeded (CsCheck prints the seed of a failure, and shrinks it).
/// </summary>
public static class Mutations
{
    private static readonly byte[] Interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x04, 0x08, 0x10, 0x14, 0x22, (byte)'"', (byte)'{', (byte)'}', (byte)'\\'];

    public static Gen<byte[]> For(IReadOnlyList<byte[]> corpus)
    {
        Gen<byte[]> random = Gen.Byte.Array[0, 512];
        if (corpus.Count == 0)
            return random;
        Gen<byte[]> mutated =
            from seed in Gen.Int[0, corpus.Count - 1]
            from other in Gen.Int[0, corpus.Count - 1]
            from ops in Gen.Select(Gen.Int[0, 7], Gen.Int, Gen.Int, Gen.Byte).Array[1, 8]
            select Apply(corpus[seed], corpus[other], ops);
        return Gen.Frequency((8, mutated), (1, random));
    }

    private static byte[] Apply(byte[] seed, byte[] other, (int Op, int A, int B, byte V)[] ops)
    {
        var b = new List<byte>(seed);
        foreach (var (op, a, bb, v) in ops)
        {
            int at = b.Count == 0 ? 0 : (int)((uint)a % (uint)b.Count);
            switch (op)
            {
                case 0 when b.Count > 0: b[at] ^= (byte)(1 << (bb & 7)); break;                       // flip a bit
                case 1 when b.Count > 0: b[at] = Interesting[(uint)bb % Interesting.Length]; break;    // an interesting byte
                case 2 when b.Count > 1: b[at] = v; break;                                             // any byte
                case 3: b.RemoveRange(at, Math.Min(b.Count - at, 1 + (int)((uint)bb % 16))); break;    // delete a run
                case 4: b.InsertRange(at, Enumerable.Repeat(v, 1 + (int)((uint)bb % 16))); break;      // insert a run
                case 5: b.RemoveRange(at, b.Count - at); break;                                        // truncate
                case 6 when other.Length > 0:                                                          // splice in another entry
                {
                    int from = (int)((uint)bb % (uint)other.Length);
                    b.InsertRange(at, other.Skip(from).Take(1 + (int)((uint)bb % 64)));
                    break;
                }
                case 7 when b.Count >= at + 2:                                                         // a 16-bit length made odd
                    ushort len = (ushort)(BitConverter.ToUInt16([b[at], b[at + 1]]) + (short)(bb % 9 - 4));
                    b[at] = (byte)len;
                    b[at + 1] = (byte)(len >> 8);
                    break;
            }
        }
        return b.ToArray();
    }
}
