#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// A dedicated thread that drives one librdkafka handle.
///
/// librdkafka delivers messages, delivery reports and rebalances only from inside its blocking
/// poll calls. Running those on Swift's small cooperative pool would starve other tasks, so each
/// client owns one real thread that blocks in poll (waking immediately when librdkafka has
/// something) and hands results to async code through continuations and streams.
///
/// A thread may also be held between iterations (a consumer whose reader has fallen behind
/// stops fetching): it then sleeps on its ``ThreadParking`` rather than polling, and
/// ``stop()`` wakes it, so a held thread still shuts down at once.
final class PollThread: Sendable {
    private struct State {
        var stopRequested = false
        var finished = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let parking: ThreadParking

    /// Starts `iteration` in a loop until ``stop()``, then runs `finish` on the same thread.
    ///
    /// - Parameters:
    ///   - parking: where the thread sleeps while `pausedWhile` holds; whoever makes
    ///     `pausedWhile` false calls its ``ThreadParking/wake()``.
    ///   - pausedWhile: checked before every iteration (under `parking`'s lock, so it must not
    ///     call ``ThreadParking/wake()``); while it returns true the thread sleeps.
    init(
        parking: ThreadParking = ThreadParking(),
        pausedWhile isPaused: @escaping @Sendable () -> Bool = { false },
        iteration: @escaping @Sendable () -> Void,
        finish: @escaping @Sendable () -> Void
    ) {
        self.parking = parking
        OSThread.detach { [self] in
            while true {
                parking.wait { !isStopping && isPaused() }
                if isStopping { break }
                iteration()
            }
            finish()
            let waiters = state.withLock { state in
                state.finished = true
                return state.waiters
            }
            waiters.forEach { $0.resume() }
        }
    }

    var isStopping: Bool { state.withLock { $0.stopRequested } }

    /// Asks the loop to stop after its current iteration (or at once, if it is paused) and
    /// waits until `finish` has run.
    func stop() async {
        await withCheckedContinuation { continuation in
            let alreadyFinished = state.withLock { state in
                state.stopRequested = true
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if alreadyFinished { continuation.resume() }
            // After the flag is set, so that a paused loop re-checks and sees it.
            parking.wake()
        }
    }
}

/// Runs one blocking call (metadata, admin requests, watermark queries) on its own thread.
///
/// With `abandonOnCancel`, cancelling the caller returns at once with `CancellationError` and
/// leaves the call to finish on its thread; only for work that owns everything it touches
/// (so shutdown is not held up by a broker that does not answer).
func runBlocking<T: Sendable>(abandonOnCancel: Bool = false, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    guard abandonOnCancel else {
        return try await withCheckedThrowingContinuation { continuation in
            OSThread.detach { continuation.resume(with: Result { try body() }) }
        }
    }
    let pending = Mutex<CheckedContinuation<T, any Error>?>(nil)
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            pending.withLock { $0 = continuation }
            if Task.isCancelled {
                pending.withLock { $0.take() }?.resume(throwing: CancellationError())
                return
            }
            OSThread.detach {
                let result = Result { try body() }
                pending.withLock { $0.take() }?.resume(with: result)
            }
        }
    } onCancel: {
        pending.withLock { $0.take() }?.resume(throwing: CancellationError())
    }
}
