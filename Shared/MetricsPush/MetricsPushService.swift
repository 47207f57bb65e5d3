import Logging
import Prometheus
import ServiceLifecycle

/// Pushes a registry's metrics to a Pushgateway group every `interval` until shutdown, then
/// deletes the group.
///
/// A Pushgateway that is down or refuses a push is logged (once per outage, and again when it
/// recovers) and retried at the next interval; it never stops the service that owns the metrics.
public struct MetricsPushService: Service {
    let client: PushgatewayClient
    let registry: PrometheusCollectorRegistry
    let interval: Duration
    let logger: Logger

    public init(client: PushgatewayClient, registry: PrometheusCollectorRegistry, interval: Duration, logger: Logger) {
        self.client = client
        self.registry = registry
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var failing = false
        logger.info("pushing metrics every \(interval) to \(client.group)")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await client.push(render())
                if failing { logger.notice("metrics push to \(client.group.shownBaseURL) works again") }
                failing = false
            } catch {
                if failing {
                    logger.debug("metrics push still failing: \(error)")
                } else {
                    logger.warning("metrics push failed, will retry every \(interval): \(error)")
                }
                failing = true
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
        }
        do {
            try await client.delete()
            logger.info("deleted metrics group \(client.group)")
        } catch {
            logger.warning("could not delete metrics group on shutdown: \(error)")
        }
    }

    /// The registry in the Prometheus text exposition format.
    public func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
