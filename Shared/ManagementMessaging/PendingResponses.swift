import Synchronization

/// Matches responses to the requests waiting for them, by request id.
///
/// Every request/response exchange in the framework is correlated by `reqid`; a requester
/// registers the id *before* publishing (so a fast response cannot be missed), then awaits it
/// until a deadline. Responses nobody waits for (expired, or another client's) are reported as
/// undelivered so the caller can log or drop them.
///
/// A lock rather than an actor: a cancelled waiter must be released synchronously, from its
/// cancellation handler.
public final class PendingResponses<Response: Sendable>: Sendable {
    private struct State {
        var waiting: [String: CheckedContinuation<Response, any Error>] = [:]
        var early: [String: Response] = [:]
        var registered: Set<String> = []
    }

    private let state = Mutex(State())
    private let clock: any ManagementClock

    public init(clock: any ManagementClock = SystemClock()) {
        self.clock = clock
    }

    /// Announces that a response for `reqid` is expected.
    public func register(_ reqid: String) {
        _ = state.withLock { $0.registered.insert(reqid) }
    }

    /// Hands a response to its waiter. Returns false if no one expects `reqid`.
    @discardableResult
    public func deliver(_ response: Response, for reqid: String) -> Bool {
        let waiter: CheckedContinuation<Response, any Error>?? = state.withLock { state in
            if let continuation = state.waiting.removeValue(forKey: reqid) {
                state.registered.remove(reqid)
                return .some(continuation)
            }
            guard state.registered.contains(reqid) else { return nil }
            state.early[reqid] = response
            return .some(nil)
        }
        guard let waiter else { return false }
        waiter?.resume(returning: response)
        return true
    }

    /// Waits for the response to a registered `reqid`, throwing ``RequestTimeout`` at `deadline`.
    public func response(for reqid: String, until deadline: ContinuousClock.Instant) async throws -> Response {
        let started = clock.now
        return try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask { try await self.delivery(for: reqid) }
            group.addTask { [clock] in
                try await clock.sleep(until: deadline)
                throw RequestTimeout(reqid: reqid, timeout: deadline - started)
            }
            defer {
                group.cancelAll()
                abandon(reqid, with: CancellationError())
            }
            return try await group.next()!
        }
    }

    /// The response once delivered; a cancelled wait ends at once with `CancellationError`.
    private func delivery(for reqid: String) async throws -> Response {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let result: Result<Response, any Error>? = state.withLock { state in
                    if let response = state.early.removeValue(forKey: reqid) {
                        state.registered.remove(reqid)
                        return .success(response)
                    }
                    if Task.isCancelled || !state.registered.contains(reqid) { return .failure(CancellationError()) }
                    state.waiting[reqid] = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            abandon(reqid, with: CancellationError())
        }
    }

    /// Gives up on `reqid`: its waiter, if any, gets `error`, and a late response is not kept.
    private func abandon(_ reqid: String, with error: any Error) {
        let waiter = state.withLock { state in
            state.registered.remove(reqid)
            state.early.removeValue(forKey: reqid)
            return state.waiting.removeValue(forKey: reqid)
        }
        waiter?.resume(throwing: error)
    }
}

/// No response arrived for a request in time.
public struct RequestTimeout: Error, Sendable, CustomStringConvertible {
    public var reqid: String
    public var timeout: Duration

    public var description: String { "request \(reqid) timed out after \(timeout)" }
}
