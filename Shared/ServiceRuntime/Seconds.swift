/// Intervals that operators give in seconds (flags, settings files), as `Duration`s.
public enum Seconds {
    /// The longest interval accepted: a year. Anything longer is surely a typo, and a value such
    /// as `1e300` or `inf` would not fit the milliseconds a `Duration` is made from.
    public static let maximum: Double = 31_536_000

    /// `seconds` as a `Duration` (to the millisecond) if it is a positive number of seconds up
    /// to ``maximum`` — or zero, with `allowingZero` — else nil.
    public static func duration(_ seconds: Double, allowingZero: Bool = false) -> Duration? {
        guard seconds.isFinite, seconds <= maximum, allowingZero ? seconds >= 0 : seconds > 0 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// What to say about a value ``duration(_:allowingZero:)`` refused.
    public static func problem(_ name: String, allowingZero: Bool = false) -> String {
        "\(name) must be a \(allowingZero ? "non-negative" : "positive") number of seconds, at most \(Int(maximum)) (a year)"
    }
}
