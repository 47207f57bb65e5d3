#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import KafkaTransport
import Logging
import ManagementKafka
import ManagementMessaging
import ServiceLifecycle

/// Runs a ``BusService`` (the controller, an agent, a supervisor) on a Kafka endpoint as a
/// lifecycle service: connects (retrying while Kafka is unreachable), reports ready, runs the
/// service until it ends or the ServiceGroup shuts down gracefully, then leaves Kafka cleanly
/// (committing what was handled) before the process exits.
public struct EndpointService: Service {
    let configuration: EndpointConfiguration
    let logger: Logger
    let role: String
    let service: any BusService

    /// - Parameter role: what the process is, for log lines (e.g. `controller-service`).
    public init(role: String, configuration: EndpointConfiguration, logger: Logger, serving service: any BusService) {
        self.role = role
        self.configuration = configuration
        self.logger = logger
        self.service = service
    }

    public func run() async throws {
        if case .unsignedInsecure = configuration.security {
            logger.critical("\(role) runs UNSIGNED (--insecure-unsigned): it neither signs nor verifies messages, so anyone who can write to Kafka commands it. Use this only to measure what signing costs.")
        }
        guard let endpoint = try await connect() else { return }
        logger.notice("\(role) ready", metadata: [
            "name": "\(configuration.name)",
            "brokers": "\(configuration.kafka.bootstrapServers.joined(separator: ","))",
            "consumes": "\((configuration.consumes + configuration.follows).map { reading in configuration.namespace.kafkaName(reading.topic) + (reading.key.map { "[partition of \($0)]" } ?? "") }.joined(separator: ","))",
        ])
        do {
            try await service.run(on: endpoint)
        } catch {
            logger.error("\(role) failed: \(error)")
            await endpoint.shutdown()
            throw error
        }
        logger.info("\(role) shutting down")
        await endpoint.shutdown()
        logger.info("\(role) stopped")
    }

    /// Connects, retrying with a growing pause until it works or shutdown is requested.
    private func connect() async throws -> ManagementEndpoint? {
        logger.info("connecting to Kafka at \(configuration.kafka.bootstrapServers.joined(separator: ","))")
        var attempt = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            attempt += 1
            do {
                return try await cancelWhenGracefulShutdown { [configuration, logger] in
                    try await ManagementEndpoint.connect(configuration, logger: logger)
                }
            } catch where Task.isCancelled || Task.isShuttingDownGracefully {
                return nil
            } catch let error as KafkaError where error.kind == .configuration || error.kind == .unsupportedLibrary {
                // Retrying cannot fix a rejected property or an unusable library.
                logger.critical("\(error)")
                throw error
            } catch {
                let pause = min(attempt, 5)
                let whatToCheck = (error as? KafkaError)?.whatToCheck ?? "Check --brokers and that the broker is running."
                logger.warning("cannot connect to Kafka at \(configuration.kafka.bootstrapServers.joined(separator: ",")) (attempt \(attempt)): \(error); retrying in \(pause) s. \(whatToCheck)")
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(pause)) }
                } catch {
                    return nil
                }
            }
        }
        return nil
    }
}

/// Runs `services` until SIGTERM or SIGINT, then shuts them down gracefully.
public func runUntilTerminated(_ services: [any Service], logger: Logger) async throws {
    try LibrdkafkaVersion.requireSupported()
    let group = ServiceGroup(configuration: .init(
        // A service that ends by itself (a supervisor told to stop) ends the process.
        services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    ))
    try await group.run()
    // Everything is stopped, flushed and committed. Leave without atexit handlers: they tear
    // down library state (OpenSSL's, libcurl's) that background threads of librdkafka may still
    // touch while winding down, which can hang a process that has already said "stopped".
    fflush(nil)
    _exit(0)
}
