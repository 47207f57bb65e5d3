import Foundation
import ManagementTypes

/// What a deployment may do to this host, decided by the host rather than by whoever signed
/// the configuration: the users nodes run as, and the environment a configuration may give
/// them. Read by the supervisor from its host policy file (`--host-policy`); without one, the
/// safe defaults below.
///
/// The file has one `key = value` per line (`#` starts a comment); lists are separated by
/// spaces:
///
///     # /etc/zeek-mgmt/host-policy
///     user = zeek                 # every node type (default: zeek, else nobody)
///     user.worker = zeek-capture  # one node type: manager, logger, proxy or worker
///     users = zeek zeek-capture   # the users nodes may run as (default: zeek nobody)
///     env-keys = TZ MALLOC_ARENA_MAX            # only these (default: any but the refused ones)
///     preload-libraries = /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
///     script-roots = /etc/zeek/site-scripts     # besides Zeek's own script directories
///     interfaces = eth1 eth2                    # default: any
///     pcap-dirs = /var/lib/pcaps                # default: anywhere the node's user may read
///     archivers = /usr/local/bin/ship-logs      # programs a configuration may run as its
///                                               # log archiver (zeek.conf's archiver = PATH);
///                                               # default: none, only Zeek's zeek-archiver
///
/// A configuration never sets what the supervisor sets itself (``reservedKeys``) nor what
/// makes a process load code (``codeLoadingKeys``); `LD_PRELOAD` may name only libraries
/// listed in `preload-libraries`.
public struct HostPolicy: Sendable, Equatable {
    /// Where the policy was read from, named in every refusal; nil for the defaults.
    public var file: String?
    /// The user of every node type without a user of its own; nil: `zeek` if it exists, else `nobody`.
    public var user: String?
    /// Users by node type (`manager`, `logger`, `proxy`, `worker`).
    public var usersByType: [String: String] = [:]
    /// The users nodes may run as.
    public var allowedUsers: [String] = ["zeek", "nobody"]
    /// The environment keys a configuration may set; nil: any but the refused ones.
    public var environmentKeys: Set<String>?
    /// The libraries `LD_PRELOAD` may name.
    public var preloadLibraries: Set<String> = []
    /// Directories under which a script given by absolute path must lie, besides Zeek's own
    /// script directories (which are always roots).
    public var scriptRoots: [String] = []
    /// The interfaces nodes may capture on; nil: any.
    public var interfaces: Set<String>?
    /// Directories under which a node's `pcap_file` must lie; nil: anywhere the node's user may read.
    public var pcapDirectories: [String]?
    /// Programs a configuration may run instead of `zeek-archiver` (`archiver = PATH`).
    public var archiverPrograms: Set<String> = []

    public init(file: String? = nil) {
        self.file = file
    }

    /// The keys of a policy file.
    public static let keys = ["user", "user.<type>", "users", "env-keys", "preload-libraries", "script-roots", "interfaces", "pcap-dirs", "archivers"]

    /// The node types a user may be given for, as zeek.conf names them.
    public static let nodeTypes = ["manager", "logger", "proxy", "worker"]

    /// Keys the supervisor sets for every node (and every `ZEEK_MGMT_` key); nothing else may.
    public static let reservedKeys: Set<String> = ["CLUSTER_NODE", "ZEEK_SUPERVISED_NODE", "ZEEKPATH", "PATH"]

    /// The one `ZEEK_MGMT_` key a configuration carries: the node's options, checked as Zeek
    /// literals before any node starts.
    public static let optionsKey = Management.Option.environmentVariable

    /// Keys that make Zeek, the dynamic loader or a shell Zeek starts load code of the
    /// setter's choosing (a prefix when it ends in `*`).
    public static let codeLoadingKeys: [String] = [
        "LD_*", "ZEEK_PLUGIN_*", "GLIBC_TUNABLES", "BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4", "IFS",
        "PYTHON*", "PERL5*", "PERLLIB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "TMPDIR", "HOME",
        "GCONV_PATH", "OPENSSL_*", "LOCPATH", "NLSPATH", "ZEEK_PREFIXES", "HOSTALIASES", "RESOLV_HOST_CONF", "MALLOC_TRACE",
    ]

