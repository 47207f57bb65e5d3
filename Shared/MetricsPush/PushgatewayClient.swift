import CCurl
import KafkaTransport
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where an agent's metrics go: one Pushgateway group, `/metrics/job/<job>/instance/<instance>`.
public struct PushgatewayGroup: Sendable, Hashable, CustomStringConvertible {
    public var baseURL: String
    public var job: String
    public var instance: String

    public init(baseURL: String, job: String, instance: String) {
        self.baseURL = baseURL
        self.job = job
        self.instance = instance
    }

    /// The group's URL. Label values go in Pushgateway's base64 form, so any instance name
    /// (slashes included) is a valid path segment.
    public var url: String {
        "\(baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL)/metrics/job@base64/\(Self.base64URL(job))/instance@base64/\(Self.base64URL(instance))"
    }

    /// The base URL as it may be logged: without the credentials it may carry
    /// (`http://user:pass@pushgateway:9091`).
    public var shownBaseURL: String { Secrets.redactingUserinfo(in: baseURL) }

    public var description: String { "\(shownBaseURL) job=\(job) instance=\(instance)" }

    private static func base64URL(_ value: String) -> String {
        // Pushgateway's "@base64" encoding is RFC 4648 URL-safe base64; "=" stands for empty.
        guard !value.isEmpty else { return "=" }
        return Data(value.utf8).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_")
    }
}

/// Why a push did not succeed.
public struct PushgatewayError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Talks to a Prometheus Pushgateway over libcurl.
public struct PushgatewayClient: Sendable {
    public let group: PushgatewayGroup
    public let timeout: Duration

    public init(group: PushgatewayGroup, timeout: Duration = .seconds(5)) {
        self.group = group
        self.timeout = timeout
    }

    /// Replaces the group's metrics with `exposition` (Prometheus text format).
    public func push(_ exposition: String) async throws {
        try await request("PUT", body: exposition)
    }

    /// Removes the group, so a stopped agent leaves no stale metrics behind.
    public func delete() async throws {
        try await request("DELETE", body: nil)
    }

    private func request(_ method: String, body: String?) async throws {
        let url = group.url
        let milliseconds = Int(timeout.milliseconds)
        let outcome: (code: Int32, result: zm_http_result) = await withCheckedContinuation { continuation in
            // libcurl blocks; keep it off Swift's cooperative threads.
            OSThread.detach {
                var result = zm_http_result()
                let code: Int32 = if let body {
                    body.withCString { zm_http_request(method, url, $0, body.utf8.count, "text/plain; version=0.0.4", milliseconds, &result) }
                } else {
                    zm_http_request(method, url, nil, 0, nil, milliseconds, &result)
                }
                continuation.resume(returning: (code, result))
            }
        }
        var result = outcome.result
        guard outcome.code == 0 else {
            let reason = withUnsafeBytes(of: &result.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw PushgatewayError(description: "\(method) \(Secrets.redactingUserinfo(in: url)) failed: \(reason); is the Pushgateway running at \(group.shownBaseURL)?")
        }
        guard (200..<300).contains(result.status) else {
            let body = withUnsafeBytes(of: &result.body) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw PushgatewayError(description: "\(method) \(Secrets.redactingUserinfo(in: url)) answered HTTP \(result.status): \(body.split(whereSeparator: \.isNewline).joined(separator: " "))")
        }
    }
}
