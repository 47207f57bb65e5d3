import ClusterConfiguration
import Foundation
import ManagementTypes
import Testing

@Suite("Capture settings in the cluster configuration file (AF_PACKET fan-out)")
struct CaptureConfigurationTests: ReadsConfigurationFiles {

    func node(_ name: String, in reading: ClusterConfigurationFile.Reading) throws -> Management.Node {
        try #require(reading.configuration.nodes.first { $0.name == name }, "node \(name)")
    }

    /// A worker section with the given extra lines, on instance `i`.
    func worker(_ name: String = "w", _ lines: String...) -> String {
        "[\(name)]\ninstance = i\nrole = worker\n" + lines.map { $0 + "\n" }.joined()
    }

    func options(_ pairs: KeyValuePairs<String, String>) -> Set<Management.Option> {
        Set(pairs.map { Management.Option(name: $0.key, value: $0.value) })
    }

    @Test func lbProcsExpandsIntoNumberedNodes() throws {
        let reading = try read(worker("worker-eth0", "interface = af_packet::eth0", "lb_procs = 3", "scripts = local.zeek", "env = A=1"))
        let names = reading.configuration.nodes.map(\.name).sorted()
        #expect(names == ["worker-eth0-1", "worker-eth0-2", "worker-eth0-3"])
        for name in names {
            let process = try node(name, in: reading)
            #expect(process.role == .worker && process.instance == "i")
            #expect(process.interface == "af_packet::eth0", "the interface is passed through unchanged")
            #expect(process.scripts == ["local.zeek"] && process.env == ["A": "1"], "every process gets the section's other settings")
            #expect(process.cpuAffinity == nil && process.options == nil)
        }
        #expect(reading.configuration.instances == [Management.Instance(name: "i")])
        #expect(reading.warnings.isEmpty)
    }

    @Test func oneProcessKeepsTheSectionName() throws {
        for text in [worker("w", "interface = af_packet::eth0", "lb_procs = 1"), worker("w", "interface = af_packet::eth0", "af_packet_fanout_id = 5")] {
            let reading = try read(text)
            #expect(reading.configuration.nodes.map(\.name) == ["w"])
            #expect(reading.warnings.isEmpty)
        }
    }

    @Test func pinCPUsGivesEachProcessItsCPU() throws {
        let reading = try read(worker("w", "interface = af_packet::eth0", "lb_procs = 4", "pin_cpus = 2, 3,4 ,5"))
        for (index, cpu) in [2, 3, 4, 5].enumerated() {
            #expect(try node("w-\(index + 1)", in: reading).cpuAffinity == cpu)
        }
        let extra = try read(worker("w", "interface = af_packet::eth0", "lb_procs = 2", "pin_cpus = 6,7,8"))
        #expect(try node("w-1", in: extra).cpuAffinity == 6 && node("w-2", in: extra).cpuAffinity == 7, "extra CPUs are unused")
        let single = try read(worker("w", "interface = af_packet::eth0", "pin_cpus = 9"))
        #expect(try node("w", in: single).cpuAffinity == 9, "without lb_procs the one node gets the first CPU")
    }

    @Test func afPacketSettingsBecomeZeekOptions() throws {
        let reading = try read(worker("w", "interface = af_packet::eth0", "lb_procs = 2",
                                      "af_packet_fanout_id = 21", "af_packet_fanout_mode = AF_Packet::FANOUT_HASH",
                                      "af_packet_buffer_size = 134217728"))
        let expected = options(["AF_Packet::fanout_id": "21", "AF_Packet::fanout_mode": "AF_Packet::FANOUT_HASH",
                                "AF_Packet::buffer_size": "134217728"])
        #expect(try node("w-1", in: reading).options == expected)
        #expect(try node("w-2", in: reading).options == expected)
    }

