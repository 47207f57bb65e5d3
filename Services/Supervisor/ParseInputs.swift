import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What Zeek's parse of a node can read on this host besides what the node's configuration
/// says (its arguments, environment and generated files, which make up the check's key):
/// Zeek's executable, its script directories (`ZEEKPATH` after the node's own directory), its
/// plugin directories, the host policy's script roots and the project's node script.
///
/// A script may also name a file anywhere by path (`@load /etc/zeek/x.zeek`, `@load ../../x`);
/// ``ParseInputFingerprints`` follows those too.
struct ParseInputs: Sendable, Hashable {
    /// Walked whole, every entry and what it links to.
    var directories: [String]
    /// Scripts given by path, read for the paths they name.
    var scripts: [String]
    /// Other single files (Zeek's executable).
    var files: [String]
}

/// Fingerprints of ``ParseInputs``: a SHA-256 over the identity of every entry found
/// (path, type, device, inode, size, modification and change times; a missing path counts
/// too), so that a script edited, added, removed, renamed or replaced, a plugin installed or
/// Zeek upgraded changes it. The change time cannot be set back by a user (`touch` sets only
/// the modification time), so an edit that keeps size and modification time still shows.
///
/// This is what lets the supervisor skip a check whose inputs are unchanged: the parse it
/// would run reads nothing that differs from the parse that passed. Scripts are read once per
/// identity to find the paths they name outside the walked directories.
actor ParseInputFingerprints {
    /// Entries walked for one fingerprint at most: past it (an operator's script root that
    /// holds a whole file system) no fingerprint is taken, and every check runs.
    let maximumEntries: Int
    /// Scripts larger than this are not read for the paths they name, so they are not
    /// fingerprinted either (no check is skipped where they are loaded).
    static let maximumScriptSize = 4 << 20

    private struct Identity: Hashable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int, modifiedNanoseconds: Int, changed: Int, changedNanoseconds: Int
    }

    /// The paths each script named in its directives, by the script's identity.
    private var named: [Identity: [String]] = [:]

    init(maximumEntries: Int = 50_000) {
        self.maximumEntries = maximumEntries
    }

    /// The fingerprint of everything `inputs` covers now, or nil if it cannot be taken (too
    /// many entries, a script too large to read).
    func take(_ inputs: ParseInputs) -> SHA256Digest? {
        var walk = Walk(roots: inputs.directories.map(Self.normalized), limit: maximumEntries)
        for directory in walk.roots { walk.record(directory, named: &named) }
        for script in inputs.scripts { walk.record(Self.normalized(script), named: &named, isScript: true) }
        for file in inputs.files { walk.record(Self.normalized(file), named: &named) }
        // Files named by path outside the roots, and those they name in turn.
        while let path = walk.outside.popLast(), !walk.failed {
            walk.record(path, named: &named, isScript: true)
        }
        if named.count > 4 * maximumEntries { named = [:] }
        return walk.failed ? nil : walk.hasher.finalize()
    }

    /// `path` without `.` and `..` components and doubled slashes (absolute paths only).
    static func normalized(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": _ = components.popLast()
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    /// The paths `text` (a Zeek script in `directory`) names in `@load`, `@load-sigs` and
    /// `@include` directives that Zeek resolves against the script's own directory or the
    /// root (`/abs`, `./x`, `../x`), as absolute paths with the names Zeek tries for them.
    /// Names Zeek looks up through `ZEEKPATH` are left out: those directories are walked.
    static func namedPaths(in text: Substring, directory: String) -> [String] {
        var paths: [String] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("@load") || trimmed.hasPrefix("@include") else { continue }
            let words = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] != "@load-plugin" else { continue }
            let target = String(words[1].prefix { $0 != "#" })
            guard target.hasPrefix("/") || target.hasPrefix("./") || target.hasPrefix("../") || target == "." || target == ".." else { continue }
            let absolute = normalized(target.hasPrefix("/") ? target : "\(directory)/\(target)")
            paths += [absolute, absolute + ".zeek", absolute + ".sig", absolute + ".bro"]
        }
        return paths
    }

    /// One fingerprint being taken.
    private struct Walk {
        let roots: [String]
        let limit: Int
        var hasher = SHA256()
        var entries = 0
        var failed = false
        var directoriesSeen: Set<[UInt64]> = []
        var recorded: Set<String> = []
        /// Paths named by scripts that lie outside every root, still to record.
        var outside: [String] = []

        init(roots: [String], limit: Int) {
            self.roots = roots
            self.limit = limit
        }

        func isUnderRoot(_ path: String) -> Bool {
            roots.contains { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
        }

        mutating func add(_ text: String) {
            hasher.update(data: Array(text.utf8))
        }

        /// Records `path` (not followed if it is a link: the link and then its target),
        /// walks it if it is a directory, and reads it for named paths if it is a script
        /// (`isScript`: named as one, whatever its name).
        mutating func record(_ path: String, named: inout [Identity: [String]], isScript: Bool = false) {
            guard !failed, recorded.insert(path).inserted else { return }
            entries += 1
            guard entries <= limit else { failed = true; return }
            var info = stat()
            guard lstat(path, &info) == 0 else {
                add("\(path)\0absent\n")
                return
            }
            add("\(path)\0\(Self.describe(info))\n")
            if (info.st_mode & S_IFMT) == S_IFLNK {
                var target = stat()
                guard stat(path, &target) == 0 else {
                    add("\(path)\0dangling\n")
                    return
                }
                add("\(path)\0->\0\(Self.describe(target))\n")
                info = target
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard directoriesSeen.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted else { return }
                for name in Self.names(in: path) {
                    record(path == "/" ? "/\(name)" : "\(path)/\(name)", named: &named)
                    if failed { return }
                }
            case S_IFREG where isScript || path.hasSuffix(".zeek") || path.hasSuffix(".bro"):
                let identity = Self.identity(info)
                let paths: [String]
                if let known = named[identity] {
                    paths = known
                } else {
                    guard info.st_size <= ParseInputFingerprints.maximumScriptSize, let text = Self.read(path) else {
                        failed = true
                        return
                    }
                    let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
                    paths = ParseInputFingerprints.namedPaths(in: text[...], directory: directory.isEmpty ? "/" : directory)
                    named[identity] = paths
                }
                outside += paths.filter { !isUnderRoot($0) && !recorded.contains($0) }
            default:
                break
            }
        }

        static func identity(_ info: stat) -> Identity {
            Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                     modified: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec,
                     changed: info.st_ctim.tv_sec, changedNanoseconds: info.st_ctim.tv_nsec)
        }

        static func describe(_ info: stat) -> String {
            "\(info.st_mode)\0\(info.st_dev)\0\(info.st_ino)\0\(info.st_size)\0\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)\0\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
        }

        /// The names in directory `path`, sorted; none if it cannot be read (its identity is
        /// recorded all the same, and a change to it changes that).
        static func names(in path: String) -> [String] {
            guard let directory = opendir(path) else { return [] }
            defer { closedir(directory) }
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names.sorted()
        }

        static func read(_ path: String) -> String? {
            // Non-blocking: a FIFO put in the file's place since it was looked at must not hang the walk.
            let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard descriptor >= 0 else { return nil }
            defer { close(descriptor) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 { return nil }
                if count == 0 { break }
                bytes += buffer[..<count]
                guard bytes.count <= ParseInputFingerprints.maximumScriptSize else { return nil }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// Checks that passed, by their key (``NodeLaunch/checkKey``), with the fingerprint of what
/// their parse read; the oldest are forgotten past ``limit``.
struct PassedChecks {
    let limit: Int
    private var fingerprints: [String: SHA256Digest] = [:]
    private var order: [String] = []

    init(limit: Int = 256) {
        self.limit = limit
    }

    func passed(_ key: String, with fingerprint: SHA256Digest) -> Bool {
        fingerprints[key] == fingerprint
    }

    mutating func remember(_ key: String, with fingerprint: SHA256Digest) {
        if fingerprints.updateValue(fingerprint, forKey: key) == nil { order.append(key) }
        while order.count > limit { fingerprints[order.removeFirst()] = nil }
    }
}
