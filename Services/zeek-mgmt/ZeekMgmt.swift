import ArgumentParser
import Foundation
import ManagementMessaging
import ServiceRuntime

/// The operator's command-line client.
@main
struct ZeekMgmt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeek-mgmt",
        abstract: "Manage a Zeek cluster over Kafka, as zeek-client does over Broker.",
        subcommands: [Monitor.self]
    )
}

/// Streams the management conversation: every notification and controller request/response.
struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the events on the controller and notify topics until interrupted."
    )

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print each event as one line of envelope JSON instead of a readable summary.")
    var json = false

    func run() async throws {
        let settings = try common.resolve()
        let logger = settings.bootstrapLogging(label: "zeek-mgmt")
        let name = "zeek-mgmt-\(UUID().uuidString.prefix(8).lowercased())"
        let topics: [Topic] = [.controllerAPI] + Topic.apiTopics.map(\.notify)
        let endpoint = EndpointConfiguration(
            name: name,
            kafka: settings.kafkaConfiguration(clientID: name),
            namespace: settings.namespace,
            consumes: topics,
            membership: .fromEnd,
            addressing: .everything
        )
        let json = self.json
        try await runUntilTerminated([
            EndpointService(role: "zeek-mgmt monitor", configuration: endpoint, logger: logger) { _, message in
                let line: String
                if json {
                    line = String(decoding: message.kafkaMessage.value, as: UTF8.self)
                } else {
                    let target = message.head.target.map { " -> \($0)" } ?? ""
                    line = "[\(message.topic)] \(message.head.sender)\(target): \(message.event)"
                }
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            },
        ], logger: logger)
    }
}
