import CSpawn
import Foundation
import ManagementTypes

/// How this supervisor holds nodes to their ``NodeLimits`` on this host, decided once at start
/// and reported in its log:
///
/// - **cgroup v2**, where the supervisor's own cgroup is delegated to it (a container with its
///   own cgroup namespace, or a systemd unit with `Delegate=yes`) and offers the memory
///   controller: each node gets a cgroup with `memory.max` (the kernel kills it there, counted
///   in `memory.events`) and, with the cpuset controller, `cpuset.cpus`. The supervisor moves
///   itself into a leaf (`supervisor`) first, as cgroup v2 allows no process beside child groups.
/// - **rlimits** everywhere else: `RLIMIT_DATA` (allocations fail past it: Zeek says "out of
///   memory" and exits) and CPU affinity, which a node could widen again for itself.
///
/// Nice levels are set for each node's process either way.
public struct NodeConfinement: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Nodes get cgroups under this directory.
        case cgroup(URL)
        /// Nodes get resource limits; says why cgroups are not used.
        case rlimits(reason: String)
    }

    public let mode: Mode
    /// The CPUs this supervisor may use: a node's `cpu_set` must be within them.
    public let allowedCPUs: [Int]
    /// Whether `cpuset.cpus` can be written for node cgroups.
    let cgroupCPUSets: Bool
    /// The nice level below which this supervisor cannot go (its own, or -20 with CAP_SYS_NICE).
    public let lowestNice: Int32

    public init(mode: Mode, allowedCPUs: [Int] = NodeConfinement.ownCPUs(), cgroupCPUSets: Bool = false,
                lowestNice: Int32 = NodeConfinement.ownLowestNice()) {
        self.mode = mode
        self.allowedCPUs = allowedCPUs
        self.cgroupCPUSets = cgroupCPUSets
        self.lowestNice = lowestNice
    }

    /// Limits through rlimits, without touching cgroups: the default, and what tests use.
    public static func resourceLimits(reason: String = "cgroups not tried") -> NodeConfinement {
        NodeConfinement(mode: .rlimits(reason: reason))
    }

    /// What the supervisor says at start.
    public var summary: String {
        switch mode {
        case .cgroup(let directory):
            "node limits: a cgroup v2 per node under \(directory.path) (memory.max\(cgroupCPUSets ? ", cpuset.cpus" : "; cpu_set by CPU affinity")), nice levels"
        case .rlimits(let reason):
            "node limits: RLIMIT_DATA for memory_max, CPU affinity for cpu_set, nice levels (no cgroup: \(reason))"
        }
    }

    // MARK: Checking a node's limits on this host

    /// Why this host cannot honour `limits` (with `cpuAffinity`); nil when it can. A limit the
    /// host cannot honour fails the node's check: it is never silently ignored.
    func problem(_ limits: NodeLimits?, cpuAffinity: Int?) -> String? {
        guard let limits else { return nil }
        if let problem = limits.problem { return problem }
        if let nice = limits.nice, Int32(nice) < lowestNice {
            return "nice \(nice) is below \(lowestNice), the lowest this supervisor may set: give it CAP_SYS_NICE (compose: cap_add SYS_NICE; "
                + "Helm: supervisor.capabilities) or use a level of \(lowestNice) or more"
        }
        if let cpus = limits.cpuSet {
            let allowed = Set(allowedCPUs)
            if let cpu = cpus.first(where: { !allowed.contains($0) }) {
                return "cpu_set names CPU \(cpu), which this host does not give its supervisor (it has \(NodeLimits.cpuListText(allowedCPUs)))"
            }
            if let cpuAffinity, !cpus.contains(cpuAffinity) {
                return "cpu_affinity \(cpuAffinity) is outside the node's cpu_set \(NodeLimits.cpuListText(cpus))"
            }
        }
        return nil
    }

    // MARK: Node cgroups

    /// The cgroup of the node whose directory is `name` (one plain name), created and given
    /// the node's limits; nil in rlimit mode or when the node has no memory or CPU limit.
    func cgroup(for name: String, limits: NodeLimits?) throws -> URL? {
        guard case .cgroup(let root) = mode, let limits, limits.memoryMax != nil || (cgroupCPUSets && limits.cpuSet != nil) else { return nil }
        let directory = root.appendingPathComponent("node-\(name)")
        if mkdir(directory.path, 0o755) != 0 && errno != EEXIST {
            throw NodeLaunchError("cannot create the cgroup \(directory.path): \(String(cString: strerror(errno)))")
        }
        try Self.write(limits.memoryMax.map(String.init) ?? "max", to: directory.appendingPathComponent("memory.max"))
        // The whole node goes at once, not one of its threads' allocations at random.
        try? Self.write("1", to: directory.appendingPathComponent("memory.oom.group"))
        if cgroupCPUSets, let cpus = limits.cpuSet {
            try Self.write(NodeLimits.cpuListText(cpus), to: directory.appendingPathComponent("cpuset.cpus"))
        }
        return directory
    }

    /// Removes a node's cgroup once its processes are gone (the kernel refuses otherwise).
    func removeCgroup(for name: String) {
        guard case .cgroup(let root) = mode else { return }
        rmdir(root.appendingPathComponent("node-\(name)").path)
    }

    /// How often the kernel killed a process of the cgroup at its memory limit.
    static func memoryKills(in cgroup: URL) -> Int {
        guard let events = try? String(contentsOf: cgroup.appendingPathComponent("memory.events"), encoding: .utf8) else { return 0 }
        for line in events.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == "oom_kill", let count = Int(fields[1]) { return count }
        }
        return 0
    }

    /// What the stderr of a process held to `RLIMIT_DATA` says when an allocation failed:
    /// Zeek's "out of memory in new.", C++'s `std::bad_alloc`, glibc's ENOMEM text.
    static func saysOutOfMemory(_ stderr: [String]) -> Bool {
        stderr.contains { line in
            ["out of memory", "bad_alloc", "Cannot allocate memory", "memory exhausted"].contains { line.localizedCaseInsensitiveContains($0) }
        }
    }

    // MARK: Detection

    /// Decides at start: cgroups when this process's cgroup v2 directory (under `root`, the
    /// file system root in production) offers the memory controller and lets the supervisor
    /// delegate it to node groups; else rlimits, with the reason.
    public static func detect(root: URL = URL(fileURLWithPath: "/"), pid: Int32 = getpid()) -> NodeConfinement {
        let proc = root.appendingPathComponent("proc/self")
        guard let membership = try? String(contentsOf: proc.appendingPathComponent("cgroup"), encoding: .utf8),
              let line = membership.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else {
            return .resourceLimits(reason: "this process is in no cgroup v2")
        }
        let path = String(line.dropFirst(3))
        guard let mountinfo = try? String(contentsOf: proc.appendingPathComponent("mountinfo"), encoding: .utf8),
              let mount = mountinfo.split(separator: "\n").first(where: { $0.contains(" - cgroup2 ") })?.split(separator: " ").dropFirst(4).first else {
            return .resourceLimits(reason: "no cgroup v2 file system is mounted")
        }
        let own = root.appendingPathComponent(String(mount)).appendingPathComponent(path)
        let controllers = (try? String(contentsOf: own.appendingPathComponent("cgroup.controllers"), encoding: .utf8)) ?? ""
        let available = Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init))
        guard available.contains("memory") else {
            return .resourceLimits(reason: "the memory controller is not available in \(own.path) (cgroup v1, or not delegated)")
        }
        let subtree = own.appendingPathComponent("cgroup.subtree_control")
        var enabled = Set(((try? String(contentsOf: subtree, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        if !enabled.contains("memory") {
            // A cgroup with controllers for its children holds no process itself: move into a leaf.
            let leaf = own.appendingPathComponent("supervisor")
            do {
                if mkdir(leaf.path, 0o755) != 0 && errno != EEXIST { throw NodeLaunchError("mkdir: \(String(cString: strerror(errno)))") }
                try write("\(pid)", to: leaf.appendingPathComponent("cgroup.procs"))
                try write("+memory", to: subtree)
                enabled.insert("memory")
                if available.contains("cpuset"), (try? write("+cpuset", to: subtree)) != nil { enabled.insert("cpuset") }
            } catch {
                return .resourceLimits(reason: "cannot delegate the memory controller in \(own.path): \(error)")
            }
        }
        return NodeConfinement(mode: .cgroup(own), cgroupCPUSets: enabled.contains("cpuset"))
    }

    /// The CPUs this process may run on.
    public static func ownCPUs() -> [Int] {
        var cpus = [Int32](repeating: 0, count: NodeLimits.cpuLimit)
        let count = zm_allowed_cpus(&cpus, Int32(cpus.count))
        guard count > 0 else { return Array(0..<ProcessInfo.processInfo.activeProcessorCount) }
        return cpus.prefix(Int(count)).map(Int.init)
    }

    /// -20 with CAP_SYS_NICE (effective), else this process's own nice level.
    public static func ownLowestNice() -> Int32 {
        if NodeIdentities.ownCapabilities("CapEff") & (1 << 23) != 0 { return -20 }
        errno = 0
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    private static func write(_ text: String, to file: URL) throws {
        let fd = open(file.path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NodeLaunchError("cannot open \(file.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard Foundation.write(fd, bytes, bytes.count) == bytes.count else {
            throw NodeLaunchError("cannot write \(text) to \(file.path): \(String(cString: strerror(errno)))")
        }
    }
}
