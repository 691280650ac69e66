namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// Status codes and the kernel's names for them. Three families:
/// the MCQE completion status (ocrdma_hw.c <c>enum cqe_status</c>, mapped by <c>ocrdma_get_mbx_cqe_errno</c>),
/// the embedded response status (ocrdma_hw.c <c>enum mbx_status</c> and <c>enum additional_status</c>, mapped by
/// <c>ocrdma_get_mbx_errno</c>) and be2net's bootstrap-mailbox completion status (be_cmds.h <c>enum mcc_base_status</c>).
/// </summary>
public static class OcrdmaStatus
{
    // enum cqe_status
    public const ushort CqeInsufficientPrivileges = 1;
    public const ushort CqeInvalidParameter = 2;
    public const ushort CqeInsufficientResources = 3;
    public const ushort CqeQueueFlushing = 4;
    public const ushort CqeDmaFailed = 5;

    // enum mbx_status (the ones the model uses by name)
    public const byte MbxFailed = 1;
    public const byte MbxIllegalField = 3;
    public const byte MbxInvalidQp = 104;
    public const byte AdditionalInsufficientResources = 22;

    public static string CqeStatusName(uint status) => status switch
    {
        0 => "SUCCESS",
        CqeInsufficientPrivileges => "OCRDMA_MBX_CQE_STATUS_INSUFFICIENT_PRIVILEDGES",
        CqeInvalidParameter => "OCRDMA_MBX_CQE_STATUS_INVALID_PARAMETER",
        CqeInsufficientResources => "OCRDMA_MBX_CQE_STATUS_INSUFFICIENT_RESOURCES",
        CqeQueueFlushing => "OCRDMA_MBX_CQE_STATUS_QUEUE_FLUSHING",
        CqeDmaFailed => "OCRDMA_MBX_CQE_STATUS_DMA_FAILED",
        _ => $"completion status {status}",
    };

    /// <summary><c>ocrdma_get_mbx_cqe_errno</c>.</summary>
    public static string CqeErrno(uint status) => status switch
    {
        CqeInsufficientPrivileges => "EPERM",
        CqeInsufficientResources or CqeQueueFlushing => "EAGAIN",
        CqeDmaFailed => "EIO",
        _ => "EINVAL",
    };

    public static string MbxStatusName(byte status) => status switch
    {
        0 => "SUCCESS",
        1 => "OCRDMA_MBX_STATUS_FAILED",
        3 => "OCRDMA_MBX_STATUS_ILLEGAL_FIELD",
        100 => "OCRDMA_MBX_STATUS_OOR",
        101 => "OCRDMA_MBX_STATUS_INVALID_PD",
        102 => "OCRDMA_MBX_STATUS_PD_INUSE",
        103 => "OCRDMA_MBX_STATUS_INVALID_CQ",
        104 => "OCRDMA_MBX_STATUS_INVALID_QP",
        105 => "OCRDMA_MBX_STATUS_INVALID_LKEY",
        106 => "OCRDMA_MBX_STATUS_ORD_EXCEEDS",
        107 => "OCRDMA_MBX_STATUS_IRD_EXCEEDS",
        108 => "OCRDMA_MBX_STATUS_SENDQ_WQE_EXCEEDS",
        109 => "OCRDMA_MBX_STATUS_RECVQ_RQE_EXCEEDS",
        110 => "OCRDMA_MBX_STATUS_SGE_SEND_EXCEEDS",
        111 => "OCRDMA_MBX_STATUS_SGE_WRITE_EXCEEDS",
        112 => "OCRDMA_MBX_STATUS_SGE_RECV_EXCEEDS",
        113 => "OCRDMA_MBX_STATUS_INVALID_STATE_CHANGE",
        114 => "OCRDMA_MBX_STATUS_MW_BOUND",
        115 => "OCRDMA_MBX_STATUS_INVALID_VA",
        116 => "OCRDMA_MBX_STATUS_INVALID_LENGTH",
        117 => "OCRDMA_MBX_STATUS_INVALID_FBO",
        118 => "OCRDMA_MBX_STATUS_INVALID_ACC_RIGHTS",
        119 => "OCRDMA_MBX_STATUS_INVALID_PBE_SIZE",
        120 => "OCRDMA_MBX_STATUS_INVALID_PBL_ENTRY",
        121 => "OCRDMA_MBX_STATUS_INVALID_PBL_SHIFT",
        129 => "OCRDMA_MBX_STATUS_INVALID_SRQ_ID",
        130 => "OCRDMA_MBX_STATUS_QP_BOUND",
        133 => "OCRDMA_MBX_STATUS_SRQ_ERROR",
        134 => "OCRDMA_MBX_STATUS_RQE_EXCEEDS",
        135 => "OCRDMA_MBX_STATUS_MTU_EXCEEDS",
        136 => "OCRDMA_MBX_STATUS_MAX_QP_EXCEEDS",
        137 => "OCRDMA_MBX_STATUS_SRQ_LIMIT_EXCEEDS",
        138 => "OCRDMA_MBX_STATUS_SRQ_SIZE_UNDERUNS",
        139 => "OCRDMA_MBX_STATUS_INVALID_CHANGE",
        140 => "OCRDMA_MBX_STATUS_ATOMIC_OPS_UNSUP",
        141 => "OCRDMA_MBX_STATUS_INVALID_RNR_NAK_TIMER",
        142 => "OCRDMA_MBX_STATUS_MW_STILL_BOUND",
        143 => "OCRDMA_MBX_STATUS_PKEY_INDEX_INVALID",
        144 => "OCRDMA_MBX_STATUS_PKEY_INDEX_EXCEEDS",
        _ => $"mailbox status {status}",
    };

