#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
            await self?.abandon(reqid, with: RequestTimeout(reqid: reqid, timeout: timeout))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    registered.remove(reqid)
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiting[reqid] = continuation
                }
            }
        } onCancel: {
            Task { await self.abandon(reqid, with: CancellationError()) }
        }
    }

    /// Gives up on `reqid`: its waiter, if any, gets `error`, and a late response is not kept.
    private func abandon(_ reqid: String, with error: any Error) {
        registered.remove(reqid)
        early.removeValue(forKey: reqid)
        waiting.removeValue(forKey: reqid)?.resume(throwing: error)
    }
}

/// No response arrived for a request in time.
public struct RequestTimeout: Error, Sendable, CustomStringConvertible {
    public var reqid: String
    public var timeout: Duration

    public var description: String { "request \(reqid) timed out after \(timeout)" }
}
