import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalPorts
import Logging
import MetricsDiscovery
import ServiceLifecycle
import Synchronization
import Testing

/// The discovery endpoint over a real loopback socket: what it answers, to what.
@Suite("Metrics discovery endpoint", .timeLimit(.minutes(1)))
struct MetricsDiscoveryServerTests {
    /// Runs the endpoint on a free loopback port with `content`, and `body` against its base URL.
    func serving(_ content: @escaping @Sendable () -> MetricsDiscoveryContent, _ body: (String) async throws -> Void) async throws {
        let port = try freeLoopbackPort()
        let server = try MetricsDiscoveryServer(settings: MetricsDiscoverySettings(host: nil, port: port), content: content,
                                                logger: Logger(label: "metrics-discovery-test"))
        let group = ServiceGroup(services: [server], logger: Logger(label: "metrics-discovery-test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(10)
            while !isAcceptingConnections(port: port) {
                guard ContinuousClock.now < deadline else { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(20))
            }
            do {
                try await body("http://127.0.0.1:\(port)")
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    func fetch(_ url: String, method: String = "GET", headers: [String: String] = [:]) async throws -> (status: Int, body: String, headers: [AnyHashable: Any]) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.allHeaderFields)
    }

    @Test func servesTheDocumentAtServicesJSON() async throws {
        let document = #"[{"labels":{"host":"agent-b","node":"worker-1","role":"worker"},"targets":["10.0.0.2:9000"]}]"#
        try await serving({ .targets(Array(document.utf8)) }) { base in
            let answer = try await fetch(base + "/services.json")
            #expect(answer.status == 200 && answer.body == document)
            #expect(answer.headers["Content-Type"] as? String == "application/json")
            // Prometheus may add a query string; it names the same resource.
            #expect(try await fetch(base + "/services.json?refresh=1").status == 200)
        }
    }

    @Test func refusesOtherPathsAndMethods() async throws {
        try await serving({ .targets(Array("[]".utf8)) }) { base in
            for path in ["/", "/metrics", "/services.json/x", "/v1/messages/json"] {
                let answer = try await fetch(base + path)
                #expect(answer.status == 404, "\(path): \(answer.status)")
            }
            for method in ["POST", "PUT", "DELETE", "HEAD"] {
                let answer = try await fetch(base + "/services.json", method: method)
                #expect(answer.status == 405, "\(method): \(answer.status)")
                #expect(answer.headers["Allow"] as? String == "GET")
            }
        }
    }

    @Test func answers503WhileTheControllerHasNoCurrentView() async throws {
        let content = Mutex(MetricsDiscoveryContent.unavailable("controller c stands by"))
        try await serving({ content.withLock { $0 } }) { base in
            var answer = try await fetch(base + "/services.json")
            #expect(answer.status == 503 && answer.body == "controller c stands by\n")
            // What the controller publishes next is what the next request gets.
            content.withLock { $0 = .targets(Array("[]".utf8)) }
            answer = try await fetch(base + "/services.json")
            #expect(answer.status == 200 && answer.body == "[]")
        }
    }

    @Test func closesAConnectionThatSendsTooMuch() async throws {
        try await serving({ .targets(Array("[]".utf8)) }) { base in
            let oversized = String(repeating: "x", count: 32 * 1024)
            let status = try? await fetch(base + "/services.json", headers: ["X-Padding": oversized]).status
            #expect(status != 200, "a request of 32 KiB is not answered with the document")
            let after = try await fetch(base + "/services.json").status
            #expect(after == 200, "and the endpoint serves on")
        }
    }

    @Test func refusesTLSFilesThatCannotBeRead() {
        var settings = MetricsDiscoverySettings(host: nil, port: 9)
        settings.tls = .init(certificate: "/nonexistent/cert.pem", key: "/nonexistent/key.pem", clientCA: nil)
        #expect(throws: MetricsDiscoverySetupError.self) {
            _ = try MetricsDiscoveryServer(settings: settings, content: { .targets([]) }, logger: Logger(label: "test"))
        }
    }
}
