import ManagementTypes

/// Renders JSON exactly as zeek-client prints it (Python's `json.dumps` with sorted keys,
/// two-space indentation unless compact, non-ASCII escaped), so scripts written against
/// zeek-client's output read ours unchanged.
enum PythonJSON {
    static func render(_ value: JSONValue, pretty: Bool) -> String {
        var output = ""
        write(value, pretty: pretty, level: 0, into: &output)
        return output
    }

    private static func write(_ value: JSONValue, pretty: Bool, level: Int, into output: inout String) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .int(let number): output += String(number)
        case .double(let number): output += pythonRepr(number)
        case .string(let text): output += quoted(text)
        case .array(let items):
            guard !items.isEmpty else { output += "[]"; return }
            output += "["
            for (index, item) in items.enumerated() {
                output += index == 0 ? opening(pretty, level) : separator(pretty, level)
                write(item, pretty: pretty, level: level + 1, into: &output)
            }
            output += closing(pretty, level) + "]"
        case .object(let members):
            guard !members.isEmpty else { output += "{}"; return }
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                output += index == 0 ? opening(pretty, level) : separator(pretty, level)
                output += quoted(key) + ": "
                write(members[key]!, pretty: pretty, level: level + 1, into: &output)
            }
            output += closing(pretty, level) + "}"
        }
    }

    private static func opening(_ pretty: Bool, _ level: Int) -> String {
        pretty ? "\n" + String(repeating: "  ", count: level + 1) : ""
    }

    private static func separator(_ pretty: Bool, _ level: Int) -> String {
        pretty ? ",\n" + String(repeating: "  ", count: level + 1) : ", "
    }

    private static func closing(_ pretty: Bool, _ level: Int) -> String {
        pretty ? "\n" + String(repeating: "  ", count: level) : ""
    }

    /// Python's float repr: a whole number keeps one decimal (`2.0`).
    private static func pythonRepr(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e16 ? String(Int64(number)) + ".0" : "\(number)"
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: result += "\\\""
            case 0x5C: result += "\\\\"
            case 0x0A: result += "\\n"
            case 0x0D: result += "\\r"
            case 0x09: result += "\\t"
            case 0x08: result += "\\b"
            case 0x0C: result += "\\f"
            case 0x20...0x7E: result.unicodeScalars.append(Unicode.Scalar(unit)!)
            default:
                let hex = String(unit, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return result + "\""
    }
}