    /// <summary><c>ocrdma_get_mbx_errno</c>.</summary>
    public static string MbxErrno(byte status, byte additional) => status switch
    {
        100 or 136 => "EAGAIN",
        101 or 103 or 129 or 104 or 139 or 135 or 141 or 143 or 144 or 3 or 120 or 105 or 115 or 116 or 117 or 118 or 119
            or 140 or 133 or 138 => "EINVAL",
        102 or 130 or 142 or 114 => "EBUSY",
        109 or 112 or 134 or 137 or 106 or 107 or 108 or 110 or 111 => "ENOBUFS",
        // The kernel's switch falls through from FAILED into default, so FAILED is always -EFAULT
        // (the INSUFFICIENT_RESOURCES -> EAGAIN assignment is overwritten); we report what it returns.
        _ => "EFAULT",
    };

    public static string AdditionalStatusName(byte additional) => additional switch
    {
        0 => "none",
        AdditionalInsufficientResources => "OCRDMA_MBX_ADDI_STATUS_INSUFFICIENT_RESOURCES",
        _ => $"additional status {additional}",
    };

    /// <summary>be_cmds.h <c>enum mcc_base_status</c>: the bootstrap mailbox's completion status.</summary>
    public static string MccStatusName(uint status) => status switch
    {
        0 => "MCC_STATUS_SUCCESS",
        1 => "MCC_STATUS_FAILED",
        2 => "MCC_STATUS_ILLEGAL_REQUEST",
        3 => "MCC_STATUS_ILLEGAL_FIELD",
        4 => "MCC_STATUS_INSUFFICIENT_BUFFER",
        5 => "MCC_STATUS_UNAUTHORIZED_REQUEST",
        66 => "MCC_STATUS_NOT_SUPPORTED",
        68 => "MCC_STATUS_FEATURE_NOT_SUPPORTED",
        116 => "MCC_STATUS_INVALID_LENGTH",
        _ => $"MCC status {status}",
    };
}

/// <summary>A command the device failed or refused: which command, its status and the kernel's name for it.</summary>
public sealed class OcrdmaCommandException : RoceUio.Roce.RoceDeviceException
{
    public OcrdmaCommandException(string message, string command, uint completionStatus, uint extendedStatus, byte mbxStatus, byte additionalStatus)
        : base(message)
    {
        Command = command;
        CompletionStatus = completionStatus;
        ExtendedStatus = extendedStatus;
        MailboxStatus = mbxStatus;
        AdditionalStatus = additionalStatus;
    }

    public string Command { get; }
    public uint CompletionStatus { get; }
    public uint ExtendedStatus { get; }
    public byte MailboxStatus { get; }
    public byte AdditionalStatus { get; }
}
