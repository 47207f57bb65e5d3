import Foundation
import LocalServers
import ManagementTypes
import Testing

/// zeek.conf deployed through zeek-mgmt to separate hosts (stand-in nodes: fast), files with
/// mistakes refused before anything reaches Kafka, and a client without a broker told so at once.
@Suite("zeek.conf deployed with zeek-mgmt")
struct ZeekConfDeployTests {
    /// Zeek's zeek-archiver where the test Zeeks put it; stand-in supervisors find none in PATH.
    static let zeekArchiver = ["/opt/zeek-lts/bin/zeek-archiver", "/opt/zeek-private/bin/zeek-archiver"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static let examples = LocalBroker.repositoryRoot.appendingPathComponent("examples/zeek-conf").path

    @Test("examples/zeek-conf on two hosts: every node RUNNING on the host its file names, with Zeek's names; a bad file deploys nothing",
          .enabled(if: zeekArchiver != nil || ProcessInfo.processInfo.environment["CI"] != nil,
                   "zeek-archiver is not installed (../shared/zeek/install puts it beside zeek); examples/zeek-conf's manager host archives"))
    func twoHostDirectory() async throws {
        let archiver = try #require(Self.zeekArchiver, "CI installs the test Zeeks with zeek-archiver")
        try await Cluster.run(instances: ["sensor-1", "sensor-2"], supervisorArguments: ["--zeek-archiver", archiver]) { cluster in
            var result = try await cluster.cli("deploy", Self.examples)
            #expect(result.status == 0, "deploy failed: \(result.stdout) \(result.stderr)")

            result = try await cluster.cli("get-nodes")
            let expected = [
                "sensor-1": ["manager", "sensor-1-logger-1", "sensor-1-proxy-1", "zeek-archiver"],
                "sensor-2": ["sensor-2-worker-lo-1", "sensor-2-worker-lo-2"],
            ]
            for (instance, nodes) in expected {
                guard case .object(let listed)? = result["results", instance] else {
                    Issue.record("no nodes of \(instance): \(result.stdout)")
                    continue
                }
                #expect(Set(listed.keys).subtracting([instance]) == Set(nodes), "\(instance): \(listed.keys.sorted())")
                for node in nodes { #expect(result["results", instance, node, "state"] == "RUNNING", "\(node): \(result.stdout)") }
            }
            #expect(result["results", "sensor-1", "sensor-1-logger-1", "port"] == .int(27761), "Zeek's port for the logger: \(result.stdout)")
            #expect(result["results", "sensor-2", "sensor-2-worker-lo-2", "metrics_port"] == .int(9992), "Zeek's metrics port: \(result.stdout)")

            // The deployed configuration renders back to the same files' meaning.
            result = try await cluster.cli("get-config", "--deployed", "--as-zeek-conf")
            #expect(result.status == 0 && result.stdout.contains("# ==> sensor-1.zeek.conf <==") && result.stdout.contains("logger_memory_max = 2G"),
                    "\(result.stdout) \(result.stderr)")
            let staged = try await cluster.cli("get-config")

            // Two managers: refused with both files named, before Kafka; the staged configuration stays.
            let bad = cluster.baseDirectory.appendingPathComponent("bad-cluster")
            try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
            try "manager = 1\n".write(to: bad.appendingPathComponent("sensor-1.zeek.conf"), atomically: true, encoding: .utf8)
            try "manager = 1\nloggers = 1\n".write(to: bad.appendingPathComponent("sensor-2.zeek.conf"), atomically: true, encoding: .utf8)
            result = try await cluster.cli("deploy", bad.path)
            #expect(result.status != 0 && result.stderr.contains("too many manager nodes (2)") && result.stderr.contains("configuration has errors, not sending"),
                    "\(result.stderr)")
            #expect(try await cluster.cli("get-config").stdout == staged.stdout, "a refused file changes nothing")
        }
    }

