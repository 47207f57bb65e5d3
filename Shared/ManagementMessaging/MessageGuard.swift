#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementTypes
import MessageSigning
import Synchronization

/// How an endpoint signs what it writes and whom it believes: its key, the principals it knows,
/// and whom it takes each topic from.
public struct EndpointSecurity: Sendable {
    public var key: SigningKey
    public var trust: TrustStore
    public var policy: TrustPolicy
    /// How far ahead of this host's clock a message's `ts` may be.
    public var maximumClockSkew: Duration
    /// How old a message may be: older ones are dropped, and seen request ids are remembered
    /// this long (the replay window).
    public var maximumAge: Duration
    /// Told of every message dropped, for metrics.
    public var onRejection: (@Sendable (MessageRejection) -> Void)?
    /// Where a controller keeps the hosts that check in with keys it does not know (still
    /// dropped), for an operator to enroll; nil elsewhere.
    public var pendingEnrollments: PendingEnrollments?

    public init(key: SigningKey, trust: TrustStore, policy: TrustPolicy, maximumClockSkew: Duration = .seconds(30),
                maximumAge: Duration = .seconds(300), onRejection: (@Sendable (MessageRejection) -> Void)? = nil,
                pendingEnrollments: PendingEnrollments? = nil) {
        self.key = key
        self.trust = trust
        self.policy = policy
        self.maximumClockSkew = maximumClockSkew
        self.maximumAge = maximumAge
        self.onRejection = onRejection
        self.pendingEnrollments = pendingEnrollments
    }
}

/// Whether an endpoint signs and verifies. Every endpoint says which, so none can forget.
public enum MessageSecurity: Sendable {
    /// Signs everything it writes and reads only what ``EndpointSecurity`` admits.
    case signed(EndpointSecurity)
    /// Neither signs nor verifies: only for measuring what signing costs (`benchmark`),
    /// never for a deployment. Any Kafka writer can then command every host.
    case unsignedInsecure

    /// The guard of a signed endpoint, nil for an unsigned one.
    public func makeGuard(clock: any ManagementClock = SystemClock(), logger: Logger) -> MessageGuard? {
        guard case .signed(let security) = self else { return nil }
        return MessageGuard(security: security, clock: clock, logger: logger)
    }
}

/// Why a message was dropped unread.
public struct MessageRejection: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        case unsigned, badSignature = "bad_signature", unknownSigner = "unknown_signer", notAllowed = "not_allowed"
        case stale, future, replay, badWarrant = "bad_warrant"
    }

    public var reason: Reason
    public var detail: String
    /// Who the message says sent it (not to be believed), for rate-limiting the log.
    public var claimedSender: String

    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// Who signed a message that passed verification, and the signed record itself (what a
/// controller forwards as a configuration's warrant).
public struct Authentication: Sendable {
    public var principal: Principal
    public var record: SignedRecord
}

/// The one place where signatures are made and checked, for every bus: the Kafka endpoint and
/// the in-memory one call it on their send and receive paths, so no service can forget either.
///
/// A message is admitted only if it is signed by a known key, that key may write its topic
/// (``TrustPolicy``), it is fresh (its `ts` within the clock skew ahead and ``EndpointSecurity/maximumAge``
/// behind), and its request id was not seen before from the same signer. A configuration it
/// carries must be warranted by a `deploy` operator's signature. Dropped messages are counted
/// and logged at most once per claimed sender per interval.
public final class MessageGuard: Sendable {
    public let security: EndpointSecurity
    private let clock: any ManagementClock
    private let logger: Logger
    private let replays: Mutex<ReplayWindows>
    private let log: Mutex<RejectionLog>
    private let lastTrustProblem = Mutex<String?>(nil)

    public init(security: EndpointSecurity, clock: any ManagementClock = SystemClock(), logger: Logger) {
        self.security = security
        self.clock = clock
        self.logger = logger
        replays = Mutex(ReplayWindows(capacityPerSigner: 100_000))
        log = Mutex(RejectionLog())
    }

    /// The signature headers of a record of `topic` with `key` and `value`, signed with this endpoint's key.
    public func sign(_ value: Data, topic: String, key: Data) -> [WireHeader] {
        SignedRecord(signing: value, topic: topic, key: key, with: security.key).headers
    }

