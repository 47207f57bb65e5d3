import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What Zeek's parse of a node can read on this host besides what the node's configuration
/// says (its arguments, environment and generated files, which make up the check's key):
/// Zeek's executable and libraries, its script directories (`ZEEKPATH` after the node's own
/// directory), its plugin directories, the host policy's script roots, the project's node
/// script, and the user database (whom a node runs as decides what it may read).
///
/// A script may also name a file anywhere by path (`@load /etc/zeek/x.zeek`, `@load ../../x`,
/// `redef signature_files += "/etc/zeek/x.sig"`); ``ParseInputFingerprints`` follows those.
struct ParseInputs: Sendable, Hashable {
    /// Walked whole, every entry and what it links to.
    var directories: [String]
    /// Scripts given by path, read for the paths they name.
    var scripts: [String]
    /// Other single files (Zeek's executable, `/etc/passwd`).
    var files: [String]
    /// Directories whose entries (not walked further) count as files: where Zeek's libraries are.
    var listed: [String] = []
}

/// Fingerprints of ``ParseInputs``: a SHA-256 over the identity of every entry found
/// (path, type and mode, owner, device, inode, size, modification and change times; a missing
/// path counts too), and of every directory above the walked ones (their modes decide whether
/// a node's user reaches them), so that a script edited, added, removed, renamed or replaced,
/// a directory closed to the node's user, a plugin installed or Zeek upgraded changes it. The
/// change time cannot be set back by a user (`touch` sets only the modification time), so an
/// edit that keeps size and modification time still shows.
///
/// This is what lets the supervisor skip a check whose inputs are unchanged: the parse it
/// would run reads nothing that differs from the parse that passed. No fingerprint is taken
/// (every check runs) where that cannot be told:
/// - a script that asks about files while it is parsed (`file_size`, `system`, `piped_exec`);
/// - inputs on a network or FUSE file system, whose attributes a client may cache;
/// - an entry changed a moment ago (``settledAfter``), too many entries, a script too large;
/// - a walk that does not end within ``walkTimeout`` (a hung mount): it is left to itself,
///   and past ``maximumWalks`` of them no other is started.
///
/// Scripts are read once per identity for the paths they name.
final class ParseInputFingerprints: Sendable {
    /// Entries walked for one fingerprint at most: past it (an operator's script root that
    /// holds a whole file system) no fingerprint is taken, and every check runs.
    let maximumEntries: Int
    /// Scripts larger than this are not read for the paths they name, so no fingerprint is
    /// taken where they are.
    static let maximumScriptSize = 4 << 20
    /// A fingerprint is not taken while an entry changed less than this long ago: file times
    /// move in ticks of the kernel's coarse clock (milliseconds), so two edits within one
    /// tick that keep the size look alike, and a fingerprint taken between them would stand
    /// for both (git's "racily clean" entries).
    let settledAfter: Duration
    /// How long a walk may take before the check runs without it.
    let walkTimeout: Duration
    /// Different walks at once at most (a check whose inputs are being walked already waits
    /// for that walk): walks a hung mount holds are not joined by more.
    static let maximumWalks = 8

