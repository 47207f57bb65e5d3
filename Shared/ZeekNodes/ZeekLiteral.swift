/// Tells literal Zeek values from expressions that do something.
///
/// An option's value becomes `redef name = value;`, which Zeek evaluates while it parses. A
/// literal — a number, bool, string, port, address, subnet, interval, enum or other
/// identifier, or a set, vector, table or record of those — is safe to evaluate; a call is
/// not (`system(...)` runs a shell command). So every `(` must open a group or a `set(...)`,
/// `vector(...)` or `table(...)` constructor, never follow a name or a value as a call does.
/// Strings are skipped whole, so what they contain does not count.
enum ZeekLiteral {
    /// What options accept, for error messages.
    static let accepted = "options take literal values only (numbers, bools, strings, ports, addresses, subnets, intervals, enums, "
        + "and sets, vectors, tables and records of them)"

    /// Constructors whose parentheses hold elements, not arguments of a call.
    private static let constructors: Set<String> = ["set", "vector", "table"]

    /// What ends up before a `(`: whether it would make the `(` a call.
    private enum Previous {
        /// Nothing, an operator, `(`, `[`, `{` or `,`: a `(` here opens a group.
        case start
        /// A name or number: a `(` here calls it (unless it is a constructor).
        case word(String)
        /// A string or a closing bracket: a `(` here calls what came before.
        case value
    }

    /// Why `value` is not a literal, or nil if it is.
    static func problem(in value: String) -> String? {
        var previous = Previous.start
        var index = value.startIndex
        while index < value.endIndex {
            let character = value[index]
            if character.isWhitespace {
                index = value.index(after: index)
                continue
            }
            if character == "\"" {
                guard let end = endOfString(in: value, openingAt: index) else { return "a string is not terminated" }
                previous = .value
                index = end
                continue
            }
            if isWordCharacter(character) {
                let start = index
                while index < value.endIndex, isWordCharacter(value[index]) { index = value.index(after: index) }
                previous = .word(String(value[start..<index]))
                continue
            }
            switch character {
            case "(":
                switch previous {
                case .word(let name) where !constructors.contains(name): return "it calls \(name)(...)"
                case .value: return "it calls the value before '('"
                default: previous = .start
                }
            case ")", "]", "}":
                previous = .value
            case "#", "@", "`":
                return "it contains '\(character)'"
            default:
                previous = .start
            }
            index = value.index(after: index)
        }
        return nil
    }

    /// Names, numbers, addresses (`10.0.0.1`, `fe80::1`), scoped names (`AF_Packet::FANOUT_HASH`).
    private static func isWordCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || character == "_" || character == ":" || character == "."
    }

    /// The index after the closing quote of the string opening at `start`; nil if it has none.
    private static func endOfString(in value: String, openingAt start: String.Index) -> String.Index? {
        var index = value.index(after: start)
        while index < value.endIndex {
            switch value[index] {
            case "\\":
                index = value.index(after: index)
                guard index < value.endIndex else { return nil }
            case "\"":
                return value.index(after: index)
            default:
                break
            }
            index = value.index(after: index)
        }
        return nil
    }
}