    @Test func fanoutModesAreNormalised() throws {
        for (written, zeek) in [("FANOUT_HASH", "AF_Packet::FANOUT_HASH"), ("FANOUT_CPU", "AF_Packet::FANOUT_CPU"),
                                ("FANOUT_QM", "AF_Packet::FANOUT_QM"), ("FANOUT_CBPF", "AF_Packet::FANOUT_CBPF"),
                                ("FANOUT_EBPF", "AF_Packet::FANOUT_EBPF"), ("AF_Packet::FANOUT_QM", "AF_Packet::FANOUT_QM"),
                                ("fanout_cpu", "AF_Packet::FANOUT_CPU")] {
            let reading = try read(worker("w", "interface = af_packet::eth0", "af_packet_fanout_mode = \(written)"))
            #expect(try node("w", in: reading).options == options(["AF_Packet::fanout_mode": zeek]), "\(written)")
        }
    }

    @Test func integerOptionsAreWrittenAsZeekLiterals() throws {
        let reading = try read(worker("w", "interface = af_packet::eth0", "af_packet_fanout_id = 007", "af_packet_buffer_size = +4096"))
        #expect(try node("w", in: reading).options == options(["AF_Packet::fanout_id": "7", "AF_Packet::buffer_size": "4096"]))
        let bounds = try read(worker("a", "interface = af_packet::eth0", "af_packet_fanout_id = 0") + worker("b", "interface = af_packet::eth1", "af_packet_fanout_id = 65535"))
        #expect(try node("a", in: bounds).options == options(["AF_Packet::fanout_id": "0"]))
        #expect(try node("b", in: bounds).options == options(["AF_Packet::fanout_id": "65535"]))
    }

    @Test func fanOutWithoutAFPacketIsWarnedAbout() throws {
        let plain = try read(worker("w", "interface = eth0", "lb_procs = 2"))
        #expect(plain.configuration.nodes.map(\.interface) == ["eth0", "eth0"], "the interface stays as written")
        #expect(plain.warnings == ["node \"w\" runs lb_procs = 2 processes with interface \"eth0\": AF_PACKET fan-out needs the af_packet:: packet source (interface = af_packet::<interface>)"])
        let none = try read(worker("w", "lb_procs = 2"))
        #expect(none.warnings == ["node \"w\" runs lb_procs = 2 processes with no interface: AF_PACKET fan-out needs the af_packet:: packet source (interface = af_packet::<interface>)"])
        #expect(try read(worker("w", "interface = eth0", "lb_procs = 1")).warnings.isEmpty, "one process does not fan out")
    }

