import Foundation

/// Who a node's process is: its user and group, the capabilities it keeps and its umask.
struct NodeCredentials: Sendable, Hashable {
    var user: String
    var uid: uid_t
    var gid: gid_t
    /// CAP_* bits kept as ambient capabilities (capture needs CAP_NET_RAW and CAP_NET_ADMIN).
    var capabilities: UInt64
}

/// The users nodes run as on this host, resolved once at start: Zeek parses hostile traffic,
/// so a worker exploited through a packet must not own the host. Give nodes a user no service
/// uses (the image's `zeek`, uid 10002, while the services are `zeek-mgmt`, uid 10001): a
/// node must not be able to read the host's key.
///
/// Zeek nodes and their `zeek --parse-only` checks run as the host policy's user for their
/// type: by default `zeek` where that user exists, else `nobody`. Workers keep only the
/// capabilities capture needs (CAP_NET_RAW, CAP_NET_ADMIN) as ambient capabilities; every
/// node runs with umask 027. A supervisor that is not root cannot switch users: its nodes
/// run as its own user, as it reports at start.
///
/// The stand-in `cluster-node` runs as the supervisor's user: it is a test double that speaks
/// Kafka with the host's key, which a node user cannot read.
public struct NodeIdentities: Sendable {
    /// The file mode creation mask of every node: group may read, others nothing.
    public static let umask: Int32 = 0o027
    /// CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
    static let captureCapabilities: UInt64 = (1 << 12) | (1 << 13)

    let policy: HostPolicy
    /// The resolved users nodes may run as, by name; empty where the supervisor cannot switch.
    private let users: [String: (uid: uid_t, gid: gid_t)]
    /// The user of node types the policy gives none.
    let defaultUser: String?
    /// Capture capabilities this supervisor has to hand on (a container may lack some).
    let capturable: UInt64

    /// Resolves the policy's users on this host; refuses a policy naming a user it lacks.
    /// `effectiveUID` and `permittedCapabilities` are this process's (tests give others).
    public init(policy: HostPolicy, effectiveUID: uid_t = geteuid(), permittedCapabilities: UInt64? = nil) throws(HostPolicy.Problem) {
        self.policy = policy
        guard effectiveUID == 0 else {
            users = [:]
            defaultUser = nil
            capturable = 0
            return
        }
        // Root without the means to switch (a container that dropped them) would run every
        // node as root: refused, with what to add.
        let permitted = permittedCapabilities ?? Self.ownCapabilities("CapPrm")
        let needed: [(bit: UInt64, name: String)] = [(0, "CHOWN"), (6, "SETGID"), (7, "SETUID")]
        let missing = needed.filter { permitted & (1 << $0.bit) == 0 }.map(\.name)
        guard missing.isEmpty else {
            throw HostPolicy.Problem(description: "this supervisor runs as root without \(missing.joined(separator: ", ")), which it needs to run nodes as a user of their own: "
                + "add the capabilities (Helm: supervisor.capabilities; compose: cap_add), or run the supervisor as an unprivileged user")
        }
        var users: [String: (uid: uid_t, gid: gid_t)] = [:]
        for name in policy.allowedUsers {
            guard let entry = Self.lookUp(name) else { continue }
            guard entry.uid != 0, entry.gid != 0 else {
                throw HostPolicy.Problem(description: "\(policy.source): user \(name) has uid \(entry.uid) and gid \(entry.gid); nodes never run as root or its group")
            }
            users[name] = entry
        }
        for name in [policy.user].compactMap({ $0 }) + policy.usersByType.values.sorted() where users[name] == nil {
            throw HostPolicy.Problem(description: "\(policy.source): user \(name) does not exist on this host")
        }
        guard let fallback = ["zeek", "nobody"].first(where: { users[$0] != nil }) ?? policy.allowedUsers.first(where: { users[$0] != nil }) else {
            throw HostPolicy.Problem(description: "\(policy.source): none of the users nodes may run as (\(policy.allowedUsers.joined(separator: " "))) exists on this host")
        }
        self.users = users
        defaultUser = fallback
        capturable = Self.captureCapabilities & permitted
    }

    /// Whether nodes run as users of their own (the supervisor is root).
    public var switchesUsers: Bool { defaultUser != nil }

    /// What the supervisor says at start about whom its nodes run as.
    public var summary: String {
        guard let defaultUser else {
            return "Zeek nodes run as this supervisor's user (uid \(geteuid())): only root can run them as a user of their own"
        }
        let byType = policy.usersByType.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        let capture = capturable == Self.captureCapabilities ? "CAP_NET_RAW and CAP_NET_ADMIN"
            : capturable == 0 ? "no capture capabilities (this supervisor has neither CAP_NET_RAW nor CAP_NET_ADMIN)"
            : "only \(capturable & (1 << 13) != 0 ? "CAP_NET_RAW" : "CAP_NET_ADMIN") (this supervisor lacks the other)"
        return "Zeek nodes and their checks run as \(policy.user ?? defaultUser)\(byType.isEmpty ? "" : " (\(byType.joined(separator: ", ")))"), "
            + "umask 027; workers keep \(capture)"
    }

