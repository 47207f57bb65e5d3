import ManagementTypes

/// An INI document as Python's `configparser` reads it (with `allow_no_value=True`), so that
/// files written for zeek-client parse here exactly as they do there.
///
/// Sections keep their order; option names are case-insensitive (stored lower-cased); `key = value`
/// and `key: value` are both accepted; a key alone has no value; indented lines continue the
/// previous value; lines starting with `#` or `;` are comments; `[DEFAULT]` supplies values to
/// every section.
public struct INIDocument: Sendable, Hashable {
    public struct Section: Sendable, Hashable {
        public var name: String
        /// Options in file order; a `nil` value is a key written without `=`.
        public var entries: [(key: String, value: String?)]

        public init(name: String, entries: [(key: String, value: String?)] = []) {
            self.name = name
            self.entries = entries
        }

        public subscript(key: String) -> String?? {
            entries.first { $0.key == key.lowercased() }.map(\.value)
        }

        public func contains(_ key: String) -> Bool { self[key] != nil }

        public static func == (lhs: Section, rhs: Section) -> Bool {
            lhs.name == rhs.name && lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(name)
            for entry in entries {
                hasher.combine(entry.key)
                hasher.combine(entry.value)
            }
        }
    }

    public var sections: [Section]

    public init(sections: [Section] = []) {
        self.sections = sections
    }

    public subscript(section name: String) -> Section? {
        sections.first { $0.name == name }
    }

    /// A line that cannot be read, with its 1-based line number.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var problem: String
        public var description: String { "line \(line): \(problem)" }
    }

    public init(parsing text: String) throws(ParseError) {
        var sections: [Section] = []
        var defaults = Section(name: "DEFAULT")
        var current: Section?
        var lastKey: String?

        func finish() {
            guard let section = current else { return }
            if section.name == "DEFAULT" { defaults = section } else { sections.append(section) }
        }

        // Any line break, CRLF included (one Character in Swift, which a split on "\n" misses).
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine[...]
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") {
                if trimmed.isEmpty { lastKey = nil }
                continue
            }
            let indented = line.first?.isWhitespace == true
            if indented, let key = lastKey, let position = current?.entries.lastIndex(where: { $0.key == key }),
               let value = current?.entries[position].value {
                current?.entries[position].value = value + "\n" + trimmed
                continue
            }
            if trimmed.hasPrefix("[") && trimmed.hasSuffix("]") && trimmed.count > 2 {
                finish()
                let name = String(trimmed.dropFirst().dropLast())
                if sections.contains(where: { $0.name == name }) || (name == "DEFAULT" && !defaults.entries.isEmpty) {
                    throw ParseError(line: number, problem: "section '\(name)' already exists")
                }
                current = Section(name: name)
                lastKey = nil
                continue
            }
            if trimmed.hasPrefix("["), !trimmed.contains("]") {
                throw ParseError(line: number, problem: "section header \"\(trimmed)\" is not closed with ']'")
            }
            guard current != nil else {
                throw ParseError(line: number, problem: "no section header before \"\(trimmed)\"")
            }
            let delimiter = trimmed.firstIndex { $0 == "=" || $0 == ":" }
            let key = (delimiter.map { trimmed[..<$0] } ?? trimmed[...]).trimmingWhitespace().lowercased()
            let value = delimiter.map { String(trimmed[trimmed.index(after: $0)...].trimmingWhitespace()) }
            guard !key.isEmpty else {
                throw ParseError(line: number, problem: "option without a name: \"\(trimmed)\"")
            }
            if current?.contains(key) == true {
                throw ParseError(line: number, problem: "option '\(key)' in section '\(current!.name)' already exists")
            }
            current?.entries.append((key, value))
            lastKey = key
        }
        finish()
        if !defaults.entries.isEmpty {
            for index in sections.indices {
                for entry in defaults.entries where !sections[index].contains(entry.key) {
                    sections[index].entries.append(entry)
                }
            }
        }
        self.sections = sections
    }

    /// The document as `configparser.write` renders it: `key = value` (or `key` alone), a
    /// blank line after each section.
    public var text: String {
        var text = ""
        for section in sections {
            text += "[\(section.name)]\n"
            for entry in section.entries {
                if let value = entry.value {
                    text += "\(entry.key) = \(value.replacingNewlines(with: "\n\t"))\n"
                } else {
                    text += "\(entry.key)\n"
                }
            }
            text += "\n"
        }
        return text
    }
}

extension StringProtocol {
    func replacingNewlines(with replacement: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// Splits a value into words as Python's `shlex.split` does in POSIX mode: whitespace
/// separates words, single quotes keep everything, double quotes keep everything but
/// backslash escapes of `"` and `\`, a backslash outside quotes escapes the next character.
public func shellWords(_ text: String) throws(ShellWordsError) -> [String] {
    var words: [String] = []
    var word = ""
    var inWord = false
    var iterator = text.makeIterator()
    while let character = iterator.next() {
        switch character {
        case "'":
            inWord = true
            while true {
                guard let next = iterator.next() else { throw ShellWordsError(text: text, problem: "no closing quotation") }
                if next == "'" { break }
                word.append(next)
            }
        case "\"":
            inWord = true
            while true {
                guard let next = iterator.next() else { throw ShellWordsError(text: text, problem: "no closing quotation") }
                if next == "\"" { break }
                if next == "\\" {
                    guard let escaped = iterator.next() else { throw ShellWordsError(text: text, problem: "no closing quotation") }
                    if escaped != "\"" && escaped != "\\" { word.append("\\") }
                    word.append(escaped)
                } else {
                    word.append(next)
                }
            }
        case "\\":
            inWord = true
            guard let escaped = iterator.next() else { throw ShellWordsError(text: text, problem: "no escaped character") }
            word.append(escaped)
        case let c where c.isWhitespace:
            if inWord { words.append(word) }
            word = ""
            inWord = false
        default:
            inWord = true
            word.append(character)
        }
    }
    if inWord { words.append(word) }
    return words
}

public struct ShellWordsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var text: String
    public var problem: String
    public var description: String { "\(problem) in \"\(text)\"" }
}
