import ManagementTypes

/// A `zeek.conf` file as Zeek's own reader (`parse_ini_like` in zeek/zeek's
/// `tools/systemd-generator`) splits it, with the line of every option kept for errors.
///
/// The grammar is Zeek's, not Python's `configparser` (which ``INIDocument`` follows for
/// zeek-client): options may stand before any section (the section-less style), a key starts
/// with a lower-case letter, digit or `_`, only `=` separates, an indented line adds a value to
/// the option above it (each value stays separate: `env` and `*_args` take several), `#` starts
/// a comment only at the beginning of a line, and a duplicate section or option is an error.
public struct ZeekConfDocument: Sendable, Hashable {
    public struct Option: Sendable, Hashable {
        /// The key as written, trimmed; compared lower-cased, as Zeek does.
        public var key: String
        /// The value and every continuation line's value, in order.
        public var values: [String]
        /// 1-based line of the key.
        public var line: Int

        /// The value of a single-valued option (the first; ``ZeekConfHost`` refuses more).
        public var value: String { values[0] }
        /// Every value joined by a space, as Zeek joins `*_args`.
        public var joined: String { values.filter { !$0.isEmpty }.joined(separator: " ") }
    }

    public struct Section: Sendable, Hashable {
        /// Empty for the options before any section header.
        public var name: String
        /// 1-based line of the header; 0 for the unnamed section.
        public var line: Int
        public var options: [Option]
    }

    /// Sections in file order; an unnamed section only when options stand before any header.
    public var sections: [Section]

    /// A line Zeek's reader refuses, with its 1-based number.
    public struct LineError: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var problem: String
        public var description: String { "line \(line): \(problem)" }
    }

    /// Reads `text`; throws every refused line, in order (Zeek reports them all at once).
    public init(parsing text: String) throws(ZeekConfProblems) {
        var errors: [LineError] = []
        var sections: [Section] = []
        var current = Section(name: "", line: 0, options: [])

        func finish() {
            if !current.options.isEmpty || !current.name.isEmpty { sections.append(current) }
        }

        var keysOfSection: Set<String> = []
        var sectionNames: Set<String> = []
        // Any line break, CRLF included (one Character in Swift, which a split on "\n" misses).
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            let line = Self.trimmingTrailingWhitespace(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let inSection = current.name.isEmpty ? "" : " in section '\(current.name)'"
            if line.hasPrefix("["), line.hasSuffix("]"), line.count > 2 {
                finish()
                let name = String(line.dropFirst().dropLast())
                if !sectionNames.insert(name).inserted {
                    errors.append(LineError(line: number, problem: "duplicate section '\(name)'"))
                }
                current = Section(name: name, line: number, options: [])
                keysOfSection = []
                continue
            }
            if let first = line.first, first.isWhitespace {
                let value = line.drop { $0.isWhitespace }
                guard !current.options.isEmpty else {
                    errors.append(LineError(line: number, problem: "unexpected continuation line '\(line)'\(inSection)"))
                    continue
                }
                current.options[current.options.count - 1].values.append(String(value))
                continue
            }
            guard let first = line.first, first == "_" || ("a"..."z").contains(first) || first.isASCII && first.isNumber,
                  let equals = line.firstIndex(of: "=") else {
                errors.append(LineError(line: number, problem: "invalid line '\(line)'\(inSection)"))
                continue
            }
            let key = line[..<equals].trimmingWhitespace()
            let value = line[line.index(after: equals)...].trimmingWhitespace()
            // Keys are compared as Zeek reads them, lower-cased: `port` and `Port` are one option.
            guard keysOfSection.insert(key.lowercased()).inserted else {
                errors.append(LineError(line: number, problem: "duplicate option '\(key)'\(inSection)"))
                continue
            }
            current.options.append(Option(key: key, values: [value], line: number))
        }
        finish()
        guard errors.isEmpty else { throw ZeekConfProblems(errors.map { ZeekConfProblem(file: "", line: $0.line, $0.problem) }) }
        self.sections = sections
    }

    private static func trimmingTrailingWhitespace(_ line: Substring) -> Substring {
        var line = line
        while let last = line.last, last.isWhitespace { line = line.dropLast() }
        return line
    }
}

/// One thing wrong in a `zeek.conf` file, where it is: `FILE:LINE: what` (Zeek's text for
/// the same mistake where Zeek has one), so an operator finds it as in a compiler's output.
public struct ZeekConfProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file as the operator named it; empty until the reader knows it.
    public var file: String
    /// 1-based; 0 when the problem is the file's as a whole.
    public var line: Int
    public var problem: String

    public init(file: String, line: Int, _ problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return place.isEmpty ? problem : "\(place): \(problem)"
    }
}

/// Every problem found in one reading; nothing of it is deployed.
public struct ZeekConfProblems: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [ZeekConfProblem]

    public init(_ problems: [ZeekConfProblem]) { self.problems = problems }

    /// The same problems, placed in `file`.
    func inFile(_ file: String) -> ZeekConfProblems {
        ZeekConfProblems(problems.map { var problem = $0; problem.file = file; return problem })
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