    /// `message` with who signed it, or why it is not to be read (counted and logged); its
    /// routing and parsed envelope decide what its signer may send.
    public func admit(_ message: InboundMessage) -> Result<InboundMessage, MessageRejection> {
        let record = message.record
        switch check(value: record.value, topic: record.topic, key: record.key, header: { record.header($0)?.stringValue },
                     head: message.head, document: message.document, on: message.topic) {
        case .success(let authentication):
            var admitted = message
            admitted.authentication = authentication
            return .success(admitted)
        case .failure(let rejection):
            report(rejection, on: message.topic)
            return .failure(rejection)
        }
    }

    private func check(value: Data, topic kafkaTopic: String, key: Data?, header: (String) -> String?, head: EnvelopeHead, document: JSONValue,
                       on topic: Topic) -> Result<Authentication, MessageRejection> {
        func reject(_ reason: MessageRejection.Reason, _ detail: String) -> Result<Authentication, MessageRejection> {
            .failure(MessageRejection(reason: reason, detail: detail, claimedSender: head.sender))
        }
        noteTrustProblem()
        // What the sender claims goes into log lines only cut short and without control characters.
        let (event, sender) = (Self.printable(head.event), Self.printable(head.sender))
        guard head.event.utf8.count <= Self.maximumNameLength, head.sender.utf8.count <= Self.maximumNameLength else {
            return reject(.notAllowed, "\(event) from \(sender): event and sender names are at most \(Self.maximumNameLength) bytes")
        }
        // The cheap checks first, on what the record claims: a stale or far-off record costs no signature check.
        let now = clock.wallTime
        guard head.timestamp.isFinite, head.timestamp <= now + security.maximumClockSkew.timeInterval else {
            return reject(.future, "\(event) from \(sender) is stamped \(head.timestamp), ahead of this host's clock (\(now)) by more than \(security.maximumClockSkew)")
        }
        let oldest = now - security.maximumAge.timeInterval
        guard head.timestamp >= oldest else {
            return reject(.stale, "\(event) from \(sender) is older than \(security.maximumAge)")
        }
        let reqid = document["args"]?["reqid"]?.stringValue
        if let reqid, reqid.utf8.count > Self.maximumNameLength {
            return reject(.notAllowed, "\(event) from \(sender): a reqid is at most \(Self.maximumNameLength) bytes")
        }
        guard let signerText = header(SignedRecord.Header.signer), let signatureText = header(SignedRecord.Header.signature) else {
            return reject(.unsigned, "\(head.event) from \(head.sender) is not signed")
        }
        guard let signer = Data(base64Encoded: signerText), signer.count == 32,
              let signature = Data(base64Encoded: signatureText), signature.count == 64 else {
            return reject(.badSignature, "\(head.event) from \(head.sender) has a malformed signature")
        }
        guard let principal = security.trust.principal(signingWith: signer) else {
            noteEnrollment(value: value, topic: kafkaTopic, key: key, signer: signer, signature: signature, head: head, document: document, on: topic)
            return reject(.unknownSigner, "\(head.event) from \(head.sender) is signed by an unknown key \(signerText)")
        }
        let record = SignedRecord(topic: kafkaTopic, key: key ?? Data(), value: value, signer: signer, signature: signature)
        guard record.verifies(with: principal.key) else {
            return reject(.badSignature, "\(head.event) from \(head.sender) does not verify with the key of \(principal)")
        }
        if let refusal = security.policy.refusal(of: principal, event: head.event, sender: head.sender, on: topic) {
            return reject(.notAllowed, "\(event) from \(sender): \(refusal)")
        }
        // A host speaks for itself only, also where the arguments name an instance (a check-in).
        if principal.kind == .host, security.policy.admissions[topic]?.contains(.enrolledHosts) == true,
           let instance = document["args"]?["instance"]?.stringValue, instance != principal.name {
            return reject(.notAllowed, "\(event) from \(sender): host \(principal.name) may not speak for \(Self.printable(instance))")
        }
        // Remembered before the costlier configuration check, so a replayed broadcast costs no second one.
        if let reqid {
            // Stamped at most now: a signer's flood stamped ahead cannot push its window's floor into the future.
            let seen = replays.withLock {
                $0.insert(ReplayWindow.Entry(signer: signer, sender: head.sender, event: head.event, reqid: reqid), at: min(head.timestamp, now), notBefore: oldest)
            }
            if let seen { return reject(.replay, "\(event) \(Self.printable(reqid)) from \(sender) \(seen)") }
        }
        if TrustPolicy.warrantedEvents.contains(head.event), let problem = warrantProblem(document) {
            return reject(.badWarrant, "\(event) from \(sender): \(problem)")
        }
        return .success(Authentication(principal: principal, record: record))
    }

