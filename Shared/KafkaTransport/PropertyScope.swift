import CRdKafka

/// Which clients a librdkafka property applies to, as librdkafka itself documents it.
///
/// Operators give one list of properties (`--kafka-option`) for every client of a process, so
/// a consumer property such as `fetch.wait.max.ms` reaches producers too, and librdkafka warns
/// about it (CONFWARN) at every client start, in every process of every host. Each client
/// applies only the properties of its own kind instead.
enum PropertyScope: Sendable {
    case producer
    case consumer
    case both

    /// The scope of every global and topic property, read once from librdkafka's own table
    /// (`rd_kafka_conf_properties_show`: `name | C/P | range | default | importance | ...`).
    static let table: [String: PropertyScope] = {
        guard let text = capturedOutput({ rd_kafka_conf_properties_show($0) }) else { return [:] }
        var table: [String: PropertyScope] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(separator: "|", maxSplits: 2).map { $0.filter { !$0.isWhitespace } }
            guard columns.count == 3 else { continue }
            switch columns[1] {
            case "P": table[columns[0]] = .producer
            case "C": table[columns[0]] = .consumer
            case "*": table[columns[0]] = .both
            default: continue
            }
        }
        return table
    }()

    /// Whether a client of `kind` should apply `property` (unknown ones are applied, so that
    /// librdkafka rejects a misspelt name with its own message).
    static func applies(_ property: String, to kind: RdKafkaClient.Kind) -> Bool {
        switch table[property] {
        case .producer: kind == .producer
        case .consumer: kind == .consumer
        case .both, nil: true
        }
    }
}
