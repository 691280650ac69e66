using System.Buffers.Binary;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Netlink;

public class NetlinkParserTests
{
    private static readonly LinkSpec Vlan = new(10, "eth0.100") { Mac = "24:8a:07:aa:bb:cc", Kind = "vlan", VlanId = 100, Link = 2 };
    private static readonly LinkSpec Bond = new(20, "bond0") { Mac = "24:8a:07:aa:bb:cc", Kind = "bond", BondActiveSlave = 3 };

    [Test]
    public void LinkMessage_ParsesNestedLinkInfo()
    {
        var r = new NetlinkMessageReader(RtnlMessages.NewLink(Vlan));
        Assert.That(r.TryRead(out NetlinkMessage m));
        Assert.That(LinkMessage.TryParse(m, out LinkMessage l, out _));
        Assert.That((l.Ifindex, l.Link, l.VlanId, l.Kind.SequenceEqual("vlan"u8), l.Name.SequenceEqual("eth0.100"u8)),
            Is.EqualTo((10, 2, (ushort)100, true, true)));
        r = new NetlinkMessageReader(RtnlMessages.NewLink(Bond));
        Assert.That(r.TryRead(out m) && LinkMessage.TryParse(m, out l, out _));
        Assert.That((l.BondActiveSlave, l.BondMode), Is.EqualTo((3, (byte)1)));
    }

    [Test]
    public void TruncatedHeader_StopsTheWalk_WithOffset()
    {
        byte[] two = [.. RtnlMessages.NewAddress(2, "192.0.2.1/24"), .. RtnlMessages.NewAddress(2, "192.0.2.2/24")];
        int first = BinaryPrimitives.ReadInt32LittleEndian(two);
        var r = new NetlinkMessageReader(two.AsSpan(0, first + 10));
        Assert.That(r.TryRead(out _), Is.True);
        Assert.That(r.TryRead(out _), Is.False);
        Assert.That(r.Failure, Is.EqualTo(new NetlinkParseFailure(NetlinkParseError.BadMessageLength, first)));
    }

    [Test]
    public void BadAttributes_AreRejected_CountedAndLogged_AndChangeNothing()
    {
        var log = new List<string>();
        var cache = new NetdevCache { Log = log.Add };
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }));
        string before = NetlinkTestState.FromCache(cache);

        byte[] msg = RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "02:00:00:00:00:09" });
        // IFLA_IFNAME is the first attribute, at 32: make its rta_len run past the message.
        byte[] badLen = (byte[])msg.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(badLen.AsSpan(32), 4000);
        // Remove the NUL of IFNAME ("eth0\0" is 5 bytes at 36).
        byte[] noNul = (byte[])msg.Clone();
        noNul[40] = (byte)'x';
        // A 3-byte MTU: find IFLA_MTU and shrink its length.
        byte[] badMtu = (byte[])msg.Clone();
        int at = FindAttribute(badMtu, Ifla.IFLA_MTU);
        BinaryPrimitives.WriteUInt16LittleEndian(badMtu.AsSpan(at), 7);

        cache.ApplyAll(badLen);
        cache.ApplyAll(noNul);
        cache.ApplyAll(badMtu);
        Assert.That(cache.MalformedMessages, Is.EqualTo(3));
        Assert.That(NetlinkTestState.FromCache(cache), Is.EqualTo(before), "a rejected message changes nothing");
        Assert.That(log, Has.Count.EqualTo(3));
        Assert.That(log[0], Does.Contain("RTM_NEWLINK").And.Contain("BadAttributeLength at byte 32"));
        Assert.That(log[1], Does.Contain("UnterminatedString at byte 32"));
        Assert.That(log[2], Does.Contain($"BadAttributeSize at byte {at}"));
    }

    [Test]
    public void AddressOfWrongSize_IsRejected()
    {
        byte[] msg = RtnlMessages.NewAddress(2, "192.0.2.1/24");
        int at = FindAttribute(msg, Ifa.IFA_ADDRESS, NlMsgHdr.Size + IfAddrMsg.Size);
        msg[NlMsgHdr.Size] = AddressFamilies.AF_INET6; // claims IPv6 with 4-byte addresses
        var r = new NetlinkMessageReader(msg);
        Assert.That(r.TryRead(out NetlinkMessage m));
        Assert.That(AddressMessage.TryParse(m, out _, out NetlinkParseFailure f), Is.False);
        Assert.That(f, Is.EqualTo(new NetlinkParseFailure(NetlinkParseError.AddressFamilyMismatch, at)));
    }

    [Test]
    public void Parsing_AndApplyingWarmMessages_AllocatesNothing()
    {
        var cache = new NetdevCache();
        byte[][] messages =
        [
            RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }), RtnlMessages.NewLink(Vlan), RtnlMessages.NewLink(Bond),
            RtnlMessages.NewAddress(10, "192.0.2.10/24"), RtnlMessages.NewAddress(10, "2001:db8::10/64", IfaFlags.IFA_F_PERMANENT),
        ];
        byte[] all = messages.SelectMany(m => m).ToArray();
        for (int i = 0; i < 100; i++)
            Run(cache, all);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20_000; i++)
            Run(cache, all);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, "warm parsing and applying allocates nothing");
        Assert.That(cache.AppliedMessages, Is.EqualTo(20_100 * 5));

        static void Run(NetdevCache cache, byte[] all)
        {
            var r = new NetlinkMessageReader(all);
            while (r.TryRead(out NetlinkMessage m))
            {
                if (m.Type == NlMsgType.RTM_NEWLINK && !LinkMessage.TryParse(m, out _, out _)) throw new InvalidOperationException();
                if (m.Type == NlMsgType.RTM_NEWADDR && !AddressMessage.TryParse(m, out _, out _)) throw new InvalidOperationException();
                cache.Apply(m);
            }
        }
    }

    internal static int FindAttribute(byte[] msg, ushort type, int start = NlMsgHdr.Size + IfInfoMsg.Size)
    {
        for (int o = start; o + 4 <= msg.Length; o += NlMsgHdr.Align(BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(o))))
            if (BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(o + 2)) == type)
                return o;
        throw new AssertionException($"attribute {type} not found");
    }
}

