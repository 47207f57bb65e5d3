#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Someone whose signature a service knows: an operator, a controller or a host.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An operator who may read (get-* commands).
        case readOperator = "read"
        /// An operator who may do everything: stage, deploy, restart.
        case deployOperator = "deploy"
        /// A controller: what agents take orders from.
        case controller
        /// One host: its agent, supervisor, relay and nodes share the key.
        case host

        public var isOperator: Bool { self == .readOperator || self == .deployOperator }
    }

    public var kind: Kind
    /// The operator's name, the controller's name, or the host's instance name.
    public var name: String
    public var key: VerifyingKey

    public init(kind: Kind, name: String, key: VerifyingKey) {
        self.kind = kind
        self.name = name
        self.key = key
    }

    public var description: String { "\(kind.rawValue) \(name)" }
}

/// The principals a service knows, by their key.
///
/// Written as a trust file, one principal per line (`#` starts a comment):
///
/// ```
/// # kind        name            public key (PEM body on one line, or a PEM file)
/// deploy        alice           MCowBQYDK2VwAyEA...
/// read          grafana         MCowBQYDK2VwAyEA...
/// controller    controller      /etc/zeek-mgmt/keys/controller.pub
/// host          agent-sensor-1  MCowBQYDK2VwAyEA...
/// ```
///
/// A key names one principal; a host's name appears once.
public struct Keyring: Sendable {
    public private(set) var principals: [Data: Principal] = [:]

    public init(_ principals: [Principal] = []) throws(KeyError) {
        for principal in principals { try add(principal) }
    }

    /// Adds `principal`; a key already known under another identity is refused.
    public mutating func add(_ principal: Principal) throws(KeyError) {
        if let known = principals[principal.key.raw], known != principal {
            throw KeyError("the key of \(principal) is already that of \(known); give each principal its own key")
        }
        if principal.kind == .host, let other = principals.values.first(where: { $0.kind == .host && $0.name == principal.name && $0.key != principal.key }) {
            throw KeyError("host \(principal.name) is listed twice, with different keys (\(other.key.line.suffix(8)) and \(principal.key.line.suffix(8)))")
        }
        principals[principal.key.raw] = principal
    }

    public func principal(signingWith key: Data) -> Principal? { principals[key] }

    /// The principals of `kind`.
    public func all(_ kind: Principal.Kind) -> [Principal] {
        principals.values.filter { $0.kind == kind }.sorted { $0.name < $1.name }
    }

    /// Parses a trust file's text; `directory` resolves relative key file paths.
    public init(parsing text: String, directory: String = ".") throws(KeyError) {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let fields = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !fields.isEmpty else { continue }
            let place = "line \(index + 1)"
            guard fields.count == 3 else {
                throw KeyError("\(place): expected `KIND NAME KEY`, got \(fields.count) field(s)")
            }
            guard let kind = Principal.Kind(rawValue: fields[0]) else {
                throw KeyError("\(place): unknown kind \"\(fields[0])\"; use one of \(Principal.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let keyText: String
            // A key on the line is base64 of a SubjectPublicKeyInfo (which may hold `/`); anything
            // else names a PEM file.
            if Data(base64Encoded: fields[2]) == nil {
                let path = fields[2].hasPrefix("/") ? fields[2] : directory + "/" + fields[2]
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw KeyError("\(place): cannot read the public key file \(path)")
                }
                keyText = String(decoding: data, as: UTF8.self)
            } else {
                keyText = fields[2]
            }
            do throws(KeyError) {
                try add(Principal(kind: kind, name: fields[1], key: try VerifyingKey(text: keyText)))
            } catch {
                throw KeyError("\(place): \(error.description)")
            }
        }
    }
}