    /// The longest event name, sender or reqid taken: what the replay window keeps is bounded.
    static let maximumNameLength = 256

    /// `text` cut to 128 characters, control characters as `?`: what may go into a log line.
    static func printable(_ text: String) -> String {
        String(text.prefix(128).map { $0.isASCII && ($0.asciiValue ?? 0) < 0x20 ? "?" : $0 })
    }

    /// Logs, once per edit, that the trust file's latest edit could not be read.
    private func noteTrustProblem() {
        guard let problem = security.trust.problem else { return }
        let isNew = lastTrustProblem.withLock { last in
            defer { last = problem }
            return last != problem
        }
        if isNew { logger.error("\(problem)") }
    }

    /// A fresh check-in of a host signed by a key nobody listed, under its own name: kept for an
    /// operator to enroll (``PendingEnrollments``). The signature proves the host holds the key.
    private func noteEnrollment(value: Data, topic kafkaTopic: String, key: Data?, signer: Data, signature: Data, head: EnvelopeHead,
                                document: JSONValue, on topic: Topic) {
        guard let pending = security.pendingEnrollments, head.event == AgentAPI.NotifyAgentHello.eventName,
              security.policy.admissions[topic]?.contains(.enrolledHosts) == true,
              document["args"]?["instance"]?.stringValue == head.sender, head.sender.utf8.count <= 256,
              head.timestamp.isFinite, abs(head.timestamp - clock.wallTime) <= security.maximumClockSkew.timeInterval,
              let verifying = try? VerifyingKey(raw: signer),
              SignedRecord(topic: kafkaTopic, key: key ?? Data(), value: value, signer: signer, signature: signature).verifies(with: verifying) else { return }
        pending.note(head.sender, key: verifying, at: head.timestamp)
    }

    /// Whether the configuration of a request is one a `deploy` operator signed, completed only
    /// where the operator left it open (ports, addresses); nil if it is.
    private func warrantProblem(_ document: JSONValue) -> String? {
        let arguments = document["args"]
        // A configuration that does not decode runs nothing: the request goes on to be
        // answered with what is wrong with it, as any malformed request is.
        guard let deployed = try? Self.configuration(in: arguments?["config"] ?? .null,
                                                     legacy: document["event"]?.stringValue == ClusterAgentAPI.SetConfigurationRequest.eventName) else { return nil }
        guard let warrantValue = arguments?["config_signature"] else {
            return "the configuration carries no operator signature (config_signature)"
        }
        let warrant: SignedRecord
        do {
            warrant = try ZeekJSON.decode(SignedRecord.self, from: warrantValue)
        } catch {
            return "unreadable configuration signature: \(error)"
        }
        guard let signer = security.trust.principal(signingWith: warrant.signer) else {
            return "the configuration is signed by an unknown key"
        }
        guard signer.kind == .deployOperator else {
            return "the configuration is signed by \(signer), not by an operator with the deploy role"
        }
        guard warrant.verifies(with: signer.key) else { return "the configuration's signature does not verify" }
        let original: Management.Configuration
        do {
            let envelope = try JSONValue(parsing: warrant.value)
            let event = envelope["event"]?.stringValue
            guard event == ControllerAPI.StageConfigurationRequest.eventName || event == ClusterControllerAPI.SetConfigurationRequest.eventName else {
                return "the signed message is \(event ?? "no event"), not a configuration staged by an operator"
            }
            original = try Self.configuration(in: envelope["args"]?["config"] ?? .null, legacy: event == ClusterControllerAPI.SetConfigurationRequest.eventName)
        } catch {
            return "the signed configuration does not decode: \(error)"
        }
        guard let difference = deployed.difference(fromCompletionOf: original) else { return nil }
        return "the configuration differs from the one \(signer.name) signed: \(difference)"
    }

