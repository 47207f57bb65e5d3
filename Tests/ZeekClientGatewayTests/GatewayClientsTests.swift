import NIOCore
import Synchronization
import NIOWebSocket
import Testing
@testable import ZeekClientGateway

/// The clients file, roles and response routing, without a network.
@Suite struct GatewayClientsTests {
    /// SHA-256 of "s3cret" (printf %s s3cret | sha256sum).
    static let tokenDigest = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"

    @Test func parsesEveryCredentialKind() throws {
        let clients = try GatewayClients(parsing: """
            # operator role credential
            alice   deploy  cert-sha256=\(String(repeating: "AB:", count: 31))AB   # as openssl prints it

            bob     read    cert-cn=bob.example.org
            robot   read    token-sha256=\(Self.tokenDigest)
            """, file: "clients")
        #expect(clients.entries.map(\.client.name) == ["alice", "bob", "robot"])
        #expect(clients.entries.map(\.client.role) == [.deploy, .read, .read])
        #expect(clients.client(token: "s3cret") == GatewayClient(name: "robot", role: .read, authenticatedBy: "token"))
        #expect(clients.client(token: "s3cret ") == nil)
        #expect(clients.client(token: "") == nil)
        #expect(clients.client(certificateDER: [1, 2, 3], commonName: "bob.example.org")?.name == "bob")
        #expect(clients.client(certificateDER: [1, 2, 3], commonName: "alice") == nil, "alice is known by fingerprint only")
    }

    @Test func matchesACertificateByItsFingerprint() throws {
        let der: [UInt8] = Array("not really DER".utf8)
        let fingerprint = GatewayClients.fingerprint(ofDER: der)
        #expect(fingerprint.count == 32 * 3 - 1)
        let clients = try GatewayClients(parsing: "carol deploy cert-sha256=\(fingerprint.lowercased())\n", file: "clients")
        #expect(clients.client(certificateDER: der, commonName: nil)?.name == "carol")
        #expect(clients.client(certificateDER: der + [0], commonName: nil) == nil)
    }

    @Test(arguments: [
        ("alice deploy", "line 1: expected `OPERATOR ROLE CREDENTIAL`, got 2 fields"),
        ("alice admin cert-cn=a", "line 1: role admin is not one of read, deploy"),
        ("al/ice read cert-cn=a", "operator name al/ice may have only"),
        ("alice read password=x", "unknown credential kind password"),
        ("alice read cert-sha256=AB:CD", "cert-sha256 takes the certificate's SHA-256 fingerprint"),
        ("alice read token-sha256=s3cret", "token-sha256 takes the SHA-256 of the token"),
        ("alice read cert-cn=a\nbob deploy cert-cn=a", "line 2: cert-cn=a is listed twice"),
    ])
    func refusesMistakesWithTheLine(text: String, message: String) {
        let error = #expect(throws: GatewaySetupError.self) { try GatewayClients(parsing: text, file: "clients") }
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func readMaySendOnlyTheRequestsThatChangeNothing() {
        for event in ["get_configuration_request", "get_instances_request", "get_nodes_request", "get_id_value_request", "test_timeout_request"] {
            #expect(GatewayRole.read.allows("Management::Controller::API::\(event)"), "\(event)")
        }
        for event in ["stage_configuration_request", "deploy_request", "restart_request"] {
            #expect(!GatewayRole.read.allows("Management::Controller::API::\(event)"), "\(event)")
            #expect(GatewayRole.deploy.allows("Management::Controller::API::\(event)"), "\(event)")
        }
    }

    @Test func loopbackAddresses() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] { #expect(ZeekClientGatewaySettings.isLoopback(host), "\(host)") }
        for host in ["0.0.0.0", "::", "10.0.0.1", "127.0.0.1.example.org", "1127.0.0.1", "example.org", ""] {
            #expect(!ZeekClientGatewaySettings.isLoopback(host), "\(host)")
        }
    }
}

/// Responses go to the connection that asked, and to nobody else.
@Suite struct GatewayConnectionsTests {
    func frame(_ text: String) -> WebSocketFrame { WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)) }

    /// The texts a queue holds, once it is finished.
    func drain(_ queue: OutboundQueue) async -> [String] {
        queue.finish()
        var texts: [String] = []
        for await item in queue.items {
            if case .frame(let frame) = item { texts.append(String(buffer: frame.data)) }
        }
        return texts
    }

    @Test func routesEachResponseToItsRequester() async {
        let connections = GatewayConnections(requestLifetime: .seconds(60))
        let a = OutboundQueue(messageLimit: 10, byteLimit: 1000) {}
        let b = OutboundQueue(messageLimit: 10, byteLimit: 1000) {}
        connections.add("a", queue: a, subscribed: true)
        connections.add("b", queue: b, subscribed: true)
        #expect(connections.claim("r1", by: "a", limit: 2) == .claimed)
        #expect(connections.claim("r1", by: "b", limit: 2) == .taken)
        #expect(connections.claim("r2", by: "b", limit: 2) == .claimed)
        #expect(connections.deliver(response: frame("to a"), reqid: "r1"))
        #expect(!connections.deliver(response: frame("again"), reqid: "r1"), "one response per claim")
        #expect(!connections.deliver(response: frame("zeek-mgmt's"), reqid: "other"))
        #expect(connections.deliver(response: frame("to b"), reqid: "r2"))
        connections.notify(frame("everyone"))
        #expect(await drain(a) == ["to a", "everyone"])
        #expect(await drain(b) == ["to b", "everyone"])
    }

    @Test func boundsOutstandingRequestsAndForgetsOldOnes() {
        let connections = GatewayConnections(requestLifetime: .seconds(60))
        connections.add("a", queue: OutboundQueue(messageLimit: 10, byteLimit: 1000) {}, subscribed: true)
        let now = ContinuousClock.now
        #expect(connections.claim("1", by: "a", limit: 2, now: now) == .claimed)
        #expect(connections.claim("2", by: "a", limit: 2, now: now) == .claimed)
        #expect(connections.claim("3", by: "a", limit: 2, now: now) == .tooMany(2))
        connections.release("2", by: "a")
        #expect(connections.claim("3", by: "a", limit: 2, now: now) == .claimed)
        #expect(connections.claim("4", by: "a", limit: 2, now: now + .seconds(61)) == .claimed, "unanswered requests expire")
        connections.remove("a")
        connections.add("b", queue: OutboundQueue(messageLimit: 10, byteLimit: 1000) {}, subscribed: true)
        #expect(connections.claim("4", by: "b", limit: 2, now: now) == .claimed, "a closed connection's reqids are free")
    }

    @Test func aClientThatDoesNotReadIsDisconnected() async {
        let overflowed = OverflowFlag()
        let queue = OutboundQueue(messageLimit: 2, byteLimit: 1000) { overflowed.set() }
        queue.enqueue(frame("1"))
        queue.enqueue(frame("2"))
        #expect(!overflowed.value)
        queue.enqueue(frame("3"))
        #expect(overflowed.value)
        queue.enqueue(frame("4"))
        var texts: [String] = []
        for await item in queue.items { if case .frame(let frame) = item { texts.append(String(buffer: frame.data)) } }
        #expect(texts == ["1", "2"], "the queue ended at the overflow")
    }
}

final class OverflowFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}