/// <summary>Random mutations of messages captured from a real kernel (fixed seed): rejected cleanly, cache consistent.</summary>
[NonParallelizable]
public class NetlinkFuzzTests
{
    [Test]
    public void MutatedRealMessages_AreRejectedCleanly_AndTheCacheStaysConsistent()
    {
        byte[] capture = CaptureRealMessages();
        var messages = new List<byte[]>();
        var reader = new RtmonCaptureReader(capture);
        while (reader.TryRead(out NetlinkMessage m))
            messages.Add(m.Bytes.ToArray());
        Assert.That(messages, Has.Count.GreaterThan(10), "captured real link and address messages");

        var log = new List<string>();
        var cache = new NetdevCache { Log = log.Add };
        RtmonCaptureReader.Replay(capture, cache);
        string clean = NetlinkTestState.FromCache(cache);

        var rng = new Random(20240611);
        int rejected = 0, accepted = 0;
        for (int i = 0; i < 5000; i++)
        {
            byte[] m = (byte[])messages[rng.Next(messages.Count)].Clone();
            m = Mutate(m, rng);
            string before = NetlinkTestState.FromCache(cache);
            long malformed = cache.MalformedMessages;
            // One message per buffer: a shorter nlmsg_len makes a shorter (possibly valid) message plus trailing bytes.
            var framing = new NetlinkMessageReader(m);
            bool framed = framing.TryRead(out NetlinkMessage msg);
            if (framed)
                cache.Apply(msg);
            if (!framed || cache.MalformedMessages > malformed)
            {
                rejected++;
                Assert.That(NetlinkTestState.FromCache(cache), Is.EqualTo(before), $"iteration {i}: a rejected message changed the cache");
            }
            else
                accepted++;
            foreach (NetdevLink l in cache.Links)
                foreach (NetdevAddress a in l.Addresses)
                    Assert.That(a.Ifindex, Is.EqualTo(l.Ifindex));
        }
        Assert.That(rejected, Is.GreaterThan(500), "the mutations hit the length checks");
        Assert.That(accepted, Is.GreaterThan(500), "and some mutated messages are still valid");
        Assert.That(log.Count(l => l.Contains("malformed")), Is.EqualTo(cache.MalformedMessages), "each rejection is logged");

        // A resync from the clean capture puts everything back.
        cache.BeginResync();
        RtmonCaptureReader.Replay(capture, cache);
        cache.EndResync();
        Assert.That(NetlinkTestState.FromCache(cache), Is.EqualTo(clean));
    }

    private static byte[] Mutate(byte[] m, Random rng)
    {
        switch (rng.Next(4))
        {
            case 0: // truncate, keeping the framing consistent so the attribute checks are hit
                int len = rng.Next(NlMsgHdr.Size, m.Length);
                m = m[..len];
                BinaryPrimitives.WriteUInt32LittleEndian(m, (uint)len);
                return m;
            case 1: // flip bytes in the payload
                for (int k = rng.Next(1, 4); k > 0; k--)
                    m[rng.Next(NlMsgHdr.Size, m.Length)] ^= (byte)rng.Next(1, 256);
                return m;
            case 2: // random 16-bit value somewhere after the header (often an rta_len)
                int at = NlMsgHdr.Size + (rng.Next(m.Length - NlMsgHdr.Size - 1) & ~3);
                BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(at), (ushort)rng.Next(0, 70));
                return m;
            default: // corrupt nlmsg_len itself
                BinaryPrimitives.WriteUInt32LittleEndian(m, (uint)rng.Next(0, m.Length + 64));
                return m;
        }
    }

    private static byte[] CaptureRealMessages()
    {
        using var ns = NetworkNamespace.Create();
        ns.Ip("link add va type veth peer name vb");
        ns.Ip("link add br0 type bridge");
        ns.Ip("link set vb master br0");
        ns.Ip("link add mv0 link va type macvlan mode bridge");
        ns.Ip("addr add 10.9.0.1/24 dev va");
        ns.Ip("addr add fd09::1/64 dev va");
        ns.Ip("addr add 10.9.1.1/24 dev mv0");
        var stream = new MemoryStream();
        using var monitor = new NetlinkMonitor(new NetdevCache()) { Capture = new RtmonCaptureWriter(stream, ownsStream: false) };
        ns.Run(() => { monitor.Start(); return 0; });
        ns.Ip("link set va up");
        ns.Ip("link set mv0 up");
        ns.Ip("link set va address 02:99:00:00:00:01");
        ns.Ip("addr del 10.9.0.1/24 dev va");
        monitor.Poll(500);
        return stream.ToArray();
    }
}
