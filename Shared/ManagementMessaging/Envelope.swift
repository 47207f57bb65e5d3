#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes

/// One event with its routing data: the unit of the wire contract.
///
/// On the wire it is one UTF-8 JSON object:
/// `{"event": ..., "args": {...}, "sender": ..., "target": ..., "ts": ..., "api_version": 1}`.
public struct Envelope<Event: ManagementEvent>: Sendable {
    public var event: Event
    /// The publishing endpoint's name.
    public var sender: String
    /// The instance or node it is for; `nil` means everyone.
    public var target: String?
    /// Publish time, epoch seconds.
    public var timestamp: Double
    public var apiVersion: Int
    /// For a request: the topic its answer should go to (the request topic's ``Topic/replies``),
    /// or nil for the request's own topic.
    public var replyTo: Topic?

    public init(event: Event, sender: String, target: String? = nil, timestamp: Double = Date().timeIntervalSince1970, apiVersion: Int = Event.apiVersion,
                replyTo: Topic? = nil) {
        self.event = event
        self.sender = sender
        self.target = target
        self.timestamp = timestamp
        self.apiVersion = apiVersion
        self.replyTo = replyTo
    }

    /// The JSON bytes of the envelope.
    public func encoded() throws -> Data {
        try ZeekJSON.encode(WireEnvelope(event: Event.eventName, args: event, sender: sender, target: target, ts: timestamp, apiVersion: apiVersion,
                                         replyTo: replyTo?.name))
    }

    /// The record key: the target, else the sender (the partition of a per-host topic follows it).
    public var key: Data { Data((target ?? sender).utf8) }

    /// The headers that repeat event, sender and target, so that readers can route a record
    /// without parsing it.
    public var headers: [WireHeader] {
        var headers = [
            WireHeader(name: EnvelopeHeader.event, string: Event.eventName),
            WireHeader(name: EnvelopeHeader.sender, string: sender),
        ]
        if let target { headers.append(WireHeader(name: EnvelopeHeader.target, string: target)) }
        headers.append(WireHeader(name: EnvelopeHeader.contentType, string: "application/json"))
        return headers
    }

    /// The record that carries the envelope on `topic` (its name as written, with the
    /// deployment's prefix), unsigned.
    public func record(topic: String) throws -> WireRecord {
        WireRecord(topic: topic, key: key, value: try encoded(), headers: headers)
    }
}

/// An envelope larger than a record may be: named with its size, the limit and the setting
/// that raises it, before anything is sent.
public struct EnvelopeTooLarge: Error, Sendable, CustomStringConvertible {
    public var event: String
    public var size: Int
    public var limit: Int

    public init(event: String, size: Int, limit: Int) {
        self.event = event
        self.size = size
        self.limit = limit
    }

    public var description: String {
        "\(event) of \(size) bytes exceeds the limit of \(limit) bytes per message (message.max.bytes); "
            + "make it smaller, or raise message.max.bytes on every service and client (--kafka-option message.max.bytes=N) "
            + "and the broker's message.max.bytes for its compressed size"
    }
}

/// Header names of the envelope's record.
public enum EnvelopeHeader {
    public static let event = "event"
    public static let sender = "sender"
    public static let target = "target"
    public static let contentType = "content-type"
}

/// The routing part of an envelope, read before the arguments' type is known.
public struct EnvelopeHead: Sendable, Hashable, Decodable {
    public var event: String
    public var sender: String
    public var target: String?
    public var timestamp: Double
    public var apiVersion: Int
    /// The contract topic a request asks to be answered on (`reply_to`), if any.
    public var replyTo: String?

    /// Larger values are refused before parsing, unless the endpoint's `message.max.bytes` is
    /// raised: what the services may send, so nothing legitimate is lost, and a hostile
    /// 100 MiB value costs nothing.
    public static let maximumSize = 16 * 1024 * 1024

    enum CodingKeys: String, CodingKey {
        case event, args, sender, target
        case timestamp = "ts"
        case apiVersion = "api_version"
        case replyTo = "reply_to"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        event = try c.decode(String.self, forKey: .event)
        sender = try c.decode(String.self, forKey: .sender)
        target = try c.decodeIfPresent(String.self, forKey: .target)
        timestamp = try c.decode(Double.self, forKey: .timestamp)
        apiVersion = try c.decode(Int.self, forKey: .apiVersion)
        replyTo = try c.decodeIfPresent(String.self, forKey: .replyTo)
        // `args` must be an object even when the event takes no arguments.
        _ = try c.nestedContainer(keyedBy: CodingKeys.self, forKey: .args)
    }

