import Foundation

/// Matches responses to the requests waiting for them, by request id.
///
/// Every request/response exchange in the framework is correlated by `reqid`; a requester
/// registers the id *before* publishing (so a fast response cannot be missed), then awaits it
/// with a deadline. Responses nobody waits for (expired, or another client's) are reported as
/// undelivered so the caller can log or drop them.
public actor PendingResponses<Response: Sendable> {
    private var waiting: [String: CheckedContinuation<Response, any Error>] = [:]
    private var early: [String: Response] = [:]
    private var registered: Set<String> = []

    public init() {}

    /// Announces that a response for `reqid` is expected.
    public func register(_ reqid: String) {
        registered.insert(reqid)
    }

    /// Hands a response to its waiter. Returns false if no one expects `reqid`.
    @discardableResult
    public func deliver(_ response: Response, for reqid: String) -> Bool {
        if let continuation = waiting.removeValue(forKey: reqid) {
            registered.remove(reqid)
            continuation.resume(returning: response)
            return true
        }
        guard registered.contains(reqid) else { return false }
        early[reqid] = response
        return true
    }

    /// Waits for the response to a registered `reqid`, throwing ``RequestTimeout`` after `timeout`.
    public func response(for reqid: String, timeout: Duration) async throws -> Response {
        if let response = early.removeValue(forKey: reqid) {
            registered.remove(reqid)
            return response
        }
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.expire(reqid, after: timeout)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiting[reqid] = continuation
        }
    }

    private func expire(_ reqid: String, after timeout: Duration) {
        registered.remove(reqid)
        waiting.removeValue(forKey: reqid)?.resume(throwing: RequestTimeout(reqid: reqid, timeout: timeout))
    }
}

/// No response arrived for a request in time.
public struct RequestTimeout: Error, Sendable, CustomStringConvertible {
    public var reqid: String
    public var timeout: Duration

    public var description: String { "request \(reqid) timed out after \(timeout)" }
}