    @Test("archiver = PATH runs that program as the host's archiver only if the host policy lists it")
    func archiverProgramNeedsTheHostPolicy() async throws {
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("host-policy-\(UUID().uuidString)")
        try "archivers = /usr/bin/tail\n".write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        try await Cluster.run(instances: ["sensor-1"], supervisorArguments: ["--host-policy", policy.path]) { cluster in
            let directory = cluster.baseDirectory.appendingPathComponent("zeek-conf")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let file = directory.appendingPathComponent("sensor-1.zeek.conf")

            // Not listed: the check refuses it, naming the policy, and nothing runs.
            try "manager = 1\narchiver = /usr/bin/sleep\narchiver_args = 1000\n".write(to: file, atomically: true, encoding: .utf8)
            var result = try await cluster.cli("deploy", directory.path)
            #expect(result.status != 0 && (result.stdout + result.stderr).contains("archiver program /usr/bin/sleep is not among the programs this host lets a configuration run"),
                    "\(result.stdout) \(result.stderr)")

            // Listed: it runs, supervised as zeek-archiver, with the configuration's arguments.
            try "manager = 1\narchiver = /usr/bin/tail\narchiver_args = -f /dev/null\n".write(to: file, atomically: true, encoding: .utf8)
            result = try await cluster.cli("deploy", directory.path)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            result = try await cluster.cli("get-nodes")
            #expect(result["results", "sensor-1", "zeek-archiver", "state"] == "RUNNING", "\(result.stdout)")
            if case .int(let pid)? = result["results", "sensor-1", "zeek-archiver", "pid"] {
                let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
                #expect(commandLine.split(separator: "\0") == ["/usr/bin/tail", "-f", "/dev/null"], "\(commandLine)")
            } else {
                Issue.record("no pid for zeek-archiver: \(result.stdout)")
            }
        }
    }

    @Test("bad zeek.conf files are refused at their file and line before any broker is contacted", arguments: [
        ("unknown option", "manager = 1\nmanger_nice = 3\n", "zeek.conf:2: invalid key 'manger_nice'"),
        ("a worker section without an interface", "[zeek]\nmanager = 1\n[interface eth0]\nworkers = 2\n",
         "zeek.conf:3: found workers but no interface option in section 'interface eth0'"),
        ("a template variable that does not exist", "interface = af_packet::eth${nope}\nworkers = 1\n", "zeek.conf:1: interface: invalid substitution var 'nope'"),
        ("an unclosed section", "[interface eth0\ninterface = eth0\nworkers = 1\n", "zeek.conf:1: invalid line '[interface eth0'"),
    ])
    func badFiles(_ what: String, _ text: String, _ said: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("zeek.conf")
        try text.write(to: file, atomically: true, encoding: .utf8)
        // No broker listens there: the file alone decides, at once.
        let started = ContinuousClock.now
        let result = try await CLIResult.run(["deploy", file.path], brokers: "127.0.0.1:\(try freeLoopbackPort())")
        let elapsed = ContinuousClock.now - started
        #expect(result.status == 1 && result.stderr.contains(file.path + said.dropFirst("zeek.conf".count)), "\(what): \(result.stderr)")
        #expect(!result.stderr.contains("Kafka"), "\(what): checked before Kafka: \(result.stderr)")
        #expect(elapsed < .seconds(2), "\(what): \(elapsed)")
    }

    @Test("with no broker reachable, zeek-mgmt says so in one line within 2 seconds")
    func noBroker() async throws {
        let port = try freeLoopbackPort()
        let started = ContinuousClock.now
        let result = try await CLIResult.run(["get-nodes"], brokers: "127.0.0.1:\(port)")
        let elapsed = ContinuousClock.now - started
        #expect(result.status == 1)
        #expect(result.stderr == "error: cannot reach Kafka at 127.0.0.1:\(port): no broker answered (Connection refused). Check --brokers and that the broker is running.\n",
                "\(result.stderr)")
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }
}