    fileprivate struct Identity: Hashable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int, modifiedNanoseconds: Int, changed: Int, changedNanoseconds: Int
    }

    /// What a script read for: the paths it names, and whether it asks about files while parsed.
    fileprivate struct Reading: Sendable {
        var paths: [String]
        var readsFiles: Bool
    }

    private struct State {
        /// Each script's reading, by the script's identity.
        var readings: [Identity: Reading] = [:]
        /// Walks running now, each on its own thread, by what they walk, with everyone
        /// waiting for their outcome: the nodes of a deploy mostly read the same.
        var walks: [ParseInputs: [AsyncStream<SHA256Digest?>.Continuation]] = [:]
    }

    private let state = Mutex(State())

    init(maximumEntries: Int = 50_000, settledAfter: Duration = .seconds(2), walkTimeout: Duration = .seconds(10)) {
        self.maximumEntries = maximumEntries
        self.settledAfter = settledAfter
        self.walkTimeout = walkTimeout
    }

    /// The fingerprint of everything `inputs` covers now, or nil if it cannot be taken.
    ///
    /// The walk blocks in system calls, so it runs on a thread of its own, not on one of the
    /// few threads Swift's tasks share; a walk that outlives ``walkTimeout`` is abandoned.
    func take(_ inputs: ParseInputs) async -> SHA256Digest? {
        let (finished, result) = AsyncStream<SHA256Digest?>.makeStream()
        enum Start { case walk, join, refuse }
        let start = state.withLock { state -> Start in
            if state.walks[inputs] != nil {
                state.walks[inputs]!.append(result)
                return .join
            }
            guard state.walks.count < Self.maximumWalks else { return .refuse }
            state.walks[inputs] = [result]
            return .walk
        }
        switch start {
        case .refuse:
            return nil
        case .join:
            break
        case .walk:
            let thread = Thread { [self] in
                let digest = walk(inputs)
                let waiting = state.withLock { $0.walks.removeValue(forKey: inputs) } ?? []
                for continuation in waiting {
                    continuation.yield(digest)
                    continuation.finish()
                }
            }
            thread.name = "check-fingerprint"
            thread.start()
        }
        let timeout = walkTimeout
        return await withTaskGroup(of: SHA256Digest?.self) { group in
            group.addTask {
                for await digest in finished { return digest }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func walk(_ inputs: ParseInputs) -> SHA256Digest? {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let settled = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
            - Double(settledAfter.components.seconds) - Double(settledAfter.components.attoseconds) / 1e18
        var readings = state.withLock { $0.readings }
        var walk = Walk(roots: inputs.directories.map(Self.normalized), limit: maximumEntries, settled: settled, mounts: Self.mounts())
        for root in walk.roots { walk.recordAncestors(of: root) }
        for script in inputs.scripts { walk.record(Self.normalized(script), readings: &readings, isScript: true) }
        for root in walk.roots { walk.record(root, readings: &readings) }
        for file in inputs.files { walk.record(Self.normalized(file), readings: &readings) }
        for directory in inputs.listed.map(Self.normalized) {
            walk.record(directory, readings: &readings, walks: false)
            for name in Walk.names(in: directory) { walk.record("\(directory)/\(name)", readings: &readings, walks: false) }
        }
        // Files named by path outside the roots, and those they name in turn.
        while let path = walk.outside.popLast(), !walk.failed {
            walk.record(path, readings: &readings, isScript: true)
        }
        state.withLock { state in
            state.readings = readings.count > 4 * maximumEntries ? [:] : readings
        }
        return walk.failed || walk.unsettled ? nil : walk.hasher.finalize()
    }

    /// This host's mount points and their file system types (`/proc/self/mounts`), longest first.
    static func mounts() -> [(point: String, type: String)] {
        guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> (point: String, type: String)? in
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { return nil }
            // Spaces and the like in a mount point are written as octal escapes (`\040`).
            return (String(fields[1]).replacingOccurrences(of: "\\040", with: " "), String(fields[2]))
        }.sorted { $0.point.count > $1.point.count }
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

    /// Functions that read the file system or run programs, which a script may call while it
    /// is parsed (in `@if`, in a global's initializer): what they see is not fingerprinted.
    static let fileReadingFunctions = ["file_size(", "system(", "piped_exec(", "system_env("]

    /// The paths `text` (a Zeek script in `directory`) names that Zeek resolves against the
    /// script's own directory or the root, with the names Zeek tries for them: the targets of
    /// `@load`, `@load-sigs` and `@include` that start with `/` or `.`, and every string
    /// literal that is an absolute path to a script or signature file (`.zeek`, `.bro`,
    /// `.sig`: `redef signature_files += "/etc/zeek/x.sig"`, which the parse reads). Names
    /// Zeek looks up through `ZEEKPATH` are left out: those directories are walked. Directives
    /// are found anywhere on a line, commented out or not: more paths only make the
    /// fingerprint more cautious.
    static func namedPaths(in text: Substring, directory: String) -> [String] {
        var paths: [String] = []
        var rest = text[...]
        while let at = rest.firstIndex(of: "@") {
            rest = rest[rest.index(after: at)...]
            let word = rest.prefix { !$0.isWhitespace && $0 != "(" }
            guard ["load", "load-sigs", "include"].contains(word) else { continue }
            let target = rest[word.endIndex...].drop { $0 == " " || $0 == "\t" }.prefix { !$0.isWhitespace && $0 != "#" }
            guard target.hasPrefix("/") || target.hasPrefix(".") else { continue }
            let absolute = normalized(target.hasPrefix("/") ? String(target) : "\(directory)/\(target)")
            paths += [absolute, absolute + ".zeek", absolute + ".sig", absolute + ".bro"]
        }
        var quoted = text[...]
        while let open = quoted.firstIndex(of: "\"") {
            let body = quoted[quoted.index(after: open)...]
            guard let close = body.firstIndex(where: { $0 == "\"" || $0.isNewline }) else { break }
            let literal = body[..<close]
            if literal.hasPrefix("/"), [".sig", ".zeek", ".bro"].contains(where: { literal.hasSuffix($0) }) { paths.append(normalized(String(literal))) }
            quoted = body[close...].dropFirst()
        }
        return paths
    }

    /// Whether `text` calls a function that reads files or runs programs in a condition Zeek
    /// evaluates while it parses (`@if`, `@ifdef`, `@ifndef`).
    static func readsFiles(_ text: Substring) -> Bool {
        var rest = text[...]
        while let range = rest.firstRange(of: "@if") {
            let condition = rest[range.upperBound...].prefix { !$0.isNewline }
            if fileReadingFunctions.contains(where: { condition.contains($0) }) { return true }
            rest = rest[condition.endIndex...]
        }
        return false
    }

    /// One fingerprint being taken.
    private struct Walk {
        let roots: [String]
        let limit: Int
        var hasher = SHA256()
        var entries = 0
        var failed = false
        /// Wall-clock seconds before which every entry must have last changed.
        let settled: Double
        /// Whether an entry changed after ``settled``.
        var unsettled = false
        var directoriesSeen: Set<[UInt64]> = []
        var recorded: Set<String> = []
        var read: Set<String> = []
        /// Paths named by scripts that lie outside every root, still to record.
        var outside: [String] = []

        /// Mount points and their file system types, longest first.
        let mounts: [(point: String, type: String)]

        init(roots: [String], limit: Int, settled: Double, mounts: [(point: String, type: String)]) {
            self.roots = roots
            self.limit = limit
            self.settled = settled
            self.mounts = mounts
        }

        func isUnderRoot(_ path: String) -> Bool {
            roots.contains { Self.path(path, liesIn: $0) }
        }

        /// Whether `path` is `directory` or lies below it, by the text of both (normalized).
        static func path(_ path: String, liesIn directory: String) -> Bool {
            path == directory || path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
        }

        mutating func add(_ text: String) {
            hasher.update(data: Array(text.utf8))
        }

        /// The directories above `root`: their modes and owners decide whether a node's user
        /// reaches the root.
        mutating func recordAncestors(of root: String) {
            var path = root
            while let slash = path.lastIndex(of: "/"), path != "/" {
                path = slash == path.startIndex ? "/" : String(path[..<slash])
                guard recorded.insert(path + "/..").inserted else { return }
                var info = stat()
                // Who may pass, not when its entries last changed (a sibling of a root coming
                // and going changes nothing a parse reads; a root replaced changes the root).
                add(stat(path, &info) == 0 ? "\(path)\0above\0\(info.st_mode)\0\(info.st_uid):\(info.st_gid)\0\(info.st_dev)\0\(info.st_ino)\n" : "\(path)\0above\0absent\n")
                if !failed { failed = isRemote(path) }
            }
        }

        /// Records `path` (a link, then its target), walks it if it is a directory (and
        /// `walks`), and reads it for named paths if it is a script (named as one, or by its
        /// `.zeek`/`.bro` name).
        mutating func record(_ path: String, readings: inout [Identity: Reading], isScript: Bool = false, walks: Bool = true) {
            guard !failed else { return }
            let first = recorded.insert(path).inserted
            var info = stat()
            if first {
                entries += 1
                guard entries <= limit else { failed = true; return }
                guard lstat(path, &info) == 0 else {
                    add("\(path)\0absent\n")
                    return
                }
                add("\(path)\0\(Self.describe(info))\n")
                noteChange(info)
                if (info.st_mode & S_IFMT) == S_IFLNK {
                    var target = stat()
                    guard stat(path, &target) == 0 else {
                        add("\(path)\0dangling\n")
                        return
                    }
                    add("\(path)\0->\0\(Self.describe(target))\n")
                    noteChange(target)
                    info = target
                }
            } else {
                // Recorded already (found by a walk before it was named as a script): only
                // reading it may be left to do.
                guard isScript, !read.contains(path), stat(path, &info) == 0 else { return }
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard first, walks, directoriesSeen.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted else { return }
                if isRemote(path) {
                    failed = true
                    return
                }
                for name in Self.names(in: path) {
                    record(path == "/" ? "/\(name)" : "\(path)/\(name)", readings: &readings)
                    if failed { return }
                }
            case S_IFREG where isScript || path.hasSuffix(".zeek") || path.hasSuffix(".bro"):
                guard read.insert(path).inserted else { return }
                let identity = Self.identity(info)
                let reading: Reading
                if let known = readings[identity] {
                    reading = known
                } else {
                    guard info.st_size <= ParseInputFingerprints.maximumScriptSize, let text = Self.read(path) else {
                        failed = true
                        return
                    }
                    let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
                    reading = Reading(paths: ParseInputFingerprints.namedPaths(in: text[...], directory: directory.isEmpty ? "/" : directory),
                                      readsFiles: ParseInputFingerprints.readsFiles(text[...]))
                    readings[identity] = reading
                }
                if reading.readsFiles {
                    failed = true
                    return
                }
                outside += reading.paths.filter { !isUnderRoot($0) && !recorded.contains($0) }
            default:
                break
            }
        }

        mutating func noteChange(_ info: stat) {
            let changed = max(Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9, Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
            if changed >= settled { unsettled = true }
        }

        fileprivate static func identity(_ info: stat) -> Identity {
            Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                     modified: info.st_mtim.tv_sec, modifiedNanoseconds: info.st_mtim.tv_nsec,
                     changed: info.st_ctim.tv_sec, changedNanoseconds: info.st_ctim.tv_nsec)
        }

        static func describe(_ info: stat) -> String {
            "\(info.st_mode)\0\(info.st_uid):\(info.st_gid)\0\(info.st_dev)\0\(info.st_ino)\0\(info.st_size)\0"
                + "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)\0\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)"
        }

        /// Whether `path` lies on a file system whose attributes a client may cache or another
        /// host may change unseen: NFS, SMB/CIFS, Ceph, 9P, AFS, Lustre, GlusterFS, FUSE (sshfs
        /// and the like). From the mount table, not `statfs`, which a hung mount would block.
        func isRemote(_ path: String) -> Bool {
            guard let mount = mounts.first(where: { Self.path(path, liesIn: $0.point) }) else { return false }
            return ["nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p", "afs", "lustre", "glusterfs", "fuse", "fuseblk"].contains(mount.type)
                || mount.type.hasPrefix("fuse.")
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
