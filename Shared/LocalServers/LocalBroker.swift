import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway Kafka-compatible broker (Tansu, in-memory) on a free loopback port, started
/// through `scripts/broker run` so there is one place that knows how to launch it.
///
/// Used by the tests (one broker each, so they never share state) and the benchmark.
public final class LocalBroker: Sendable {
    public let port: Int
    public var address: String { "127.0.0.1:\(port)" }
    private let process: Process
    private let logURL: URL

    /// The repository root, found from this file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts a broker and returns once it accepts connections.
    public static func start(port requestedPort: Int? = nil, timeout: Duration = .seconds(20)) async throws -> LocalBroker {
        let port = try requestedPort ?? freeLoopbackPort()
        let script = repositoryRoot.appendingPathComponent("scripts/broker")
        let runDirectory = repositoryRoot.appendingPathComponent(".run")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let logURL = runDirectory.appendingPathComponent("broker-\(port).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)

        let process = Process()
        process.executableURL = script
        process.arguments = ["run", String(port)]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let broker = LocalBroker(port: port, process: process, logURL: logURL)

        let deadline = ContinuousClock.now + timeout
        while !isAcceptingConnections(port: port) {
            guard process.isRunning else {
                let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                throw LocalServerError("broker exited during start-up (run scripts/setup first?):\n\(output)")
            }
            guard ContinuousClock.now < deadline else {
                broker.stop()
                throw LocalServerError("broker did not accept connections on port \(port) within \(timeout); see \(logURL.path)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return broker
    }

    private init(port: Int, process: Process, logURL: URL) {
        self.port = port
        self.process = process
        self.logURL = logURL
    }

    /// Stops the broker (SIGTERM, then SIGKILL), waits for it to exit and removes its log.
    /// Its data is gone.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<50 where process.isRunning { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitForExit()
        try? FileManager.default.removeItem(at: logURL)
    }

    deinit { stop() }
}

public struct LocalServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Taken from below the kernel's ephemeral range where there is room: a port from that range
/// can be given to any outgoing connection (a Kafka client of another test, say) between this
/// check and the server binding it, or between a server's stop and its restart on the same port.
public func freeLoopbackPort() throws -> Int {
    let ephemeralStart = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
        .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32768
    if ephemeralStart > 12_000 {
        for _ in 0..<100 {
            let port = Int.random(in: 10_000..<ephemeralStart)
            if let bound = try? bindLoopback(port: port) { return bound }
        }
    }
    return try bindLoopback(port: 0)
}

/// Binds 127.0.0.1:`port` (0 = any) for a moment and returns the port that was bound.
private func bindLoopback(port: Int) throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LocalServerError("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = loopbackAddress(port: UInt16(port))
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw LocalServerError("bind() to port \(port) failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func isAcceptingConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = loopbackAddress(port: UInt16(port))
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

private func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}
