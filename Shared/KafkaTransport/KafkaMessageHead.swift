import CRdKafka
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a consumer's filter sees of a fetched record, read straight from librdkafka before
/// anything is copied: where the record is, whether its key is a given one, and its headers.
/// Not the value.
///
/// Control-plane topics are shared: every agent reads the records addressed to every other
/// agent. Deciding from the headers alone (the `target` header) lets a consumer drop those on
/// its poll thread, without copying their payload into `Data` and without waking its reader.
///
/// The head borrows librdkafka's message, which is released as soon as the filter returns.
/// That is why it is `~Copyable` and filters receive it `borrowing`: it cannot be stored or
/// escape the call, so nothing can read the message after it is gone.
public struct KafkaMessageHead: ~Copyable {
    private let message: UnsafeMutablePointer<rd_kafka_message_t>

    /// Takes the pointer librdkafka handed out (not a copy of the struct): header accessors
    /// find the enclosing internal message from it.
    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        self.message = message
    }

    public var topic: String {
        message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
    }

    public var partition: Int32 { message.pointee.partition }

    public var offset: Int64 { message.pointee.offset }

    /// Whether the record's key is `expected`, compared in place without copying it.
    public func hasKey(_ expected: Data) -> Bool {
        let length = message.pointee.key_len
        guard length == expected.count else { return false }
        guard length > 0 else { return true }
        guard let key = message.pointee.key else { return false }
        return expected.elementsEqual(UnsafeRawBufferPointer(start: key, count: length))
    }

    /// The first header called `name`, as ``KafkaMessage/header(_:)`` answers for the delivered
    /// record, so a filter and the reader never disagree on a header that occurs twice. Copies
    /// only that header's value.
    public func header(_ name: String) -> KafkaHeader? {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get(headers, 0, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaHeader(name: name, value: value.map { Data(bytes: $0, count: size) })
    }

    /// Every header, in the record's order.
    public var headers: [KafkaHeader] { KafkaHeader.all(of: message) }
}

extension KafkaHeader {
    /// The headers of a message librdkafka handed out, copied, in order.
    static func all(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return headers }
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            if let name {
                headers.append(KafkaHeader(name: String(cString: name), value: value.map { Data(bytes: $0, count: size) }))
            }
            index += 1
        }
        return headers
    }
}
