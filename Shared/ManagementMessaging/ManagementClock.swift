#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The time every deadline, timeout and check-in age of the control plane is measured by.
///
/// Services take it as a parameter instead of reading the system clock, so that tests can
/// run a ten-second request timeout in microseconds by advancing a test clock, and see the
/// same code paths a real timeout takes. Deadlines stay `ContinuousClock.Instant`s; wall time
/// is kept beside them because envelopes carry their publish time as epoch seconds.
public protocol ManagementClock: Sendable {
    /// The current instant, for deadlines.
    var now: ContinuousClock.Instant { get }
    /// The current time as epoch seconds, as envelope timestamps (`ts`) count it.
    var wallTime: Double { get }
    /// Suspends until `deadline`; throws `CancellationError` if the task is cancelled first.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension ManagementClock {
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now + duration)
    }

    /// Runs `body` every `interval` (the first time after one interval) until the task is
    /// cancelled: a service's heartbeats, sweeps and periodic checks.
    public func repeatEvery(_ interval: Duration, _ body: () async -> Void) async {
        while (try? await sleep(for: interval)) != nil {
            await body()
        }
    }

    /// The local instant of a wall-clock time (epoch seconds), e.g. a request's deadline
    /// computed from the `ts` of its envelope.
    ///
    /// `time` comes from the wire and may be any JSON number (`1e300`, `-1e300`): the offset
    /// from now saturates at ``WallTimeOffset/limit`` either way (a NaN counts as now), so a
    /// hostile timestamp gives a deadline far in the past or the future, never a trap.
    public func instant(atWallTime time: Double) -> ContinuousClock.Instant {
        now + WallTimeOffset.duration(seconds: time - wallTime)
    }
}

/// A difference of wall-clock times taken from the wire, as a `Duration` that is safe to add.
public enum WallTimeOffset {
    /// How far from now a wall-clock time may place an instant, in seconds: about 31 years,
    /// beyond any deadline or age the control plane measures, and far inside what `Int64`
    /// milliseconds and `ContinuousClock.Instant` hold.
    public static let limit: Double = 1e9

    /// `seconds`, clamped to ±``limit``, rounded to milliseconds; NaN is zero.
    public static func duration(seconds: Double) -> Duration {
        guard !seconds.isNaN else { return .zero }
        let clamped = min(max(seconds, -limit), limit)
        // Exact: |clamped × 1000| ≤ 1e12 is an integer-valued Double well inside Int64.
        return .milliseconds(Int64((clamped * 1000).rounded()))
    }
}

/// The system's clocks: `ContinuousClock` for deadlines, `Date` for wall time.
public struct SystemClock: ManagementClock {
    public init() {}

    public var now: ContinuousClock.Instant { ContinuousClock.now }
    public var wallTime: Double { Date().timeIntervalSince1970 }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}
