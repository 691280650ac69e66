using System.Reflection;
using System.Runtime.InteropServices;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Netlink;

/// <summary>Every C# netlink constant, size and offset equals what this machine's kernel headers say (native/netlink_layout.c).</summary>
public class NetlinkDefinitionsTests
{
    private static readonly Type[] ConstantClasses =
    [
        typeof(NetlinkSocketConstants), typeof(NlMsgType), typeof(NlMsgFlags), typeof(RtnlGroup), typeof(Ifla),
        typeof(IflaInfo), typeof(IflaVlan), typeof(IflaBond), typeof(Ifa), typeof(IfaFlags), typeof(Iff), typeof(Arphrd),
        typeof(AddressFamilies), typeof(Netnsa),
    ];

    // iproute2's own record type, not in the kernel headers.
    private static readonly HashSet<string> NotInKernelHeaders = ["NLMSG_TSTAMP"];

    public static IEnumerable<TestCaseData> Constants()
        => ConstantClasses.SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static))
            .Where(f => f.IsLiteral && !NotInKernelHeaders.Contains(f.Name))
            .Select(f => new TestCaseData(f.Name, Convert.ToInt64(f.GetRawConstantValue())).SetName($"Constant_{f.Name}"));

    [TestCaseSource(nameof(Constants))]
    public void Constant_EqualsKernelHeader(string name, long value)
        => Assert.That(value, Is.EqualTo(NativeLayout.Get(name)), name);

    [Test]
    public void OperState_EqualsIfOper()
    {
        foreach ((OperState s, string c) in new[] { (OperState.Unknown, "UNKNOWN"), (OperState.NotPresent, "NOTPRESENT"),
                     (OperState.Down, "DOWN"), (OperState.LowerLayerDown, "LOWERLAYERDOWN"), (OperState.Testing, "TESTING"),
                     (OperState.Dormant, "DORMANT"), (OperState.Up, "UP") })
            Assert.That((long)s, Is.EqualTo(NativeLayout.Get("IF_OPER_" + c)));
    }

    [Test]
    public void AttributeFlags_EqualKernel()
    {
        Assert.That((long)RtAttr.NLA_F_NESTED, Is.EqualTo(NativeLayout.Get("NLA_F_NESTED")));
        Assert.That((long)RtAttr.TypeMask, Is.EqualTo(NativeLayout.Get("NLA_TYPE_MASK")));
    }

    [TestCase(typeof(SockaddrNl), "sockaddr_nl", new[] { "nl_family", "nl_pid", "nl_groups" })]
    [TestCase(typeof(NlMsgHdr), "nlmsghdr", new[] { "nlmsg_len", "nlmsg_type", "nlmsg_flags", "nlmsg_seq", "nlmsg_pid" })]
    [TestCase(typeof(NlMsgErr), "nlmsgerr", new[] { "error", "msg" })]
    [TestCase(typeof(IfInfoMsg), "ifinfomsg", new[] { "ifi_family", "ifi_type", "ifi_index", "ifi_flags", "ifi_change" })]
    [TestCase(typeof(IfAddrMsg), "ifaddrmsg", new[] { "ifa_family", "ifa_prefixlen", "ifa_flags", "ifa_scope", "ifa_index" })]
    [TestCase(typeof(RtAttr), "rtattr", new[] { "rta_len", "rta_type" })]
    public void Struct_SizeAndOffsets_EqualKernel(Type type, string cName, string[] fields)
    {
        Assert.That(Marshal.SizeOf(type), Is.EqualTo(NativeLayout.Get("sizeof_" + cName)), "sizeof " + cName);
        foreach (string f in fields)
            Assert.That((long)Marshal.OffsetOf(type, f), Is.EqualTo(NativeLayout.Get($"offsetof_{cName}_{f}")), $"{cName}.{f}");
    }

    [Test]
    public void ReaderOffsets_MatchStructFields()
    {
        // The parsers read at these constants; they must be the struct's real offsets.
        Assert.That((int)Marshal.OffsetOf<IfInfoMsg>("ifi_index"), Is.EqualTo(IfInfoMsg.OffsetIndex));
        Assert.That((int)Marshal.OffsetOf<IfInfoMsg>("ifi_change"), Is.EqualTo(IfInfoMsg.OffsetChange));
        Assert.That((int)Marshal.OffsetOf<IfAddrMsg>("ifa_index"), Is.EqualTo(IfAddrMsg.OffsetIndex));
        Assert.That((int)Marshal.OffsetOf<NlMsgHdr>("nlmsg_seq"), Is.EqualTo(NlMsgHdr.OffsetSeq));
    }
}
