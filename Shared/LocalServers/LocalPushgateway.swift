import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Prometheus Pushgateway (Debian's `prometheus-pushgateway`) on a free loopback port,
/// keeping its metrics in memory only.
public final class LocalPushgateway: Sendable {
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    private let process: Process

    public static func start(port requestedPort: Int? = nil, timeout: Duration = .seconds(20)) async throws -> LocalPushgateway {
        let port = try requestedPort ?? freeLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-pushgateway")
        process.arguments = ["--web.listen-address=127.0.0.1:\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw LocalServerError("cannot start prometheus-pushgateway (run scripts/setup first?): \(error)")
        }
        let pushgateway = LocalPushgateway(port: port, process: process)
        let deadline = ContinuousClock.now + timeout
        while !isAcceptingConnections(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                pushgateway.stop()
                throw LocalServerError("prometheus-pushgateway did not start on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return pushgateway
    }

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitForExit()
    }

    deinit { stop() }
}
