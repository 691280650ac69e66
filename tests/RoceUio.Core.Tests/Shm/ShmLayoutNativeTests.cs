using System.Buffers.Binary;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Shm;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Shm;

/// <summary>The C reader (native/roceuio_gids.h, printed by artifacts/native/layout) and the C# layout agree on every
/// number of the shared-memory table file.</summary>
public class ShmLayoutNativeTests
{
    private static IEnumerable<TestCaseData> Constants()
    {
        (string, long)[] pairs =
        [
            ("ROCEUIO_SHM_VERSION", ShmLayout.Version), ("ROCEUIO_SHM_HEADER_SIZE", ShmLayout.HeaderSize),
            ("ROCEUIO_SHM_ENTRY_SIZE", ShmLayout.EntrySize), ("ROCEUIO_SHM_BUCKET_SIZE", ShmLayout.BucketSize),
            ("ROCEUIO_SHM_STRIPE_SEQ_STRIDE", ShmLayout.StripeSeqStride), ("ROCEUIO_SHM_DEVICE_NAME_SIZE", ShmLayout.DeviceNameSize),
            ("ROCEUIO_SHM_NETDEV_NAME_SIZE", ShmLayout.NetdevNameSize),
            ("ROCEUIO_SHM_HDR_MAGIC", ShmLayout.HdrMagic), ("ROCEUIO_SHM_HDR_VERSION", ShmLayout.HdrVersion),
            ("ROCEUIO_SHM_HDR_HEADER_SIZE", ShmLayout.HdrHeaderSize), ("ROCEUIO_SHM_HDR_ENTRY_SIZE", ShmLayout.HdrEntrySize),
            ("ROCEUIO_SHM_HDR_CAPACITY", ShmLayout.HdrCapacity), ("ROCEUIO_SHM_HDR_STRIPE_COUNT", ShmLayout.HdrStripeCount),
            ("ROCEUIO_SHM_HDR_BUCKETS_PER_STRIPE", ShmLayout.HdrBucketsPerStripe), ("ROCEUIO_SHM_HDR_BUCKET_SIZE", ShmLayout.HdrBucketSize),
            ("ROCEUIO_SHM_HDR_PORT", ShmLayout.HdrPort), ("ROCEUIO_SHM_HDR_ENTRIES_OFFSET", ShmLayout.HdrEntriesOffset),
            ("ROCEUIO_SHM_HDR_STRIPES_OFFSET", ShmLayout.HdrStripesOffset), ("ROCEUIO_SHM_HDR_BUCKETS_OFFSET", ShmLayout.HdrBucketsOffset),
            ("ROCEUIO_SHM_HDR_FILE_SIZE", ShmLayout.HdrFileSize), ("ROCEUIO_SHM_HDR_INSTANCE", ShmLayout.HdrInstance),
            ("ROCEUIO_SHM_HDR_WRITER_PID", ShmLayout.HdrWriterPid), ("ROCEUIO_SHM_HDR_DEFAULT_SLOTS", ShmLayout.HdrDefaultSlots),
            ("ROCEUIO_SHM_HDR_GID_TYPES", ShmLayout.HdrGidTypes), ("ROCEUIO_SHM_HDR_DEVICE_NAME", ShmLayout.HdrDeviceName),
            ("ROCEUIO_SHM_HDR_NETNS", ShmLayout.HdrNetns),
            ("ROCEUIO_SHM_HDR_GENERATION", ShmLayout.HdrGeneration), ("ROCEUIO_SHM_HDR_FLAGS", ShmLayout.HdrFlags),
            ("ROCEUIO_SHM_HDR_TABLE_SEQ", ShmLayout.HdrTableSeq), ("ROCEUIO_SHM_FLAG_GONE", ShmLayout.FlagGone),
            ("ROCEUIO_SHM_ENT_SEQ", ShmLayout.EntSeq), ("ROCEUIO_SHM_ENT_STATE", ShmLayout.EntState),
            ("ROCEUIO_SHM_ENT_GID", ShmLayout.EntGid), ("ROCEUIO_SHM_ENT_TYPE", ShmLayout.EntType),
            ("ROCEUIO_SHM_ENT_NDEV", ShmLayout.EntNdev), ("ROCEUIO_SHM_ENT_NDEV_NAME", ShmLayout.EntNdevName),
            ("ROCEUIO_SHM_ENT_NDEV_NETNS", ShmLayout.EntNdevNetns), ("ROCEUIO_SHM_ENT_NDEV_NETNSID", ShmLayout.EntNdevNetnsId),
            ("ROCEUIO_SHM_STATE_EMPTY", ShmLayout.StateEmpty), ("ROCEUIO_SHM_STATE_VALID", ShmLayout.StateValid),
            ("ROCEUIO_SHM_BKT_GID", ShmLayout.BktGid), ("ROCEUIO_SHM_BKT_NDEV", ShmLayout.BktNdev),
            ("ROCEUIO_SHM_BKT_TYPE_INDEX", ShmLayout.BktTypeIndex), ("ROCEUIO_SHM_BKT_NETNS", ShmLayout.BktNetns),
            ("ROCEUIO_SHM_BKT_INDEX_BITS", ShmLayout.BktIndexBits),
            ("ROCEUIO_SHM_HASH_K0", unchecked((long)ShmLayout.HashK0)), ("ROCEUIO_SHM_HASH_K1", unchecked((long)ShmLayout.HashK1)),
            ("ROCEUIO_SHM_HASH_HOME_SHIFT", ShmLayout.HashHomeShift),
            ("ROCEUIO_GID_TYPE_IB", (long)GidType.Ib), ("ROCEUIO_GID_TYPE_ROCE_V1", (long)GidType.RoceV1),
            ("ROCEUIO_GID_TYPE_ROCE_V2", (long)GidType.RoceV2),
            ("ROCEUIO_FIND_MASK_GID", (long)GidFindMask.Gid), ("ROCEUIO_FIND_MASK_NETDEV", (long)GidFindMask.Netdev),
            ("ROCEUIO_FIND_MASK_DEFAULT", (long)GidFindMask.Default), ("ROCEUIO_FIND_MASK_GID_TYPE", (long)GidFindMask.GidType),
            ("ROCEUIO_SHM_MAGIC_U64", BinaryPrimitives.ReadInt64LittleEndian(ShmLayout.MagicBytes)),
        ];
        foreach (var (name, value) in pairs)
            yield return new TestCaseData(name, value).SetName($"ShmLayout_{name}");
    }

    [TestCaseSource(nameof(Constants))]
    public void CAndCSharpAgree(string name, long csharp) => Assert.That(NativeLayout.Get(name), Is.EqualTo(csharp), name);
}
