#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Lets a task wait until some state it cannot observe directly has changed (a node checked
/// in, an agent became ready), without polling.
///
/// The owner of the state calls ``signal()`` after every change; a waiter reads ``generation``
/// while it checks its condition and then waits for a newer one, so a change that happens in
/// between is never missed:
///
/// ```swift
/// while !condition() {
///     guard await changes.wait(after: changes.generation, until: deadline) else { return false }
/// }
/// ```
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Counts the changes so far.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every waiter.
    public func signal() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns true once a change after `generation` has happened, false at `deadline`.
    public func wait(after generation: UInt64, until deadline: ContinuousClock.Instant) async -> Bool {
        let id = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            self?.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        defer { timer.cancel() }
        await withCheckedContinuation { continuation in
            let changed = state.withLock { state in
                guard state.generation == generation, ContinuousClock.now < deadline else { return true }
                state.waiters[id] = continuation
                return false
            }
            if changed { continuation.resume() }
        }
        return self.generation != generation
    }

    /// Waits until `condition` holds, re-checking it after every change, or `deadline` passes.
    /// Returns whether it holds. `condition` runs on the caller's actor, so it may read its state.
    public func wait(until deadline: ContinuousClock.Instant, isolation: isolated (any Actor)? = #isolation, for condition: () -> Bool) async -> Bool {
        while true {
            let seen = generation
            if condition() { return true }
            guard ContinuousClock.now < deadline else { return false }
            _ = await wait(after: seen, until: deadline)
        }
    }
}