    /// Parses the head of an envelope; the error names what is wrong and where.
    public static func parse(_ data: Data, maximumSize: Int = maximumSize) throws(WireDecodingError) -> EnvelopeHead {
        try parseDocument(data, maximumSize: maximumSize).head
    }

    /// The head and the whole parsed envelope, from one parse.
    static func parseDocument(_ data: Data, maximumSize: Int) throws(WireDecodingError) -> (head: EnvelopeHead, document: JSONValue) {
        guard data.count <= maximumSize else {
            throw WireDecodingError(path: "", problem: "message of \(data.count) bytes exceeds the \(maximumSize)-byte limit")
        }
        let document = try JSONValue(parsing: data)
        return (try ZeekJSON.decode(EnvelopeHead.self, from: document), document)
    }
}

/// A received envelope whose head is known and whose arguments are decoded on demand, from
/// the one parse of its bytes.
public struct InboundMessage: Sendable {
    public let head: EnvelopeHead
    /// The contract topic it arrived on.
    public let topic: Topic
    /// The record it came in, as the bus carried it.
    public let record: WireRecord
    /// The whole envelope as parsed: arguments and `reqid` are decoded from it, not from the bytes again.
    public let document: JSONValue
    /// Who signed it, as the bus verified before handing it out; nil only on a bus that runs
    /// without signatures (``MessageSecurity/unsignedInsecure``).
    public internal(set) var authentication: Authentication?

    /// Parses a record of `topic`; the error names what is wrong and where. Records larger than
    /// `maximumSize` are refused unparsed (see ``EnvelopeHead/maximumSize``).
    public init(parsing record: WireRecord, on topic: Topic, maximumSize: Int = EnvelopeHead.maximumSize) throws(WireDecodingError) {
        (head, document) = try EnvelopeHead.parseDocument(record.value, maximumSize: maximumSize)
        self.topic = topic
        self.record = record
    }

    public var event: String { head.event }

    /// Where a response to this request goes: its topic's ``Topic/replies`` when `reply_to`
    /// names that, else its own topic. Any other `reply_to` is ignored: a request cannot make
    /// an endpoint write to an arbitrary topic.
    public var replyTopic: Topic {
        head.replyTo == topic.replies.name ? topic.replies : topic
    }

    /// Decodes the envelope as `Event`; errors name the argument path (`args.config.nodes[2].role: ...`).
    public func decode<Event: ManagementEvent>(_ type: Event.Type) throws(WireDecodingError) -> Envelope<Event> {
        guard head.event == Event.eventName else {
            throw WireDecodingError(path: "event", problem: "expected \(Event.eventName), got \(head.event)")
        }
        let arguments = try ZeekJSON.decode(Event.self, from: document["args"] ?? .null, pathPrefix: "args")
        return Envelope(event: arguments, sender: head.sender, target: head.target, timestamp: head.timestamp, apiVersion: head.apiVersion,
                        replyTo: head.replyTo.map(Topic.init))
    }

    /// The `reqid` argument, if the message has a string one: enough to answer a request whose
    /// other arguments do not decode, or to match a response without knowing its type.
    public var reqid: String? { Self.reqid(in: document) }

    /// The string `reqid` argument of an encoded envelope, if it has one.
    public static func reqid(in value: Data) -> String? {
        (try? JSONValue(parsing: value)).flatMap(reqid(in:))
    }

    private static func reqid(in document: JSONValue) -> String? {
        document["args"]?["reqid"]?.stringValue
    }

    /// The deadline of a request published at `head.timestamp` and served by an endpoint whose
    /// request timeout is `lifetime`, on `clock` (see ``RequestResponder``).
    public func deadline(lifetime: Duration, clock: any ManagementClock) -> ContinuousClock.Instant {
        clock.instant(atWallTime: head.timestamp + lifetime.timeInterval)
    }
}

/// The envelope exactly as serialised.
struct WireEnvelope<Args: Encodable & Sendable>: Encodable {
    var event: String
    var args: Args
    var sender: String
    var target: String?
    var ts: Double
    var apiVersion: Int
    var replyTo: String?

    init(event: String, args: Args, sender: String, target: String?, ts: Double, apiVersion: Int, replyTo: String? = nil) {
        self.event = event
        self.args = args
        self.sender = sender
        self.target = target
        self.ts = ts
        self.apiVersion = apiVersion
        self.replyTo = replyTo
    }

    enum CodingKeys: String, CodingKey {
        case event, args, sender, target, ts
        case apiVersion = "api_version"
        case replyTo = "reply_to"
    }
}