    /// Why `config` may not have its environment here, naming the rule and the policy file;
    /// nil if it may.
    public func environmentProblem(_ environment: [String: String]) -> String? {
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            if let problem = problem(key: key, value: value) { return "environment variable \(key): \(problem) (\(source))" }
        }
        return nil
    }

    private func problem(key: String, value: String) -> String? {
        guard let first = key.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic),
              key.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }) else {
            return "not a valid name (letters, digits and _, not starting with a digit)"
        }
        guard !value.contains("\0") else { return "the value holds a NUL byte" }
        if key == Self.optionsKey { return nil }
        if Self.reservedKeys.contains(key) || key.hasPrefix("ZEEK_MGMT_") { return "set by the supervisor; a configuration may not override it" }
        if key == "LD_PRELOAD" {
            let libraries = value.split(whereSeparator: { $0 == ":" || $0 == " " }).map(String.init)
            guard let outside = libraries.first(where: { !preloadLibraries.contains($0) }) else { return nil }
            return preloadLibraries.isEmpty
                ? "LD_PRELOAD is allowed only for the libraries listed in preload-libraries, and none are"
                : "LD_PRELOAD may name only \(preloadLibraries.sorted().joined(separator: ", ")) (preload-libraries), not \(outside)"
        }
        if let environmentKeys {
            return environmentKeys.contains(key) ? nil : "not among the keys configurations may set (env-keys: \(environmentKeys.sorted().joined(separator: " ")))"
        }
        // Without env-keys: anything but what loads code.
        if Self.codeLoadingKeys.contains(where: { $0.hasSuffix("*") ? key.hasPrefix($0.dropLast()) : key == $0 }) {
            return "it can make the node load code; list it in env-keys to allow it"
        }
        return nil
    }

    /// Why a node may not load `script`, naming the rule and the policy file; nil if it may.
    /// A script by relative name is found through ZEEKPATH (the node's directory and Zeek's own
    /// script directories, `zeekRoots`) and may not climb out with `..`; one by absolute path
    /// must lie under `zeekRoots` or the policy's `script-roots`.
    public func scriptProblem(_ script: String, zeekRoots: [String]) -> String? {
        let components = script.split(separator: "/")
        if components.contains("..") {
            return "script \(script) climbs out of its directory with '..' (\(source))"
        }
        guard script.hasPrefix("/") else { return nil }
        // Relative roots count for nothing: Zeek's default ZEEKPATH starts with `.`, which would
        // make a root of wherever the supervisor runs.
        let roots = (zeekRoots + scriptRoots).filter { $0.hasPrefix("/") }
        guard !Self.lies(script, underAnyOf: roots) else { return nil }
        return "script \(script) is outside the script roots (\(roots.isEmpty ? "none" : roots.joined(separator: " "))); list its directory in script-roots (\(source))"
    }

    /// Why a node may not capture on `interface` (Zeek's form, such as `af_packet::eth0`); nil if it may.
    public func interfaceProblem(_ interface: String) -> String? {
        guard let interfaces else { return nil }
        // A packet source prefix (`af_packet::`) is Zeek's; any other `:` would be cut by the
        // kernel (`mgmt0:eth1` captures on mgmt0).
        var name = Substring(interface)
        if let separator = interface.range(of: "::") { name = interface[separator.upperBound...] }
        guard name.contains(":") || !interfaces.contains(String(name)) else { return nil }
        return "interface \(interface) is not among the interfaces nodes may capture on (\(interfaces.sorted().joined(separator: " "))) (\(source))"
    }

    /// Why a node may not read `pcapFile`; nil if it may.
    public func pcapProblem(_ pcapFile: String) -> String? {
        guard let pcapDirectories else { return nil }
        guard !pcapFile.split(separator: "/").contains(".."), pcapFile.hasPrefix("/"), Self.lies(pcapFile, underAnyOf: pcapDirectories) else {
            return "pcap file \(pcapFile) is outside the pcap directories (\(pcapDirectories.joined(separator: " "))) (\(source))"
        }
        return nil
    }

    /// Whether `path`, with its links resolved, lies under one of `roots` (also resolved):
    /// a link inside a root cannot lead out of it.
    private static func lies(_ path: String, underAnyOf roots: [String]) -> Bool {
        let resolved = Self.resolved(path)
        return roots.contains { root in
            let base = Self.resolved(root)
            return resolved.hasPrefix(base == "/" ? "/" : base + "/")
        }
    }

    /// The real path where it exists, else the path without `.` components.
    private static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return URL(fileURLWithPath: path).standardizedFileURL.path }
        defer { free(real) }
        return String(cString: real)
    }

    /// How refusals name where the rule comes from.
    var source: String { file.map { "host policy \($0)" } ?? "the supervisor's default host policy; see --host-policy" }

    /// The user a node of `type` runs as, by name (before it is looked up).
    public func userName(forType type: String?, defaultUser: String) -> String {
        type.flatMap { usersByType[$0] } ?? user ?? defaultUser
    }
}

