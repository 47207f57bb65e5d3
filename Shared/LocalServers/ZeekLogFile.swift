import Foundation

/// A Zeek log file as Zeek's ASCII writer writes it (`#` header lines, then tab-separated
/// fields; or one JSON object per line with `LogAscii::use_json`), read by tests and benchmarks
/// to see whether a node's log writes reached the logger.
public struct ZeekLogFile: Sendable {
    public let url: URL

    public init(_ url: URL) {
        self.url = url
    }

    /// Whether a line of `node` logged at or after `since` is in the file, for logs whose
    /// first two fields are `ts` and `node` (`cluster.log`, `reporter.log` style).
    public func hasLine(from node: String, since: Date) -> Bool {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let threshold = since.timeIntervalSince1970
        return text.split(separator: "\n").contains { line in
            if line.hasPrefix("{") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return false }
                return object["node"] as? String == node && ((object["ts"] as? Double) ?? 0) >= threshold
            }
            guard !line.hasPrefix("#") else { return false }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            return fields.count >= 3 && fields[1] == node && (Double(fields[0]) ?? 0) >= threshold
        }
    }

    /// Waits until ``hasLine(from:since:)`` holds, looking every 10 ms; false if `deadline` came first.
    public func waitForLine(from node: String, since: Date, until deadline: ContinuousClock.Instant) async throws -> Bool {
        while !hasLine(from: node, since: since) {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}
