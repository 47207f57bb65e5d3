import Foundation
import ManagementMessaging
import ManagementTypes
@testable import NodeSupervision
import Testing

/// How the supervisor holds nodes to their limits: what it checks against the host, how it
/// backs off, how it tells a node that ran out of memory, and how it sets up cgroups.
@Suite("Node confinement")
struct NodeConfinementTests {
    let twoCPUs = NodeConfinement(mode: .rlimits(reason: "test"), allowedCPUs: [0, 1], lowestNice: 0)

    @Test func refusesWhatTheHostCannotHonour() {
        #expect(twoCPUs.problem(nil, cpuAffinity: nil) == nil)
        #expect(twoCPUs.problem(NodeLimits(memoryMax: 1 << 30, nice: 5, cpuSet: [1], restartIntervalSec: 2), cpuAffinity: 1) == nil)
        #expect(twoCPUs.problem(NodeLimits(cpuSet: [0, 7]), cpuAffinity: nil)?.contains("cpu_set names CPU 7, which this host does not give its supervisor (it has 0,1)") == true)
        #expect(twoCPUs.problem(NodeLimits(cpuSet: [0]), cpuAffinity: 1)?.contains("cpu_affinity 1 is outside the node's cpu_set 0") == true)
        #expect(twoCPUs.problem(NodeLimits(nice: -5), cpuAffinity: nil)?.contains("nice -5 is below 0, the lowest this supervisor may set: give it CAP_SYS_NICE") == true)
        let privileged = NodeConfinement(mode: .rlimits(reason: "test"), allowedCPUs: [0], lowestNice: -20)
        #expect(privileged.problem(NodeLimits(nice: -5), cpuAffinity: nil) == nil)
        #expect(twoCPUs.problem(NodeLimits(memoryMax: 0), cpuAffinity: nil)?.contains("memory_max 0") == true, "the wire may carry what no file would")
        #expect(twoCPUs.problem(NodeLimits(cpuSet: []), cpuAffinity: nil)?.contains("cpu_set is empty") == true)
    }

    @Test func backsOffFromTheRestartInterval() {
        let max = Duration.seconds(60)
        #expect((1...7).map { NodeSupervisor.backoff(failures: $0, interval: nil, maximum: max) } == [1, 1, 1, 2, 2, 2, 4].map { .seconds($0) }, "Zeek's back-off")
        #expect((1...7).map { NodeSupervisor.backoff(failures: $0, interval: 5, maximum: max) } == [5, 5, 5, 10, 10, 10, 20].map { .seconds($0) })
        #expect((1...4).map { NodeSupervisor.backoff(failures: $0, interval: 0, maximum: max) } == [0, 0, 0, 2].map { .seconds($0) }, "0 never spins")
        #expect(NodeSupervisor.backoff(failures: 40, interval: nil, maximum: max) == .seconds(60))
        #expect(NodeSupervisor.backoff(failures: 40, interval: 120, maximum: max) == .seconds(120), "an interval longer than the cap is kept")
    }

    @Test func tellsAnOutOfMemoryExitUnderRLIMIT_DATA() {
        let watch = MemoryWatch(confinement: ProcessConfinement(dataLimit: 400 << 20), memoryMax: 400 << 20)
        let exited = ExitStatus(raw: 1 << 8)
        let (how, reason) = watch.verdict(exited, stderr: ["out of memory in new.", "fatal error: out of memory in new."])
        #expect(reason == .memory)
        #expect(how == "ran out of memory at its memory limit of 400M (RLIMIT_DATA): exited with status 1")
        #expect(watch.verdict(exited, stderr: ["fatal error: bad script"]).1 == nil, "another failure is not blamed on memory")
        #expect(watch.verdict(ExitStatus(raw: 0), stderr: ["out of memory"]).1 == nil, "a clean exit is not a memory kill")
        let unlimited = MemoryWatch(confinement: ProcessConfinement(), memoryMax: nil)
        #expect(unlimited.verdict(exited, stderr: ["out of memory"]).1 == nil, "without a limit, running out is the host's, not the node's")
    }

