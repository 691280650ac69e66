using RoceUio.Diagnostics;

namespace RoceUio.Roce;

/// <summary>
/// The one owner of "what the hardware of one port must still be told": whether the port has changes its driver has
/// not pushed (a burst's adds and deletes, or a push that was refused or timed out), since when, why it is behind,
/// and when to try again. The GID manager marks it, pushes the ports that are due at the end of each burst, and
/// retries a failed push with backoff (<see cref="FirstRetryMs"/> doubling to <see cref="MaxRetryMs"/>) until the
/// hardware holds exactly the core table. Nothing is rolled back: the core table is what the hardware must hold.
/// A push can be in flight (<see cref="InFlight"/>: handed to the device's programmer thread, no answer yet): no other
/// push of the port starts until it is answered, changes made meanwhile wait for the next one, and a push unanswered
/// for <see cref="StuckAfterMs"/> shows the port behind (<see cref="IsBehind"/>) while the device holds the command.
/// Used only on the manager's worker thread.
/// </summary>
public sealed class PortSync
{
    /// <summary>The first retry after a failed push, in milliseconds.</summary>
    public const int FirstRetryMs = 10;

    /// <summary>The longest wait between retries, in milliseconds.</summary>
    public const int MaxRetryMs = 5000;

    private int _backoffMs;

    /// <summary>The longest spacing of paced pushes within one burst: it bounds how long after a burst's last event
    /// the last push comes (issue 17: converged within 20 ms), at the price of one push per 16 ms in a long burst.</summary>
    public const int MaxPaceMs = 16;

    /// <summary>A push unanswered this long shows the port behind its core table (a device that holds the command).</summary>
    public const int StuckAfterMs = 1000;

    // The pacing (issue 17, burst latency against pushes). _inForceMs: the spacing the last push set (the next paced
    // push comes no earlier than _lastPushMs + _inForceMs); _paceMs: the spacing the next push sets. The spacing
    // doubles only on a push that comes a millisecond or more after the first change it carries (changes were held
    // back: by the spacing, or behind the push in flight, so a burst is on), never on a change pushed as it came; and
    // every millisecond the port spends clean (nothing unpushed) halves it again, so a port clean for longer than its
    // spacing starts from 1 ms: single changes, however close, are never paced like a burst.
    private int _paceMs = 1;
    private int _inForceMs;
    private bool _changedInFlight;
    private long _changedInFlightMs;
    private long _lastPushMs = long.MinValue / 2;
    private long _cleanSinceMs = long.MinValue / 2; // when the last push left the port clean
    private long _nextPacedMs;
    private int _changesSincePush;

    /// <summary>Changes (or a failed push) wait for a successful push.</summary>
    public bool NeedsPush { get; private set; }

    /// <summary>When the oldest unpushed change was made (ms, <see cref="GidManager.Clock"/>); meaningful while
    /// <see cref="NeedsPush"/>.</summary>
    public long DirtySinceMs { get; private set; }

    /// <summary>When the first push of the current run of failures failed (ms), or -1 while in sync or not yet failed.</summary>
    public long OutOfSyncSinceMs { get; private set; } = -1;

    /// <summary>Why the last push failed (the driver's message); null while pushes succeed.</summary>
    public string? Why { get; private set; }

    /// <summary>Failed pushes in the current run of failures.</summary>
    public int FailedAttempts { get; private set; }

    /// <summary>When the next retry is due (ms); meaningful while <see cref="IsOutOfSync"/>.</summary>
    public long NextAttemptMs { get; private set; }

    /// <summary>Pushes that failed since the start (each retry that fails counts).</summary>
    public long Failures { get; private set; }

    /// <summary>Pushes that reached the hardware.</summary>
    public long Pushes { get; private set; }

    /// <summary>A push failed and the port is behind until a retry succeeds.</summary>
    public bool IsOutOfSync => OutOfSyncSinceMs >= 0;

    /// <summary>A push was handed to the device and has had no answer yet (since <see cref="InFlightSinceMs"/>).</summary>
    public bool InFlight { get; private set; }

    /// <summary>When the push in flight started (ms); meaningful while <see cref="InFlight"/>.</summary>
    public long InFlightSinceMs { get; private set; }

    /// <summary>Whether the port shows behind its core table at <paramref name="nowMs"/>: its last push failed, or the
    /// push in flight has had no answer for <see cref="StuckAfterMs"/>.</summary>
    public bool IsBehind(long nowMs) => IsOutOfSync || (InFlight && nowMs - InFlightSinceMs >= StuckAfterMs);

    /// <summary>Since when the port is behind (ms), for <see cref="IsBehind"/> ports.</summary>
    public long BehindSinceMs => IsOutOfSync ? OutOfSyncSinceMs : InFlightSinceMs;

    /// <summary>Why the port is behind at <paramref name="nowMs"/>, for <see cref="IsBehind"/> ports.</summary>
    public string WhyBehind(long nowMs)
        => !InFlight ? Why ?? "a push failed"
         : $"the push sent {nowMs - InFlightSinceMs} ms ago has had no answer (the device holds the command)"
           + (Why is null ? "" : $"; the push before it failed: {Why}");

