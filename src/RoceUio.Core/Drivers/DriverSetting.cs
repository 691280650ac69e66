namespace RoceUio.Drivers;

/// <summary>
/// A per-device config key a driver takes (<c>{"driver": "mlx4", ..., "command_timeout_ms": 5000}</c>): an integer in
/// [<see cref="Min"/>, <see cref="Max"/>]. The config loader checks the key against the device's driver and the value
/// against the range, and hands the values to the driver in <see cref="DriverOpenContext.Settings"/>.
/// </summary>
public sealed record DriverSetting(string Key, string Description, long Min, long Max)
{
    /// <summary>A duration in milliseconds, 1 ms to 10 minutes.</summary>
    public static DriverSetting Milliseconds(string key, string description) => new(key, description, 1, 600_000);

    /// <summary>Null when <paramref name="value"/> is allowed, else what is wrong with it.</summary>
    public string? Check(long value)
        => value < Min || value > Max ? $"\"{Key}\" must be between {Min} and {Max}, got {value}" : null;
}
