import Foundation
import KafkaTransport
import LocalServers
import Logging

let testLogger: Logger = {
    var logger = Logger(label: "kafka-transport-tests")
    logger.logLevel = .warning
    return logger
}()

func configuration(_ broker: LocalBroker, _ overrides: [String: String] = [:]) -> KafkaConfiguration {
    KafkaConfiguration(bootstrapServers: [broker.address], clientID: "tests", overrides: LocalBroker.clientOptions.merging(overrides) { $1 })
}

struct TestTimeout: Error, CustomStringConvertible {
    var description: String
}

/// The first `count` elements of `sequence`, or a failure after `timeout`.
func first<S: AsyncSequence & Sendable>(_ count: Int, of sequence: S, within timeout: Duration = .seconds(20)) async throws -> [S.Element]
where S.Element: Sendable {
    try await withThrowingTaskGroup(of: [S.Element].self) { group in
        group.addTask {
            var collected: [S.Element] = []
            for try await element in sequence {
                collected.append(element)
                if collected.count == count { break }
            }
            return collected
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestTimeout(description: "fewer than \(count) elements within \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
