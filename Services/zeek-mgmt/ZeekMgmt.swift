import ArgumentParser
import Foundation
import ManagementKafka
import ManagementMessaging
import ServiceLifecycle
import ServiceRuntime

/// The operator's command-line client: zeek-client's commands, over Kafka.
@main
struct ZeekMgmt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeek-mgmt",
        abstract: "Manage a Zeek cluster over Kafka, as zeek-client does over Broker.",
        discussion: """
            Commands, arguments, output and exit codes are zeek-client's; cluster configuration \
            files in zeek-client's INI format work unchanged. Kafka is reached with --brokers \
            (env ZEEK_MGMT_BROKERS), or [kafka] brokers in a settings file (-c).
            """,
        version: "1.5.0",
        subcommands: [
            DeployConfig.self, Deploy.self, Enroll.self, GetConfig.self, GetEnrollments.self, GetIDValue.self, GetInstances.self, GetNodes.self,
            Keygen.self, Monitor.self, Restart.self, ShowSettings.self, StageConfig.self, TestTimeout.self, ZeroMQKeys.self,
        ]
    )
}

/// Streams the management conversation: every notification and controller request/response.
struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the events on the controller and notify topics until interrupted."
    )

    @OptionGroup var options: ClientOptions

    @Flag(help: "Print each event as one line of envelope JSON instead of a readable summary.")
    var json = false

    func run() async throws {
        let settings = try options.resolve(quietestLogLevel: .notice)
        let logger = settings.service.bootstrapLogging(label: "zeek-mgmt")
        let name = "zeek-mgmt-\(UUID().uuidString.prefix(8).lowercased())"
        let topics: [Topic] = [.controllerAPI] + Topic.apiTopics.map(\.notify)
        let endpoint = EndpointConfiguration(
            name: name,
            kafka: settings.service.kafkaConfiguration(clientID: name),
            namespace: settings.service.namespace,
            consumes: topics.map(\.whole),
            membership: .fromEnd,
            addressing: .everything,
            security: settings.service.security(.client)
        )
        try await runUntilTerminated([
            EndpointService(role: "zeek-mgmt monitor", configuration: endpoint, logger: logger, serving: MessagePrinter(json: json)),
        ], logger: logger)
    }
}

/// Prints every message on the topics it reads: one line each, or the envelope's JSON.
struct MessagePrinter: BusService {
    let json: Bool

    func run(on bus: any MessageBus) async throws {
        await cancelWhenGracefulShutdown {
            for await message in bus.inbound {
                let line: String
                if json {
                    line = String(decoding: message.record.value, as: UTF8.self)
                } else {
                    let target = message.head.target.map { " -> \($0)" } ?? ""
                    line = "[\(message.topic)] \(message.head.sender)\(target): \(message.event)"
                }
                Console.output(line)
            }
        }
    }
}
