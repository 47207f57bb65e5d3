import ClusterConfiguration
import ManagementTypes
import Testing

/// zeek.conf files an operator gets wrong: each problem is reported at its file and line, in
/// words that name the option, and nothing is read.
@Suite("zeek.conf mistakes")
struct ZeekConfFileTests {
    func problems(_ files: [String: String]) -> [String] {
        do {
            _ = try ZeekConfFile.read(files.map { ZeekConfFile.Source(path: $0.key, text: $0.value) }, id: "x", defaultInstance: "agent-test")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test("an unknown option is refused at its line, also in a section-less file (where Zeek ignores it)")
    func unknownOption() {
        #expect(problems(["zeek.conf": "manager = 1\n\nmanger_nice = 3\n"]) == ["zeek.conf:3: invalid key 'manger_nice'"])
        #expect(problems(["zeek.conf": "[zeek]\nmanager = 1\nlogers = 2\n"]) == ["zeek.conf:3: invalid key 'logers' in section 'zeek'"])
        #expect(problems(["zeek.conf": "[zeek]\n[intreface eth0]\ninterface = eth0\nworkers = 1\n"])
            == ["zeek.conf:2: unknown section 'intreface eth0': zeek.conf has [zeek] and [interface NAME] sections"])
    }

    @Test("two managers across a cluster's files are refused, naming both files")
    func twoManagers() {
        let found = problems(["cluster/a.zeek.conf": "manager = 1\n", "cluster/b.zeek.conf": "manager = 1\nloggers = 1\n"])
        #expect(found == ["too many manager nodes (2) from cluster/a.zeek.conf, cluster/b.zeek.conf: a cluster has one manager"])
    }

    @Test("a worker section without an interface is refused at the section")
    func workersWithoutInterface() {
        #expect(problems(["zeek.conf": "[zeek]\nmanager = 1\n\n[interface eth0]\nworkers = 2\n"])
            == ["zeek.conf:4: found workers but no interface option in section 'interface eth0'"])
        #expect(problems(["zeek.conf": "interface = eth0\n"]) == ["zeek.conf:1: found interface but no worker option"])
    }

    @Test("a template variable that does not exist is refused at the option's line")
    func unknownTemplateVariable() {
        let found = problems(["s1.zeek.conf": "[interface eth0]\ninterface = af_packet::eth0\nworkers = 2\nworker_env = X=${worker_idx}\n"])
        #expect(found.count == 2)
        #expect(found.allSatisfy { $0.hasPrefix("s1.zeek.conf:4: env X of s1-worker-eth0-") && $0.contains("invalid substitution var 'worker_idx'") })
        #expect(problems(["zeek.conf": "manager = 1\nenv = A=${worker_index}\n"]).first?.hasPrefix("zeek.conf:2: env A of manager") == true)
    }

