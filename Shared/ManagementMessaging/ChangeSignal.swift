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
/// await changes.wait(until: deadline) { condition() }
/// ```
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())
    /// What deadlines are measured by.
    public let clock: any ManagementClock

    public init(clock: any ManagementClock = SystemClock()) {
        self.clock = clock
    }

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

    /// Returns true once a change after `generation` has happened, false at `deadline` (or
    /// when the task is cancelled).
    public func wait(after generation: UInt64, until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.change(after: generation) }
            group.addTask { [clock] in try? await clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
        return self.generation != generation
    }

    /// Returns once a change after `generation` has happened, or the task is cancelled.
    private func change(after generation: UInt64) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let changed = state.withLock { state in
                    guard state.generation == generation, !Task.isCancelled else { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if changed { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Waits until `condition` holds, re-checking it after every change, or `deadline` passes.
    /// Returns whether it holds. `condition` runs on the caller's actor, so it may read its state.
    public func wait(until deadline: ContinuousClock.Instant, isolation: isolated (any Actor)? = #isolation, for condition: () -> Bool) async -> Bool {
        while true {
            let seen = generation
            if condition() { return true }
            guard clock.now < deadline, !Task.isCancelled else { return false }
            _ = await wait(after: seen, until: deadline)
        }
    }
}
