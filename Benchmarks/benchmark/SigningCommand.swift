import ArgumentParser
import Foundation
import KafkaTransport
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import MessageSigning

/// CPU per message of the signature path alone: signing a record as an endpoint does before
/// it is produced, and the receive path's whole check (``MessageGuard/admit(_:)``: signature,
/// policy, freshness, replay window) as every service runs it on what it reads.
struct SigningCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing",
        abstract: "CPU per message to sign and to verify a typical response envelope (Ed25519, swift-crypto)."
    )

    @Option(help: "Messages to sign and verify.")
    var messages: Int = 20_000

    func run() throws {
        let key = SigningKey.generate()
        let trust = TrustStore(try Keyring([Principal(kind: .host, name: "agent-a", key: key.publicKey)]))
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let verifier = MessageGuard(security: EndpointSecurity(key: SigningKey.generate(), trust: trust, policy: TrustPolicy([.agentAPI.replies: [.enrolledHosts]])),
                                    logger: logger)
        let statuses = (1...8).map { Management.NodeStatus(node: "worker-\($0)", state: .running, mgmtRole: .none, clusterRole: .worker, pid: 4000 + $0) }
        let topic = Topic.agentAPI.replies
        var records: [WireRecord] = []
        for index in 0..<messages {
            let response = AgentAPI.GetNodesResponse(reqid: "req-\(index)", result: Management.Result(reqid: "req-\(index)", instance: "agent-a", data: try JSONValue(encoding: statuses)))
            records.append(try record(Envelope(event: response, sender: "agent-a", target: "controller"), topic: topic))
        }
        let signingStart = ContinuousClock.now
        var signed: [WireRecord] = []
        signed.reserveCapacity(records.count)
        for var record in records {
            record.headers += SignedRecord(signing: record.value, topic: record.topic, key: record.key ?? Data(), with: key).headers
            signed.append(record)
        }
        let signing = (ContinuousClock.now - signingStart) / messages
        let parsed = try signed.map { try InboundMessage(parsing: $0, on: topic) }
        let verifyingStart = ContinuousClock.now
        var admitted = 0
        for message in parsed {
            if case .success = verifier.admit(message) { admitted += 1 }
        }
        let verifying = (ContinuousClock.now - verifyingStart) / messages
        guard admitted == messages else { throw BenchmarkError("only \(admitted) of \(messages) verified") }
        print("\(messages) get_nodes responses of \(records[0].value.count) bytes")
        print("  sign                                   \(format(signing)) per message")
        print("  verify (signature, policy, freshness, replay)  \(format(verifying)) per message")
    }

    private func record<Event: ManagementEvent>(_ envelope: Envelope<Event>, topic: Topic) throws -> WireRecord {
        try envelope.record(topic: topic.name)
    }
}