/// A trust file that is read again when it changes, so an operator enrolls a host or adds an
/// operator by editing it, without restarting anything.
///
/// Only an unknown key makes it look at the file, at most once per ``recheckInterval``: known
/// keys cost nothing, and a flood of unknown ones costs one `stat` a second.
public final class TrustStore: Sendable {
    public let path: String?
    private let recheckInterval: Duration
    private struct State {
        var keyring: Keyring
        /// The file's modification time and size when read: an edit changes one of them (an
        /// append within the clock's granularity, the size).
        var modified: FileVersion?
        var lastCheck: ContinuousClock.Instant
        /// Principals added at run time (hosts approved through the controller).
        var added: [Principal] = []
        /// Why the file's current version could not be read.
        var problem: String?
    }
    private let state: Mutex<State>

    /// A fixed keyring, as tests and in-process clusters use.
    public init(_ keyring: Keyring) {
        path = nil
        recheckInterval = .seconds(1)
        state = Mutex(State(keyring: keyring, modified: nil, lastCheck: .now))
    }

    /// Reads the trust file at `path`.
    public init(file path: String, recheckInterval: Duration = .milliseconds(200)) throws(KeyError) {
        self.path = path
        self.recheckInterval = recheckInterval
        let (keyring, modified) = try Self.read(path)
        state = Mutex(State(keyring: keyring, modified: modified, lastCheck: .now))
    }

    public var keyring: Keyring { state.withLock { $0.keyring } }

    /// Who signs with `key`, if anyone this store knows. The file is looked at (at most once
    /// per ``recheckInterval``) on every lookup, so a key removed from it is revoked at once,
    /// also while its holder keeps using it.
    public func principal(signingWith key: Data) -> Principal? {
        reloadIfChanged()
        return state.withLock { $0.keyring.principal(signingWith: key) }
    }

    /// Why the trust file's last edit could not be read (the trust of before stays), if it could not.
    public var problem: String? { state.withLock { $0.problem } }

    /// Trusts `principal` from now on, beside the file (a host approved at run time).
    public func add(_ principal: Principal) throws(KeyError) {
        try state.withLock { state throws(KeyError) in
            try state.keyring.add(principal)
            state.added.append(principal)
        }
    }

    private func reloadIfChanged() {
        guard let path else { return }
        let due = state.withLock { state -> Bool in
            guard ContinuousClock.now - state.lastCheck >= recheckInterval else { return false }
            state.lastCheck = .now
            return true
        }
        guard due else { return }
        let modified = Self.version(of: path)
        guard modified != state.withLock({ $0.modified }) else { return }
        let loaded: (Keyring, FileVersion)
        do {
            loaded = try Self.read(path)
        } catch {
            // Kept as it was; said once per version of the file (``problem``), not per message.
            state.withLock { state in
                state.modified = modified
                state.problem = "\(error.description); the trust file as it was before this edit stays in force"
            }
            return
        }
        var keyring = loaded.0
        state.withLock { state in
            for principal in state.added { try? keyring.add(principal) }
            state.keyring = keyring
            state.modified = modified
            state.problem = nil
        }
    }

    struct FileVersion: Equatable {
        var modified: Date?
        var size: Int?
    }

    private static func version(of path: String) -> FileVersion {
        // Followed to the file itself: Kubernetes replaces a Secret's files by moving a symlink.
        let attributes = try? FileManager.default.attributesOfItem(atPath: resolvingSymlinks(path))
        let size = (attributes?[.size] as? Int) ?? (attributes?[.size] as? UInt64).map { Int(truncatingIfNeeded: $0) }
        return FileVersion(modified: attributes?[.modificationDate] as? Date, size: size)
    }

    private static func read(_ path: String) throws(KeyError) -> (Keyring, FileVersion) {
        let modified = version(of: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError("cannot read the trust file \(path); check --trust / ZEEK_MGMT_TRUST_FILE")
        }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        do throws(KeyError) {
            return (try Keyring(parsing: String(decoding: data, as: UTF8.self), directory: directory.isEmpty ? "/" : directory), modified)
        } catch {
            throw KeyError("trust file \(path), \(error.description)")
        }
    }
}