    /// <summary>The core table changed (or the driver was told something) at <paramref name="nowMs"/>.</summary>
    public void MarkChanged(long nowMs)
    {
        _changesSincePush++;
        if (InFlight)
        {
            // The change waits for the push after the one in flight.
            if (!_changedInFlight)
                _changedInFlightMs = nowMs;
            _changedInFlight = true;
            return;
        }
        if (!NeedsPush)
        {
            PushTrace.Mark(PushTrace.Changed, (int)(nowMs - _nextPacedMs));
            DirtySinceMs = nowMs;
            Relax(nowMs - _cleanSinceMs);
        }
        NeedsPush = true;
    }

    /// <summary>The port was clean for <paramref name="quietMs"/> before a change: each quiet millisecond halves the
    /// spacing (the one in force and the next); one quiet for longer than its spacing starts a new burst from 1 ms,
    /// due at once.</summary>
    private void Relax(long quietMs)
    {
        if (quietMs <= 0)
            return;                // a change right behind a push: the same burst
        int shift = (int)Math.Min(quietMs, 31);
        _inForceMs >>= shift;
        _paceMs = Math.Max(1, _paceMs >> shift);
        _nextPacedMs = _lastPushMs + _inForceMs;
    }

    /// <summary>
    /// The netlink path's rule (burst latency against pushes): push when the socket is drained or the oldest unpushed
    /// change is 1 ms old, but within one burst leave at least 1, 1, 2, 4, ... ms (up to <see cref="MaxPaceMs"/>)
    /// between pushes. A burst of D ms then costs about 2 + log2(D) pushes up to 16 ms, then one per 16 ms, and its
    /// first write comes at its first event (drained) or within about 1 ms of it. A change to a port that has been
    /// clean for a while is pushed at once (<see cref="MarkChanged"/> relaxes the spacing by the quiet time).
    /// </summary>
    public bool IsPacedDue(long nowMs, bool drained)
        => IsDue(nowMs) && nowMs >= _nextPacedMs && (drained || nowMs - DirtySinceMs >= 1);

    /// <summary>When a paced push can next happen (ms), for the worker's wait; long.MaxValue when clean.</summary>
    public long NextPacedPushMs => !NeedsPush || InFlight ? long.MaxValue : IsOutOfSync ? Math.Max(NextAttemptMs, _nextPacedMs) : _nextPacedMs;

    /// <summary>A push was attempted at <paramref name="nowMs"/> (paced or not): space the next one. It is in flight
    /// until <see cref="PushSucceeded"/> or <see cref="PushFailed"/>.</summary>
    public void Pushed(long nowMs)
    {
        InFlight = true;
        InFlightSinceMs = nowMs;
        _changedInFlight = false;
        // Its changes waited and there were more than an add and a delete's worth of them: a burst is on. A push of
        // one or two changes that waited (a delete, then the next add, 1-3 ms apart) is not a burst: doubling there
        // ratcheted the spacing to 16 ms for a slow steady stream (traced: every add waited 13-14 ms).
        bool heldBack = nowMs > DirtySinceMs && _changesSincePush > 2;
        _changesSincePush = 0;
        _lastPushMs = nowMs;
        _inForceMs = _paceMs;
        _nextPacedMs = nowMs + _inForceMs;
        if (heldBack)
            _paceMs = Math.Min(MaxPaceMs, _paceMs * 2);
    }

    /// <summary>The driver refused something it was told outside a push (a delete it could not apply): push again.</summary>
    public void MarkBehind(long nowMs, string why)
    {
        MarkChanged(nowMs);
        Why ??= why;
    }

    /// <summary>Whether a push is due at <paramref name="nowMs"/>: changes wait, and a failed port's backoff has passed.</summary>
    public bool IsDue(long nowMs) => NeedsPush && !InFlight && (!IsOutOfSync || nowMs >= NextAttemptMs);

    /// <summary>The push in flight reached the hardware at <paramref name="nowMs"/>: the port is in sync (clean since
    /// then), unless changes were made while it was in flight (they wait for the next push, dirty since the first of
    /// them).</summary>
    public void PushSucceeded(long nowMs)
    {
        InFlight = false;
        NeedsPush = _changedInFlight;
        if (_changedInFlight)
            DirtySinceMs = _changedInFlightMs;
        else
            _cleanSinceMs = nowMs;
        _changedInFlight = false;
        OutOfSyncSinceMs = -1;
        Why = null;
        FailedAttempts = 0;
        _backoffMs = 0;
        Pushes++;
    }

    /// <summary>The push failed at <paramref name="nowMs"/>: stay dirty, retry after the next backoff step.</summary>
    public void PushFailed(long nowMs, string why)
    {
        InFlight = false;
        _changedInFlight = false; // NeedsPush stays true: the retry carries them
        if (!IsOutOfSync)
            OutOfSyncSinceMs = nowMs;
        Why = why;
        FailedAttempts++;
        Failures++;
        _backoffMs = _backoffMs == 0 ? FirstRetryMs : Math.Min(MaxRetryMs, _backoffMs * 2);
        NextAttemptMs = nowMs + _backoffMs;
    }
}
