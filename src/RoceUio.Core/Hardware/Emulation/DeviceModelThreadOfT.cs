namespace RoceUio.Hardware.Emulation;

/// <summary>A <see cref="DeviceModelThread"/> that keeps its model reachable (tests arm faults and read state through
/// <see cref="Model"/>); the model is disposed after its loop ended.</summary>
public sealed class DeviceModelThread<TModel>(string name, TModel model, Func<TModel, CancellationToken, int> run)
    : DeviceModelThread(name, stop => run(model, stop), model)
    where TModel : IDisposable
{
    public TModel Model { get; } = model;
}