    @Test func invalidValuesNameTheProblem() {
        let prefix = "invalid node \"w\" configuration: "
        #expect(problem(worker("w", "lb_procs = 0")) == prefix + "lb_procs value \"0\" is not a positive integer")
        #expect(problem(worker("w", "lb_procs = four")) == prefix + "lb_procs value \"four\" is not a positive integer")
        #expect(problem(worker("w", "lb_procs = 2", "pin_cpus = 1,x")) == prefix + "pin_cpus entry \"x\" in \"1,x\" is not a non-negative integer")
        #expect(problem(worker("w", "lb_procs = 2", "pin_cpus = -1,2")) == prefix + "pin_cpus entry \"-1\" in \"-1,2\" is not a non-negative integer")
        #expect(problem(worker("w", "lb_procs = 2", "pin_cpus = 1,,2")) == prefix + "pin_cpus entry \"\" in \"1,,2\" is not a non-negative integer")
        #expect(problem(worker("w", "lb_procs = 4", "pin_cpus = 2,3,4")) == prefix + "pin_cpus lists 3 CPUs but lb_procs = 4 needs one per process")
        #expect(problem(worker("w", "pin_cpus = 2", "cpu_affinity = 2")) == prefix + "pin_cpus and cpu_affinity cannot both be set")
        #expect(problem(worker("w", "af_packet_fanout_id = 65536")) == prefix + "af_packet_fanout_id value \"65536\" is not a number from 0 to 65535")
        #expect(problem(worker("w", "af_packet_fanout_id = -1")) == prefix + "af_packet_fanout_id value \"-1\" is not a number from 0 to 65535")
        #expect(problem(worker("w", "af_packet_buffer_size = 0")) == prefix + "af_packet_buffer_size value \"0\" is not a positive integer")
        #expect(problem(worker("w", "af_packet_buffer_size = 128M")) == prefix + "af_packet_buffer_size value \"128M\" is not a positive integer")
        #expect(problem(worker("w", "af_packet_fanout_mode = FANOUT_LB")) == prefix
            + "af_packet_fanout_mode value \"FANOUT_LB\" is not one of AF_Packet::FANOUT_HASH, AF_Packet::FANOUT_CPU, AF_Packet::FANOUT_QM, AF_Packet::FANOUT_CBPF, AF_Packet::FANOUT_EBPF")
    }

    @Test func captureKeysNeedAWorker() {
        #expect(problem("[manager]\nrole = manager\nlb_procs = 2\npin_cpus = 1,2\n")
            == "invalid node \"manager\" configuration: capture settings (lb_procs, pin_cpus) need role WORKER, not MANAGER")
        #expect(problem("[p]\nrole = proxy\naf_packet_fanout_id = 3\n")
            == "invalid node \"p\" configuration: capture settings (af_packet_fanout_id) need role WORKER, not PROXY")
    }

    @Test func sharedPortsAreRejected() {
        #expect(problem(worker("w", "lb_procs = 2", "metrics_port = 9100"))
            == "invalid node \"w\" configuration: metrics_port 9100 would be shared by all 2 lb_procs processes; leave it out to have one assigned to each")
        #expect(problem(worker("w", "lb_procs = 3", "port = 2300")) == "invalid node \"w\" configuration: port 2300 would be shared by all 3 lb_procs processes")
        #expect(problem(worker("w", "lb_procs = 1", "port = 2300", "metrics_port = 9100")) == nil, "one process may have its own ports")
    }

    @Test func expandedNamesMayNotCollideWithSections() {
        #expect(problem(worker("w-2") + worker("w", "interface = af_packet::eth0", "lb_procs = 2"))
            == "invalid node \"w\" configuration: expanded node \"w-2\" (lb_procs = 2) collides with section \"w-2\"")
        #expect(problem(worker("w", "interface = af_packet::eth0", "lb_procs = 2") + worker("w-1", "interface = af_packet::eth0", "lb_procs = 2"))
            == "invalid node \"w\" configuration: expanded node \"w-1\" (lb_procs = 2) collides with section \"w-1\"")
    }

    @Test func interfacesOnOneInstanceNeedTheirOwnFanoutGroup() throws {
        #expect(problem(worker("a", "interface = af_packet::eth0", "lb_procs = 2") + worker("b", "interface = af_packet::eth1", "lb_procs = 2"))
            == "invalid node \"b\" configuration: af_packet::eth1 uses Zeek's default fan-out id 23 on instance \"i\", as section \"a\" does for af_packet::eth0; give each interface its own af_packet_fanout_id")
        #expect(problem(worker("a", "interface = af_packet::eth0", "af_packet_fanout_id = 21") + worker("b", "interface = af_packet::eth1", "af_packet_fanout_id = 21"))
            == "invalid node \"b\" configuration: af_packet::eth1 uses fan-out id 21 on instance \"i\", as section \"a\" does for af_packet::eth0; give each interface its own af_packet_fanout_id")
        #expect(problem(worker("a", "interface = af_packet::eth0", "af_packet_fanout_id = 23") + worker("b", "interface = af_packet::eth1"))?
            .contains("af_packet::eth1 uses Zeek's default fan-out id 23") == true, "an explicit 23 is the default group")

        // Fine: one interface shared by sections, distinct ids, other instances, libpcap capture.
        let sameInterface = try read(worker("a", "interface = af_packet::eth0", "lb_procs = 2", "af_packet_fanout_id = 21")
            + worker("b", "interface = af_packet::eth0", "lb_procs = 2", "af_packet_fanout_id = 21"))
        #expect(sameInterface.configuration.nodes.count == 4)
        #expect(problem(worker("a", "interface = af_packet::eth0") + worker("b", "interface = af_packet::eth1", "af_packet_fanout_id = 22")) == nil)
        #expect(problem("[a]\ninstance = i\nrole = worker\ninterface = af_packet::eth0\n[b]\ninstance = j\nrole = worker\ninterface = af_packet::eth1\n") == nil)
        #expect(problem(worker("a", "interface = eth0") + worker("b", "interface = eth1")) == nil)
    }

    @Test func renderingShowsExpandedNodesAndReadsBack() throws {
        let config = try read("""
            [manager]
            instance = a
            role = manager

            [worker-eth0]
            instance = b
            role = worker
            interface = af_packet::eth0
            lb_procs = 2
            pin_cpus = 2,3
            af_packet_fanout_id = 21
            af_packet_fanout_mode = FANOUT_QM
            af_packet_buffer_size = 134217728

            [worker-eth1]
            instance = b
            role = worker
            interface = af_packet::eth1
            af_packet_fanout_id = 22
            """).configuration
        let text = ClusterConfigurationFile.render(config)
        #expect(text == """
            [instances]
            a
            b

            [manager]
            instance = a
            role = MANAGER

            [worker-eth0-1]
            instance = b
            role = WORKER
            interface = af_packet::eth0
            cpu_affinity = 2
            af_packet_fanout_id = 21
            af_packet_fanout_mode = AF_Packet::FANOUT_QM
            af_packet_buffer_size = 134217728

            [worker-eth0-2]
            instance = b
            role = WORKER
            interface = af_packet::eth0
            cpu_affinity = 3
            af_packet_fanout_id = 21
            af_packet_fanout_mode = AF_Packet::FANOUT_QM
            af_packet_buffer_size = 134217728

            [worker-eth1]
            instance = b
            role = WORKER
            interface = af_packet::eth1
            af_packet_fanout_id = 22


            """)
        let again = try read(text)
        #expect(again.configuration == config, "the rendered file reads back to an equal configuration")
        #expect(again.warnings.isEmpty)
    }

    @Test func optionsWithoutAKeyAreLeftOutOfRendering() throws {
        let node = Management.Node(name: "w", instance: "i", role: .worker, options: options(["Site::local_nets": "{ 10.0.0.0/8 }", "AF_Packet::fanout_id": "9"]))
        let text = ClusterConfigurationFile.render(Management.Configuration(id: "fixed", nodes: [node]))
        #expect(text == "[w]\ninstance = i\nrole = WORKER\naf_packet_fanout_id = 9\n\n")
    }

    @Test func theExampleFileReads() throws {
        let root = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
        let reading = try read(String(contentsOfFile: root + "/examples/capture.ini", encoding: .utf8))
        let config = reading.configuration
        #expect(config.nodes.filter { $0.instance == "agent-host-a" }.map(\.role).sorted { $0.rawValue < $1.rawValue } == [.logger, .manager, .proxy])
        let workers = config.nodes.filter { $0.role == .worker }.sorted()
        #expect(workers.map(\.name) == ["worker-eth0-1", "worker-eth0-2", "worker-eth0-3", "worker-eth0-4", "worker-eth1-1", "worker-eth1-2"])
        #expect(workers.allSatisfy { $0.instance == "agent-host-b" })
        #expect(workers.map(\.interface) == Array(repeating: "af_packet::eth0", count: 4) + Array(repeating: "af_packet::eth1", count: 2))
        #expect(workers.map(\.cpuAffinity) == [2, 3, 4, 5, 6, 7])
        #expect(workers.map { $0.options?.first { $0.name == "AF_Packet::fanout_id" }?.value } == ["21", "21", "21", "21", "22", "22"])
        #expect(reading.warnings.isEmpty)
    }
}
