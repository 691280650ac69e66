namespace RoceUio.Gids;

/// <summary>
/// The state of one slot of a <see cref="GidTable"/>, after the kernel's <c>enum gid_table_entry_state</c>
/// (drivers/infiniband/core/cache.c) plus the NULL <c>data_vec[i]</c> of a free slot.
/// </summary>
public enum GidEntryState
{
    /// <summary>No entry: the slot can take a new GID (<c>data_vec[i] == NULL</c>).</summary>
    Free = 0,

    /// <summary>A published entry: visible to find, query and enumeration (<c>GID_TABLE_ENTRY_VALID</c>).</summary>
    Valid = 1,

    /// <summary>
    /// Deleted while a holder (queue pair, address handle) still references it: invisible to readers, already
    /// deleted from the hardware, and the slot is not reused until the last <see cref="GidTable.Release"/>
    /// (<c>GID_TABLE_ENTRY_PENDING_DEL</c>).
    /// </summary>
    PendingDelete = 2,
}
