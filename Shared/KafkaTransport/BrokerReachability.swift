#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether any bootstrap broker can be reached at all, asked with plain TCP connects before a
/// client is made: librdkafka reports a broker that refuses or does not exist only after its
/// whole metadata timeout, and a person at a terminal should learn in a moment that no broker
/// is there. It proves nothing more than a listening socket; the client's own connection
/// (TLS, SASL) follows as before.
public enum BrokerReachability {
    /// Returns when one of `servers` (`host:port`, `[v6]:port`, optionally `SCHEME://`)
    /// accepts a connection within `limit`; else throws `.unreachable` with why, e.g.
    /// "no broker answered (Connection refused)".
    public static func requireOne(of servers: [String], within limit: Duration) async throws {
        let found: String? = try await runBlocking { Self.problem(servers, within: limit) }
        if let found { throw KafkaError(.unreachable, "no broker answered (\(found))") }
    }

    /// Why none of `servers` accepts a connection within `limit`; nil when one does.
    static func problem(_ servers: [String], within limit: Duration) -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var reasons: [String] = []
        // Every socket still open, closed once on the way out (never twice: a closed number may
        // already be another thread's).
        var opened: [Int32] = []
        defer { opened.forEach { _ = close($0) } }
        var pending: [Int32] = []
        for server in servers {
            guard let (host, port) = split(server) else {
                reasons.append("\(server) is not host:port")
                continue
            }
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, port, &hints, &found) == 0, let first = found else {
                reasons.append("the broker's host name \(host) does not resolve")
                continue
            }
            defer { freeaddrinfo(first) }
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let address = cursor {
                cursor = address.pointee.ai_next
                let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else { continue }
                opened.append(fd)
                if connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return nil }
                if errno == EINPROGRESS {
                    pending.append(fd)
                } else {
                    reasons.append(String(cString: strerror(errno)))
                }
            }
        }
        // Connections under way: the first to complete settles it.
        while !pending.isEmpty {
            let left = deadline - clock.now
            guard left > .zero else { return "no answer within \(limit)" }
            var polls = pending.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
            let ready = poll(&polls, nfds_t(polls.count), Int32(clamping: left.milliseconds))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return "no answer within \(limit)" }
            var still: [Int32] = []
            for entry in polls {
                guard entry.revents != 0 else {
                    still.append(entry.fd)
                    continue
                }
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 { return nil }
                reasons.append(String(cString: strerror(error)))
            }
            pending = still
        }
        return reasons.first ?? "no bootstrap servers given"
    }

    /// Host and port of `host:port`, `[v6]:port` or `SCHEME://host:port`.
    static func split(_ server: String) -> (host: String, port: String)? {
        var text = Substring(server)
        if let scheme = text.firstRange(of: "://") { text = text[scheme.upperBound...] }
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = text[..<colon]
        let port = text[text.index(after: colon)...]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !port.isEmpty, port.allSatisfy(\.isNumber) else { return nil }
        return (String(host), String(port))
    }
}
