import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct LocalPortError: Error, CustomStringConvertible {
    public var description: String
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
    guard fd >= 0 else { throw LocalPortError(description: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = loopbackAddress(port: UInt16(port))
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw LocalPortError(description: "bind() to port \(port) failed: errno \(errno)") }
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