    private static func configuration(in value: JSONValue, legacy: Bool) throws -> Management.Configuration {
        legacy ? Management.Configuration(legacy: try ZeekJSON.decode(ClusterController.Types.Configuration.self, from: value))
            : try ZeekJSON.decode(Management.Configuration.self, from: value)
    }

    /// The latest value of every key among `records` of a compacted state topic (oldest first),
    /// on a signed endpoint (`messageGuard` given) only where that latest record was written by
    /// someone the policy admits for `topic`: the one reading of state for every bus.
    public static func latestValues(of records: some Sequence<WireRecord>, on topic: Topic, admittedBy messageGuard: MessageGuard?) -> [String: Data] {
        var latest: [Data: WireRecord] = [:]
        for record in records {
            if let key = record.key { latest[key] = record }
        }
        var values: [String: Data] = [:]
        for (key, record) in latest {
            if let messageGuard, !record.value.isEmpty,
               !messageGuard.admitsStored(record.value, topic: record.topic, key: key, header: { record.header($0)?.stringValue }, on: topic) { continue }
            values[String(decoding: key, as: UTF8.self)] = record.value
        }
        return values
    }

    /// Whether a record of a state topic was written by someone its policy admits; logs why not.
    private func admitsStored(_ value: Data, topic kafkaTopic: String, key: Data, header: (String) -> String?, on topic: Topic) -> Bool {
        let keyName = String(decoding: key, as: UTF8.self)
        guard let signer = header(SignedRecord.Header.signer).flatMap({ Data(base64Encoded: $0) }),
              let signature = header(SignedRecord.Header.signature).flatMap({ Data(base64Encoded: $0) }) else {
            logger.error("ignoring the unsigned \(keyName) record of \(topic): state is read only as a controller signed it")
            return false
        }
        guard let principal = security.trust.principal(signingWith: signer),
              SignedRecord(topic: kafkaTopic, key: key, value: value, signer: signer, signature: signature).verifies(with: principal.key) else {
            logger.error("ignoring the \(keyName) record of \(topic): its signature is not one of a known key")
            return false
        }
        if let refusal = security.policy.refusal(of: principal, event: "", sender: principal.name, on: topic) {
            logger.error("ignoring the \(keyName) record of \(topic): \(refusal)")
            return false
        }
        return true
    }

    /// Counts `rejection` and logs it, at most once per claimed sender per minute.
    private func report(_ rejection: MessageRejection, on topic: Topic) {
        security.onRejection?(rejection)
        let now = clock.now
        let (shouldLog, suppressed) = log.withLock { $0.note(rejection.claimedSender, at: now) }
        guard shouldLog else { return }
        let level: Logger.Level = rejection.reason == .stale ? .info : .warning
        logger.log(level: level, "dropped a message on \(topic): \(rejection)\(suppressed > 0 ? " (\(suppressed) more dropped unlogged since the last report)" : "")")
    }
}

/// A replay window per signer: one signer's flood fills and ages only its own, never another's.
/// Signers are verified keys of the trust file, so there are as many windows as principals.
struct ReplayWindows {
    let capacityPerSigner: Int
    private var windows: [Data: ReplayWindow] = [:]

    init(capacityPerSigner: Int) {
        self.capacityPerSigner = capacityPerSigner
    }

    mutating func insert(_ entry: ReplayWindow.Entry, at time: Double, notBefore oldest: Double) -> String? {
        windows[entry.signer, default: ReplayWindow(capacity: capacityPerSigner)].insert(entry, at: time, notBefore: oldest)
    }
}

/// The request ids seen within the replay window, by signer and event; the oldest are let go
/// first when full, and then nothing older than what was let go is admitted.
struct ReplayWindow {
    struct Entry: Hashable {
        var signer: Data
        var sender: String
        var event: String
        var reqid: String
    }