    /// A cgroup v2 tree as the kernel shows it to a delegated container, in a temporary
    /// directory: detection delegates the memory controller and nodes get their own groups.
    @Test func delegatesCgroupsWhereTheMemoryControllerIsOffered() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let own = root.appendingPathComponent("sys/fs/cgroup/sensor")
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("proc/self"), withIntermediateDirectories: true)
        try "0::/sensor\n".write(to: root.appendingPathComponent("proc/self/cgroup"), atomically: true, encoding: .utf8)
        try "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n".write(to: root.appendingPathComponent("proc/self/mountinfo"), atomically: true, encoding: .utf8)
        try "cpuset cpu io memory pids\n".write(to: own.appendingPathComponent("cgroup.controllers"), atomically: true, encoding: .utf8)
        try "".write(to: own.appendingPathComponent("cgroup.subtree_control"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: own.appendingPathComponent("supervisor"), withIntermediateDirectories: true)
        try "".write(to: own.appendingPathComponent("supervisor/cgroup.procs"), atomically: true, encoding: .utf8)

        let confinement = NodeConfinement.detect(root: root, pid: 4242)
        guard case .cgroup(let directory) = confinement.mode else {
            Issue.record("a delegated cgroup v2 with the memory controller gets node cgroups, not \(confinement.mode)")
            return
        }
        #expect(directory.standardizedFileURL.path == own.path)
        #expect(try String(contentsOf: own.appendingPathComponent("supervisor/cgroup.procs"), encoding: .utf8) == "4242", "the supervisor moved into a leaf")
        #expect(confinement.summary.contains("a cgroup v2 per node"))

        // The kernel makes these files in a new group; here the test does.
        let node = own.appendingPathComponent("node-worker-1")
        try FileManager.default.createDirectory(at: node, withIntermediateDirectories: true)
        for file in ["memory.max", "memory.oom.group", "cpuset.cpus"] { try "".write(to: node.appendingPathComponent(file), atomically: true, encoding: .utf8) }
        let made = try confinement.cgroup(for: "worker-1", limits: NodeLimits(memoryMax: 64 << 20, cpuSet: [0, 1]))
        #expect(made?.standardizedFileURL.path == node.path)
        #expect(try String(contentsOf: node.appendingPathComponent("memory.max"), encoding: .utf8) == "\(64 << 20)")
        #expect(try String(contentsOf: node.appendingPathComponent("memory.oom.group"), encoding: .utf8) == "1")
        #expect(try String(contentsOf: node.appendingPathComponent("cpuset.cpus"), encoding: .utf8) == "0,1")
        #expect(try confinement.cgroup(for: "worker-2", limits: NodeLimits(nice: 3)) == nil, "no memory or CPU limit, no cgroup")

        try "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 1\n".write(to: node.appendingPathComponent("memory.events"), atomically: true, encoding: .utf8)
        #expect(NodeConfinement.memoryKills(in: node) == 2)
    }

    @Test func fallsBackToRLimitsAndSaysWhy() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("proc/self"), withIntermediateDirectories: true)
        try "4:memory:/x\n0::/\n".write(to: root.appendingPathComponent("proc/self/cgroup"), atomically: true, encoding: .utf8)
        try "30 24 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n".write(to: root.appendingPathComponent("proc/self/mountinfo"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sys/fs/cgroup/unified"), withIntermediateDirectories: true)
        try "\n".write(to: root.appendingPathComponent("sys/fs/cgroup/unified/cgroup.controllers"), atomically: true, encoding: .utf8)
        let confinement = NodeConfinement.detect(root: root)
        guard case .rlimits(let reason) = confinement.mode else {
            Issue.record("a hybrid cgroup v1 host gets rlimits, not \(confinement.mode)")
            return
        }
        #expect(reason.contains("the memory controller is not available"))
        #expect(confinement.summary.contains("RLIMIT_DATA"))
        #expect(try confinement.cgroup(for: "w", limits: NodeLimits(memoryMax: 1 << 30)) == nil)
    }
}
