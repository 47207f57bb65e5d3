import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalServers
import Logging
import MetricsPush
import Prometheus
import ServiceLifecycle
import Testing

/// The metrics pusher against a real Pushgateway.
@Suite("Metrics push", .timeLimit(.minutes(1)))
struct MetricsPushTests {
    func scrape(_ pushgateway: LocalPushgateway) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: pushgateway.url + "/metrics")!)
        return String(decoding: data, as: UTF8.self)
    }

    func registry() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(name: "zeek_mgmt_requests_total", labels: [("event", "deploy_request"), ("outcome", "success")]).increment(by: Int64(3))
        registry.makeGauge(name: "zeek_mgmt_nodes", labels: [("state", "RUNNING")]).set(Double(2))
        return registry
    }

    /// A Pushgateway URL may carry credentials (`http://user:pass@host`); what is logged of it,
    /// and the errors of a push, must not.
    @Test func credentialsInThePushgatewayURLAreNeverShown() async throws {
        let group = PushgatewayGroup(baseURL: "http://zeek:hunter2@127.0.0.1:1", job: "zeek-agent", instance: "agent-a")
        #expect(group.description == "http://[redacted]@127.0.0.1:1 job=zeek-agent instance=agent-a")
        #expect(group.url.hasPrefix("http://zeek:hunter2@127.0.0.1:1/metrics/"), "the request itself still authenticates")
        let client = PushgatewayClient(group: group, timeout: .seconds(2))
        let error = await #expect(throws: PushgatewayError.self) { try await client.push("x 1\n") }
        let text = try #require(error?.description)
        #expect(!text.contains("hunter2") && text.contains("[redacted]@127.0.0.1:1"), "\(text)")
    }

    @Test func pushedMetricsAppearWithGroupLabelsAndDeleteRemovesThem() async throws {
        let pushgateway = try await LocalPushgateway.start()
        defer { pushgateway.stop() }
        let client = PushgatewayClient(group: PushgatewayGroup(baseURL: pushgateway.url, job: "zeek-agent", instance: "agent-host/a"))
        let service = MetricsPushService(client: client, registry: registry(), interval: .seconds(1), logger: Logger(label: "test"))
        try await client.push(service.render())

        let metrics = try await scrape(pushgateway)
        #expect(metrics.contains(#"zeek_mgmt_requests_total{event="deploy_request",instance="agent-host/a",job="zeek-agent",outcome="success"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"zeek_mgmt_nodes{instance="agent-host/a",job="zeek-agent",state="RUNNING"} 2"#))

        try await client.delete()
        #expect(!(try await scrape(pushgateway)).contains("zeek_mgmt_requests_total"))
    }

    @Test func unreachablePushgatewayIsAClearError() async throws {
        let port = try freeLoopbackPort()
        let client = PushgatewayClient(group: PushgatewayGroup(baseURL: "http://127.0.0.1:\(port)", job: "j", instance: "i"), timeout: .seconds(2))
        let error = await #expect(throws: PushgatewayError.self) { try await client.push("x 1\n") }
        #expect(error?.description.contains("is the Pushgateway running at http://127.0.0.1:\(port)?") == true)
    }

    @Test func refusedPushReportsTheGatewaysAnswer() async throws {
        let pushgateway = try await LocalPushgateway.start()
        defer { pushgateway.stop() }
        let client = PushgatewayClient(group: PushgatewayGroup(baseURL: pushgateway.url, job: "j", instance: "i"))
        let error = await #expect(throws: PushgatewayError.self) { try await client.push("this is not { exposition format\n") }
        #expect(error?.description.contains("answered HTTP 400") == true, "\(String(describing: error))")
    }

    @Test func serviceKeepsPushingThroughAnOutageAndDeletesOnShutdown() async throws {
        let port = try freeLoopbackPort()
        let client = PushgatewayClient(group: PushgatewayGroup(baseURL: "http://127.0.0.1:\(port)", job: "zeek-agent", instance: "a1"), timeout: .seconds(1))
        let service = MetricsPushService(client: client, registry: registry(), interval: .milliseconds(200), logger: Logger(label: "test"))
        let group = ServiceGroup(configuration: .init(services: [service], logger: Logger(label: "test")))
        let running = Task { try await group.run() }

        // Down at first: the service keeps running; once the gateway is up, metrics arrive.
        try await Task.sleep(for: .milliseconds(500))
        let pushgateway = try await LocalPushgateway.start(port: port)
        defer { pushgateway.stop() }
        let deadline = ContinuousClock.now + .seconds(10)
        while !(try await scrape(pushgateway)).contains(#"instance="a1""#) {
            #expect(ContinuousClock.now < deadline, "metrics never arrived after the gateway came up")
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!(try await scrape(pushgateway)).contains(#"instance="a1""#), "the group is deleted on clean shutdown")
    }
}