    let capacity: Int
    private var seen: [Entry: Double] = [:]
    private var order: [(entry: Entry, time: Double)] = []
    private var head = 0
    /// Nothing stamped before this is admitted: its replay could have been forgotten.
    private var floor = -Double.infinity

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Remembers `entry`; why it cannot be admitted if it was seen, or is older than what the
    /// window still remembers.
    mutating func insert(_ entry: Entry, at time: Double, notBefore oldest: Double) -> String? {
        while head < order.count, order[head].time < oldest || seen.count >= capacity {
            let expired = order[head]
            if seen[expired.entry] == expired.time { seen[expired.entry] = nil }
            if expired.time >= oldest { floor = max(floor, expired.time) }
            head += 1
        }
        if head > 4096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        if seen[entry] != nil { return "was seen before: a replay" }
        guard time > floor else { return "is older than the replay window can check" }
        seen[entry] = time
        order.append((entry, time))
        return nil
    }
}

/// When each claimed sender's rejections were last logged, so a flood is one line a minute
/// per sender, and at most ``budget`` lines a minute in all however many senders it claims.
struct RejectionLog {
    private var last: [String: (time: ContinuousClock.Instant, suppressed: Int)] = [:]
    private var windowStart: ContinuousClock.Instant?
    private var linesInWindow = 0
    /// Rejections not logged because the budget was spent, since the last line.
    private var overBudget = 0
    static let interval = Duration.seconds(60)
    static let capacity = 1024
    static let budget = 20

    /// Whether to log a rejection from `sender` now, and how many were dropped unlogged since
    /// this sender's (and, over budget, anyone's) last line.
    mutating func note(_ sender: String, at now: ContinuousClock.Instant) -> (log: Bool, suppressed: Int) {
        if windowStart.map({ now - $0 >= Self.interval }) ?? true {
            windowStart = now
            linesInWindow = 0
        }
        let key = sender.count > 128 ? String(sender.prefix(128)) : sender
        if let entry = last[key], now - entry.time < Self.interval {
            last[key]?.suppressed += 1
            return (false, 0)
        }
        guard linesInWindow < Self.budget else {
            overBudget += 1
            return (false, 0)
        }
        if last.count >= Self.capacity { last = last.filter { now - $0.value.time < Self.interval } }
        let suppressed = (last[key]?.suppressed ?? 0) + overBudget
        overBudget = 0
        linesInWindow += 1
        if last.count < Self.capacity { last[key] = (now, 0) }
        return (true, suppressed)
    }
}

extension SignedRecord {
    /// The `signer` and `signature` headers that carry this signature beside its record.
    public var headers: [WireHeader] {
        let (signer, signature) = headerValues
        return [WireHeader(name: Header.signer, string: signer), WireHeader(name: Header.signature, string: signature)]
    }

    /// A `stage_configuration_request` for `config` signed with an operator's `key`, as the
    /// operator's client writes it on `topic`: the warrant agents require of a configuration.
    /// For tools that hand a configuration to agents themselves, and for tests.
    public static func stageRequest(for config: Management.Configuration, signedWith key: SigningKey, sender: String = "operator",
                                    topic: String = Topic.controllerAPI.name, at time: Double = Date().timeIntervalSince1970) throws -> SignedRecord {
        let envelope = Envelope(event: ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: config), sender: sender,
                                target: "controller", timestamp: time)
        return SignedRecord(signing: try envelope.encoded(), topic: topic, key: Data("controller".utf8), with: key)
    }

    /// As ``stageRequest(for:signedWith:sender:topic:at:)``, for the legacy `set_configuration_request`.
    public static func legacyStageRequest(for config: ClusterController.Types.Configuration, signedWith key: SigningKey, sender: String = "operator",
                                          topic: String = Topic.legacyControllerAPI.name) throws -> SignedRecord {
        let envelope = Envelope(event: ClusterControllerAPI.SetConfigurationRequest(reqid: UUID().uuidString, config: config), sender: sender, target: "controller")
        return SignedRecord(signing: try envelope.encoded(), topic: topic, key: Data("controller".utf8), with: key)
    }
}