    /// The credentials of a Zeek node of `type` (`worker`, ...), or nil where the supervisor
    /// cannot switch users. Workers that capture keep the capture capabilities.
    ///
    /// A configuration may ask for a user and group (zeek.conf's `user` and `group`): the user
    /// must be one the host policy lets nodes run as (`users`), the group that user's own or
    /// one it belongs to, never root's. A supervisor that cannot switch users honours only its
    /// own user and group, and refuses others rather than run the node as someone else.
    func credentials(forType type: String?, capture: Bool, user requested: String? = nil, group: String? = nil) throws(NodeLaunchError) -> NodeCredentials? {
        guard let defaultUser else {
            let own = Self.name(ofUser: geteuid())
            if let requested, requested != own {
                throw NodeLaunchError("user \(requested) was asked for, but this supervisor is not root and runs nodes as its own user (\(own ?? "uid \(geteuid())")): "
                    + "run the supervisor as root to switch users, or leave user out")
            }
            if let group, Self.lookUpGroup(group)?.gid != getegid() {
                throw NodeLaunchError("group \(group) was asked for, but this supervisor is not root and runs nodes with its own group: leave group out")
            }
            return nil
        }
        // A user the policy pins for this type cannot be traded for another (a worker, which
        // parses hostile traffic, must not run as the user that owns the archive).
        if let requested, let type, let pinned = policy.usersByType[type], requested != pinned {
            throw NodeLaunchError("user \(requested) was asked for, but the host policy runs \(type) nodes as \(pinned) (user.\(type) in \(policy.source))")
        }
        let name = requested ?? policy.userName(forType: type, defaultUser: defaultUser)
        guard let entry = users[name] else {
            throw NodeLaunchError("user \(name) is not among the users this host lets nodes run as (\(policy.allowedUsers.joined(separator: " ")), "
                + "from \(policy.source)): add it to the host policy's users, or ask for one of those")
        }
        var gid = entry.gid
        if let group {
            guard let found = Self.lookUpGroup(group) else { throw NodeLaunchError("group \(group) does not exist on this host") }
            guard found.gid != 0 else { throw NodeLaunchError("group \(group) is root's group (gid 0): nodes never run with it") }
            guard found.gid == entry.gid || found.members.contains(name) else {
                throw NodeLaunchError("user \(name) is not a member of group \(group): a node runs with its user's own group or one the user belongs to")
            }
            gid = found.gid
        }
        return NodeCredentials(user: name, uid: entry.uid, gid: gid, capabilities: capture ? capturable : 0)
    }

    private static func name(ofUser uid: uid_t) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: entry.pw_name)
    }

    private static func lookUpGroup(_ name: String) -> (gid: gid_t, members: [String])? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65_536)
        // A large group does not fit: grow until it does (ERANGE), up to 16 MiB.
        var status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        while status == ERANGE, buffer.count < 16 << 20 {
            buffer = [CChar](repeating: 0, count: buffer.count * 4)
            status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        }
        guard status == 0, result != nil else { return nil }
        var members: [String] = []
        var cursor = entry.gr_mem
        while let member = cursor?.pointee {
            members.append(String(cString: member))
            cursor = cursor?.advanced(by: 1)
        }
        return (entry.gr_gid, members)
    }

    /// Why some node user cannot reach `path` (a directory it must enter, or the Zeek it
    /// runs), naming the directory that closes it off; nil if every node user can. Checked at
    /// start: a node that cannot enter its directory would otherwise fail at every start.
    public func reachProblem(_ path: String, executable: Bool = false) -> String? {
        guard let defaultUser else { return nil }
        // Every user a node may run as: a configuration may ask for any of them.
        let names = Set([policy.user ?? defaultUser] + policy.usersByType.values + users.keys)
        for name in names.sorted() {
            guard let (uid, gid) = users[name] else { continue }
            let components = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
            var walked = ""
            let last = components.count - 1
            for (index, component) in components.enumerated() {
                walked = index == 0 ? "/" : (walked == "/" ? "/" : walked + "/") + component
                var info = stat()
                guard stat(walked, &info) == 0 else { break } // created later, by the supervisor
                let isTarget = index == last
                // Directories on the way must be searchable; the target itself entered (a
                // directory) or run (an executable).
                let bits: mode_t = info.st_uid == uid ? S_IXUSR : info.st_gid == gid ? S_IXGRP : S_IXOTH
                if info.st_mode & bits == 0 {
                    let what = isTarget ? (executable ? "cannot run \(walked)" : "cannot enter \(walked)") : "cannot enter \(walked) on the way to \(path)"
                    return "nodes run as \(name) (uid \(uid)), which \(what) (mode \(String(info.st_mode & 0o777, radix: 8)), owner uid \(info.st_uid))"
                }
            }
        }
        return nil
    }

    private static func lookUp(_ name: String) -> (uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }

    /// One capability set of this process (`CapPrm`, `CapEff`, ...), from /proc; 0 if unreadable.
    static func ownCapabilities(_ set: String) -> UInt64 {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("\(set):") }) else { return 0 }
        return UInt64(line.dropFirst(set.count + 1).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
    }
}

extension NodeCredentials {
    /// Gives the node's user its working directory, the directory alone: never what is in it
    /// (the node's user controls that, and a root that walks it could be led anywhere by a
    /// link). The directory is opened without following a link and changed through that
    /// descriptor. Its parent, the base directory, is the supervisor's, so the node cannot
    /// swap the directory itself.
    func own(_ directory: URL) throws {
        try Self.change(directory, to: uid, gid)
    }

    /// Takes the node's working directory back for the supervisor while it writes the node's
    /// files there before a start, the same way: the directory alone, through a descriptor.
    func reclaim(_ directory: URL) throws {
        try Self.change(directory, to: geteuid(), getegid())
    }

    private static func change(_ directory: URL, to uid: uid_t, _ gid: gid_t) throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw NodeLaunchError("cannot open the node directory \(directory.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard fchown(fd, uid, gid) == 0 else {
            throw NodeLaunchError("cannot give \(directory.path) to uid \(uid): \(String(cString: strerror(errno)))")
        }
    }
}
