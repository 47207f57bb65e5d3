#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import Synchronization

/// A clock that moves only when a test moves it, so a ten-second timeout takes no time and
/// happens exactly when the test says.
///
/// Wall time moves with it, so envelope timestamps, request deadlines and check-in ages all
/// agree. Tests that need to time out a wait first let the service reach it
/// (``waitForSleepers(_:)``), then ``advance(by:)``.
public final class TestClock: ManagementClock {
    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var elapsed: Duration = .zero
        var sleepers: [UUID: Sleeper] = [:]
        var sleeperWatchers: [(id: UUID, count: Int, continuation: CheckedContinuation<Void, Never>)] = []

        /// The watchers whose count of sleepers is reached, removed from the list.
        mutating func takeWatchers() -> [CheckedContinuation<Void, Never>] {
            let count = sleepers.count
            let ready = sleeperWatchers.filter { $0.count <= count }.map(\.continuation)
            sleeperWatchers.removeAll { $0.count <= count }
            return ready
        }
    }

    private let origin = ContinuousClock.now
    private let wallOrigin: Double
    private let state = Mutex(State())

    public init(wallTime: Double = Date().timeIntervalSince1970) {
        wallOrigin = wallTime
    }

    public var now: ContinuousClock.Instant { origin + state.withLock { $0.elapsed } }

    public var wallTime: Double { wallOrigin + state.withLock { $0.elapsed }.timeInterval }

    /// Tasks sleeping on this clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (result, watchers): (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                    if Task.isCancelled { return (.failure(CancellationError()), []) }
                    if origin + state.elapsed >= deadline { return (.success(()), []) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return (nil, state.takeWatchers())
                }
                watchers.forEach { $0.resume() }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward, waking every sleeper whose deadline came.
    public func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.elapsed += duration
            let now = origin + state.elapsed
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        due.forEach { $0.continuation.resume() }
    }

    /// Returns once at least `count` tasks sleep on this clock: the service under test has
    /// reached the waits a test is about to time out.
    public func waitForSleepers(_ count: Int = 1) async {
        await waitForSleepers(count, id: UUID())
    }

    /// ``waitForSleepers(_:)``, giving up after `limit` of real time: whether `count` tasks
    /// sleep on this clock. For a test that must fail, not hang, when the service under test
    /// never waits on its clock.
    public func waitForSleepers(_ count: Int = 1, within limit: Duration) async -> Bool {
        let id = UUID()
        let timeout = Task { [self] in
            try? await Task.sleep(for: limit)
            state.withLock { state in
                state.sleeperWatchers.firstIndex { $0.id == id }.map { state.sleeperWatchers.remove(at: $0) }
            }?.continuation.resume()
        }
        defer { timeout.cancel() }
        await waitForSleepers(count, id: id)
        return sleepers >= count
    }

    private func waitForSleepers(_ count: Int, id: UUID) async {
        await withCheckedContinuation { continuation in
            let reached = state.withLock { state in
                guard state.sleepers.count < count else { return true }
                state.sleeperWatchers.append((id, count, continuation))
                return false
            }
            if reached { continuation.resume() }
        }
    }
}
