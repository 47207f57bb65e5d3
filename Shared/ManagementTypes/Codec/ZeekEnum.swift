/// A Zeek enum, encoded on the wire by its fully qualified Zeek name (`"Management::RUNNING"`).
///
/// Conformers declare their cases with the bare Zeek names as raw values and the Zeek module
/// prefix once; encoding, decoding and error messages come from here.
public protocol ZeekEnum: RawRepresentable<String>, CaseIterable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The module prefix including the trailing `::`, e.g. `"Management::"`.
    static var zeekModule: String { get }
    /// Other spellings accepted when decoding (older Zeek versions), mapped to their case.
    static var decodingAliases: [String: Self] { get }
}

extension ZeekEnum {
    public static var decodingAliases: [String: Self] { [:] }

    /// The fully qualified Zeek name, e.g. `Supervisor::WORKER`.
    public var zeekName: String { Self.zeekModule + rawValue }

    public var description: String { zeekName }

    /// Accepts only the fully qualified name (or a declared alias), as Zeek does.
    public init?(zeekName: String) {
        if zeekName.hasPrefix(Self.zeekModule), let value = Self(rawValue: String(zeekName.dropFirst(Self.zeekModule.count))) {
            self = value
        } else if let alias = Self.decodingAliases[zeekName] {
            self = alias
        } else {
            return nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(zeekName)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = Self(zeekName: name) else {
            let expected = Self.allCases.map(\.zeekName).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "unknown value \"\(name.truncatedForDisplay)\" (expected one of \(expected))"
            )
        }
        self = value
    }
}

extension String {
    /// Long input echoed in an error message is cut, so a hostile 1 MiB value cannot flood logs.
    var truncatedForDisplay: String {
        count <= 80 ? self : String(prefix(77)) + "..."
    }
}
