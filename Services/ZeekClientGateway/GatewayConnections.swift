import NIOCore
import NIOWebSocket
import Synchronization

/// What is to be sent to one client, bounded: a client that does not read its responses is
/// disconnected instead of growing the gateway's memory.
final class OutboundQueue: Sendable {
    enum Item: Sendable {
        case frame(WebSocketFrame)
        /// The last item: a close frame, then nothing more.
        case close(WebSocketErrorCode, reason: String)
    }

    let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    private let state = Mutex<(messages: Int, bytes: Int, closing: Bool)>((0, 0, false))
    private let messageLimit: Int
    private let byteLimit: Int
    private let overflow: @Sendable () -> Void

    /// `overflow` runs once, when the client fell behind by more than the limits.
    init(messageLimit: Int, byteLimit: Int, overflow: @escaping @Sendable () -> Void) {
        (items, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        self.messageLimit = messageLimit
        self.byteLimit = byteLimit
        self.overflow = overflow
    }

    /// Queues a frame; past the limits, ends the queue and disconnects the client instead.
    func enqueue(_ frame: WebSocketFrame) {
        let size = frame.data.readableBytes
        let accepted: Bool? = state.withLock { state in
            if state.closing { return nil }
            guard state.messages < messageLimit, state.bytes + size <= byteLimit else {
                state.closing = true
                return false
            }
            state.messages += 1
            state.bytes += size
            return true
        }
        switch accepted {
        case true?: continuation.yield(.frame(frame))
        case false?:
            continuation.finish()
            overflow()
        case nil: break
        }
    }

    /// Called by the writer once a frame is out.
    func sent(_ frame: WebSocketFrame) {
        let size = frame.data.readableBytes
        state.withLock { state in
            state.messages -= 1
            state.bytes -= size
        }
    }

    /// Ends the connection with a close frame, after what is queued.
    func close(_ code: WebSocketErrorCode, reason: String) {
        let first = state.withLock { state in
            defer { state.closing = true }
            return !state.closing
        }
        guard first else { return }
        continuation.yield(.close(code, reason: reason))
        continuation.finish()
    }

    /// Ends the queue without a close frame (the client went away).
    func finish() {
        state.withLock { $0.closing = true }
        continuation.finish()
    }
}

/// The connected clients, and which of them is waiting for which response.
///
/// Broker would send every controller response to every subscriber of the topic and let
/// zeek-client pick its own by reqid; here each response goes only to the connection whose
/// request carried its reqid, so one operator never sees another's configuration or results.
/// Notifications (events without a reqid) go to every client subscribed to their topic.
final class GatewayConnections: Sendable {
    private struct Connection {
        var queue: OutboundQueue
        var subscribed: Bool
        var outstanding = 0
    }

    private struct Owner {
        var connection: String
        var since: ContinuousClock.Instant
    }

    private struct State {
        var connections: [String: Connection] = [:]
        var owners: [String: Owner] = [:]
    }

    enum Claim: Equatable {
        case claimed
        /// Another connection is waiting for a response with this reqid.
        case taken
        /// The connection has this many requests outstanding already.
        case tooMany(Int)
    }

    private let state = Mutex(State())
    /// A request not answered in this long no longer counts (Zeek's controller does not
    /// answer some requests at all, e.g. `test_timeout` without state).
    private let requestLifetime: Duration

    init(requestLifetime: Duration) {
        self.requestLifetime = requestLifetime
    }

    var count: Int { state.withLock { $0.connections.count } }

    func add(_ id: String, queue: OutboundQueue, subscribed: Bool) {
        state.withLock { $0.connections[id] = Connection(queue: queue, subscribed: subscribed) }
    }

    func remove(_ id: String) {
        let queue = state.withLock { state in
            state.owners = state.owners.filter { $0.value.connection != id }
            return state.connections.removeValue(forKey: id)?.queue
        }
        queue?.finish()
    }

    /// Makes connection `id` the one the response to `reqid` goes to.
    func claim(_ reqid: String, by id: String, limit: Int, now: ContinuousClock.Instant = .now) -> Claim {
        state.withLock { state in
            let expired = state.owners.filter { now - $0.value.since > requestLifetime }
            for (reqid, owner) in expired {
                state.owners.removeValue(forKey: reqid)
                state.connections[owner.connection]?.outstanding -= 1
            }
            if let owner = state.owners[reqid] {
                return owner.connection == id ? .claimed : .taken
            }
            guard let connection = state.connections[id] else { return .taken }
            guard connection.outstanding < limit else { return .tooMany(connection.outstanding) }
            state.owners[reqid] = Owner(connection: id, since: now)
            state.connections[id]?.outstanding += 1
            return .claimed
        }
    }

    /// Forgets a claim whose request was not sent after all.
    func release(_ reqid: String, by id: String) {
        state.withLock { state in
            guard state.owners[reqid]?.connection == id else { return }
            state.owners.removeValue(forKey: reqid)
            state.connections[id]?.outstanding -= 1
        }
    }

    /// Sends the response to `reqid` to the connection that asked; nothing if none did (a
    /// request of zeek-mgmt, or of a client gone since). Returns whether it was delivered.
    @discardableResult
    func deliver(response frame: WebSocketFrame, reqid: String) -> Bool {
        let queue: OutboundQueue? = state.withLock { state in
            guard let owner = state.owners.removeValue(forKey: reqid) else { return nil }
            state.connections[owner.connection]?.outstanding -= 1
            guard let connection = state.connections[owner.connection], connection.subscribed else { return nil }
            return connection.queue
        }
        queue?.enqueue(frame)
        return queue != nil
    }

    /// Sends a notification to every subscribed connection.
    func notify(_ frame: WebSocketFrame) {
        for queue in state.withLock({ $0.connections.values.filter(\.subscribed).map(\.queue) }) { queue.enqueue(frame) }
    }

    func closeAll() {
        for queue in state.withLock({ state in defer { state = State() }; return state.connections.values.map(\.queue) }) {
            queue.close(.goingAway, reason: "the controller is shutting down")
        }
    }
}

/// Open channels, TLS handshakes included, against the connection limit.
final class ConnectionCount: Sendable {
    private let open = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts one more unless the limit is reached.
    func admit() -> Bool {
        open.withLock { open in
            guard open < limit else { return false }
            open += 1
            return true
        }
    }

    func closed() { open.withLock { $0 -= 1 } }
}

/// When a connection last received anything.
final class Activity: Sendable {
    private let last = Mutex(ContinuousClock.now)

    func touch() { last.withLock { $0 = .now } }
    var silence: Duration { .now - last.withLock { $0 } }
}