extension HostPolicy {
    /// A line of the policy file that cannot be used, named with the file and line.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a policy file; refuses unknown keys and users outside `users`.
    public init(contentsOf path: String) throws(Problem) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Problem(description: "cannot read the host policy \(path): \(error.localizedDescription)")
        }
        try self.init(parsing: text, file: path)
    }

    public init(parsing text: String, file: String) throws(Problem) {
        self.init(file: file)
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            func fail(_ problem: String) -> Problem { Problem(description: "\(file):\(index + 1): \(problem)") }
            guard let equals = line.firstIndex(of: "=") else { throw fail("expected key = value") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let words = value.split(separator: " ").map(String.init)
            switch key {
            case "user":
                guard words.count == 1 else { throw fail("user takes one user name") }
                user = words[0]
            case _ where key.hasPrefix("user."):
                let type = String(key.dropFirst("user.".count))
                guard Self.nodeTypes.contains(type) else { throw fail("unknown node type \(type) in \(key); the types are \(Self.nodeTypes.joined(separator: ", "))") }
                guard words.count == 1 else { throw fail("\(key) takes one user name") }
                usersByType[type] = words[0]
            case "users":
                guard !words.isEmpty else { throw fail("users lists at least one user") }
                allowedUsers = words
            case "env-keys":
                environmentKeys = Set(words)
            case "preload-libraries", "script-roots", "pcap-dirs", "archivers":
                if let relative = words.first(where: { !$0.hasPrefix("/") }) { throw fail("\(key) takes absolute paths, not \(relative)") }
                switch key {
                case "preload-libraries": preloadLibraries = Set(words)
                case "script-roots": scriptRoots = words
                case "archivers": archiverPrograms = Set(words)
                default: pcapDirectories = words
                }
            case "interfaces":
                interfaces = Set(words)
            default:
                throw fail("unknown key \(key); the keys are \(Self.keys.joined(separator: ", "))")
            }
        }
        for name in [user].compactMap({ $0 }) + usersByType.values.sorted() where !allowedUsers.contains(name) {
            throw Problem(description: "\(file): user \(name) is not among users (\(allowedUsers.joined(separator: " ")))")
        }
    }
}

extension HostPolicy {
    /// Why `program` may not run as a log archiver here; nil if it may.
    func archiverProblem(_ program: String) -> String? {
        guard !archiverPrograms.contains(program) else { return nil }
        return "archiver program \(program) is not among the programs this host lets a configuration run (archivers = \(archiverPrograms.sorted().joined(separator: " "))"
            + " in \(source)): add it there, or use archiver = 1 (Zeek's zeek-archiver)"
    }
}
