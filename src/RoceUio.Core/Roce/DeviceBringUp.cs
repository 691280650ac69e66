using RoceUio.Hardware;

namespace RoceUio.Roce;

/// <summary>
/// The error rule every driver's bring-up and teardown follows (docs/driver-guide.md section 5), so that a family keeps
/// only its command order: a bring-up that fails half-way tears down what it started and rethrows the first error
/// (<see cref="StartOrTearDown"/>); a teardown goes on after a failed step, as the kernel's remove paths do, and throws
/// the failures together at the end (<see cref="TearDownSteps"/>). "Failed" means the device refused or could not be
/// reached: <see cref="RoceDeviceException"/> or <see cref="HardwareAccessException"/>; anything else is a bug and passes.
/// </summary>
public static class DeviceBringUp
{
    /// <summary>True for the errors a device gives (refused, timed out, unreachable).</summary>
    public static bool IsDeviceError(Exception e) => e is RoceDeviceException or HardwareAccessException;

    /// <summary>
    /// Runs <paramref name="start"/>; if it fails with a device error, runs <paramref name="tearDown"/> (which must undo
    /// only what was started) and rethrows that error unchanged. A teardown that fails too gives one
    /// <see cref="RoceDeviceException"/> with both messages, the bring-up error as its inner exception.
    /// </summary>
    public static void StartOrTearDown(Action start, Action tearDown)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(tearDown);
        try
        {
            start();
        }
        catch (Exception e) when (IsDeviceError(e))
        {
            try
            {
                tearDown();
            }
            catch (Exception down) when (IsDeviceError(down))
            {
                throw new RoceDeviceException($"{e.Message}; tearing down again failed too: {down.Message}", e);
            }
            throw;
        }
    }
}

/// <summary>
/// The steps of one teardown: each <see cref="Run"/> runs a step and keeps its device error instead of stopping;
/// <see cref="ThrowIfFailed"/> throws them together (<c>DEV: shutting down: A; B</c>). One per teardown call.
/// </summary>
public sealed class TearDownSteps(string deviceName)
{
    private readonly List<string> _errors = new();

    /// <summary>True once a step failed.</summary>
    public bool Failed => _errors.Count > 0;

    /// <summary>Runs <paramref name="step"/>; a device error is kept and the teardown goes on. True when it succeeded
    /// (a step that follows from this one can then run).</summary>
    public bool Run(Action step)
    {
        try
        {
            step();
            return true;
        }
        catch (Exception e) when (DeviceBringUp.IsDeviceError(e))
        {
            _errors.Add(e.Message);
            return false;
        }
    }

    /// <summary>Throws the kept failures as one <see cref="RoceDeviceException"/>, with <paramref name="consequence"/>
    /// after them (what the failure leaves behind), or does nothing when every step succeeded.</summary>
    public void ThrowIfFailed(string? consequence = null)
    {
        if (_errors.Count > 0)
            throw new RoceDeviceException($"{deviceName}: shutting down: {string.Join("; ", _errors)}{(consequence is null ? "" : "; " + consequence)}");
    }
}