    @Test("broken lines are reported all at once, each at its line")
    func brokenLines() {
        #expect(problems(["zeek.conf": "[interface eth0\nworkers = 2\nWorkers = 3\n  orphan\n"]) == [
            "zeek.conf:1: invalid line '[interface eth0'",
            "zeek.conf:3: invalid line 'Workers = 3'",
        ])
        #expect(problems(["zeek.conf": "[zeek]\n  orphan\nmanager = 1\nmanager = 0\n"]) == [
            "zeek.conf:2: unexpected continuation line '  orphan' in section 'zeek'",
            "zeek.conf:4: duplicate option 'manager' in section 'zeek'",
        ])
    }

    @Test("what cannot be carried is refused with its reason: flags, NUMA policies, a hand-written layout, files that disagree")
    func notCarried() {
        #expect(problems(["zeek.conf": "manager = 1\nargs = local -C\n"]).first?.hasPrefix("zeek.conf:2: '-C' is a flag to Zeek, which cannot be given") == true)
        #expect(problems(["zeek.conf": "[interface a]\ninterface = eth0\nworkers = 1\nworker_numa_policy = local\n"])
            == ["zeek.conf:4: worker_numa_policy = local is not supported: supervisors do not set NUMA memory policies; leave it out (or set default)"])
        #expect(problems(["zeek.conf": "manager = 1\ncluster_layout = /etc/zeek/layout.zeek\n"]).first?.contains("option 'cluster_layout' is not supported") == true)
        #expect(problems(["a.zeek.conf": "manager = 1\ncluster_backend_args = frameworks/cluster/backend/zeromq\n",
                          "b.zeek.conf": "cluster_backend_args = policy/frameworks/cluster/backend/broker\ninterface = lo\nworkers = 1\n"])
            == ["b.zeek.conf:1: cluster_backend_args loads the broker backend, a.zeek.conf the zeromq backend: a cluster has one backend"])
        #expect(problems(["Sensor.zeek.conf": "manager = 1\n", "b.zeek.conf": "loggers = 1\n"]).first?.hasPrefix("Sensor.zeek.conf: a cluster's files are named") == true)
    }

    @Test("a cluster directory: nodes on the instance its file names, user and limits on every node, base_dir said to be host-side")
    func clusterDirectory() throws {
        let reading = try ZeekConfFile.read([
            .init(path: "d/sensor-1.zeek.conf", text: "manager = 1\nloggers = 1\nuser = nobody\nlogger_memory_max = 2G\nbase_dir = /opt/zeek\n"),
            .init(path: "d/sensor-2.zeek.conf", text: "[interface lo]\ninterface = lo\nworkers = 2\nworker_memory_max = 1G\nworkers_cpu_list = 0\n"),
        ], id: "x", defaultInstance: "unused")
        let nodes = Dictionary(uniqueKeysWithValues: reading.configuration.nodes.map { ($0.name, $0) })
        #expect(Set(nodes.keys) == ["manager", "sensor-1-logger-1", "sensor-2-worker-lo-1", "sensor-2-worker-lo-2"])
        #expect(nodes["sensor-1-logger-1"]?.instance == "sensor-1" && nodes["sensor-2-worker-lo-2"]?.instance == "sensor-2")
        #expect(nodes["manager"]?.user == "nobody" && nodes["sensor-2-worker-lo-1"]?.user == nil)
        #expect(nodes["sensor-1-logger-1"]?.limits?.memoryMax == 2 << 30)
        #expect(nodes["sensor-2-worker-lo-1"]?.limits?.memoryMax == 1 << 30 && nodes["sensor-2-worker-lo-2"]?.cpuAffinity == 0)
        #expect(reading.configuration.archivers == ["sensor-1": LogArchiver()])
        #expect(reading.warnings == ["d/sensor-1.zeek.conf:5: base_dir is not carried to the hosts: each host runs the Zeek its supervisor is given (--zeek), from that Zeek's own prefix"])
    }

    @Test("format detection: zeek.conf by name or by its shape, zeek-client's INI otherwise")
    func formatDetection() {
        #expect(ConfigurationFormat.detect(fileName: "cluster.ini", text: "manager = 1") == .ini)
        #expect(ConfigurationFormat.detect(fileName: "zeek.conf", text: "[manager]\nrole = manager") == .zeekConf)
        #expect(ConfigurationFormat.detect(fileName: "-", text: "# c\nmanager = 1\n") == .zeekConf)
        #expect(ConfigurationFormat.detect(fileName: "config1", text: "\n[zeek]\nmanager = 1\n") == .zeekConf)
        #expect(ConfigurationFormat.detect(fileName: "config1", text: "[instances]\nagent-a\n") == .ini)
    }
}

extension ZeekConfFileTests {
    @Test("CRLF files read as LF files; keys are one option whatever their case; counts and ports stay within a host")
    func oddButCommonInput() {
        #expect(problems(["zeek.conf": "# a comment\r\nmanager = 1\r\nloggers = 1\r\n"]).isEmpty)
        let crlf = try? ZeekConfFile.read([.init(path: "zeek.conf", text: "# c\r\nmanager = 1\r\nloggers = 2\r\n")], id: "x", defaultInstance: "a")
        #expect(crlf?.configuration.nodes.count == 3)
        #expect(problems(["zeek.conf": "port = 1\npOrt = 2\n"]) == ["zeek.conf:2: duplicate option 'pOrt'"])
        #expect(problems(["zeek.conf": "loggers = 9223372036854775807\n"]).first?.contains("at most 65535 per host") == true)
        #expect(problems(["zeek.conf": "interface = eth0\nworkers = 100000000\n"]).first?.contains("at most 65535") == true)
        #expect(problems(["zeek.conf": "metrics_port = 65530\ninterface = eth0\nworkers = 10\n"])
            == ["zeek.conf: metrics_port 65530 leaves too few ports below 65536 for this host's 10 nodes"])
    }
}
