import ClusterConfiguration
import ManagementTypes
import Testing

@Suite("zeek-client's cluster configuration file")
struct ClusterConfigurationFileTests: ReadsConfigurationFiles {

    @Test func fullExample() throws {
        let reading = try read("""
            # a comment
            [instances]
            agent-a
            agent-b = 10.0.0.2:2151

            [manager]
            instance = agent-a
            role = manager
            port = 5000

            [worker-01]
            instance: agent-b
            type = Supervisor::WORKER
            interface = eth0
            cpu_affinity = 2
            scripts = b.zeek "with space.zeek" a.zeek
            env = A=1 B="two words"
            metrics_port = 9100
            """)
        let config = reading.configuration
        #expect(config.id == "fixed")
        #expect(config.instances == [Management.Instance(name: "agent-a"),
                                     Management.Instance(name: "agent-b", host: IPAddress("10.0.0.2")!, listenPort: ZeekPort(2151))])
        let worker = try #require(config.nodes.first { $0.name == "worker-01" })
        #expect(worker.role == .worker && worker.instance == "agent-b" && worker.interface == "eth0" && worker.cpuAffinity == 2)
        #expect(worker.scripts == ["a.zeek", "b.zeek", "with space.zeek"])
        #expect(worker.env == ["A": "1", "B": "two words"])
        #expect(worker.metricsPort == ZeekPort(9100))
        #expect(config.nodes.first { $0.name == "manager" }?.port == ZeekPort(5000))
        #expect(reading.warnings.isEmpty)
    }

    @Test func nodesWithoutInstancesRunOnThisHost() throws {
        let config = try read("[manager]\nrole = manager\n[worker]\nrole = worker\n").configuration
        #expect(Set(config.nodes.map(\.instance)) == ["agent-testhost"])
        #expect(config.instances == [Management.Instance(name: "agent-testhost")])
    }

    @Test func instancesAreImpliedByNodes() throws {
        let config = try read("[w1]\nrole = worker\ninstance = i2\n[w2]\nrole = worker\ninstance = i1\n").configuration
        #expect(config.instances == [Management.Instance(name: "i1"), Management.Instance(name: "i2")])
    }

    @Test func emptyFileIsAnEmptyConfiguration() throws {
        let config = try read("").configuration
        #expect(config.nodes.isEmpty && config.instances.isEmpty)
    }

    @Test func ignoredKeysAreWarnedAbout() throws {
        let reading = try read("[w]\nrole = worker\nstate = stopped\ncolour = blue\n")
        #expect(reading.warnings == ["ignoring node \"w\" state \"stopped\" in configuration", "ignoring unexpected keys: colour"])
    }

    @Test func errorsNameTheProblem() {
        #expect(problem("[w]\nrole = janitor\n") == "invalid node \"w\" configuration: role \"janitor\" is invalid")
        #expect(problem("[w]\ninstance = i\n") == "invalid node \"w\" configuration: node requires a role")
        #expect(problem("[w]\nrole = worker\nport = 70000\n") == "invalid node \"w\" configuration: port 70000 outside valid range")
        #expect(problem("[w]\nrole = worker\nport = http\n") == "invalid node \"w\" configuration: cannot convert \"w.port\" value \"http\" to int")
        #expect(problem("[w]\nrole\n") == "config item w.role needs a value")
        #expect(problem("[instances]\ni1 = 10.0.0.1\n[w]\nrole = worker\ninstance = i1\n") == "invalid spec for instance \"i1\": \"10.0.0.1\" should be <host>:<port>")
        #expect(problem("[instances]\ni1 = myhost:2151\n")?.contains("is not an IP address") == true)
        #expect(problem("[a]\nrole = worker\ninstance = i\n[b]\nrole = worker\n") == "either all or no nodes must state instances")
        #expect(problem("[instances]\ni\n[b]\nrole = worker\n") == "omit instances section when skipping instances in node definitions")
        #expect(problem("role = worker\n")?.contains("no section header") == true)
        #expect(problem("[w]\nrole = worker\n[w]\nrole = worker\n")?.contains("already exists") == true)
        #expect(problem("[w]\nrole = worker\nscripts = \"open\n")?.contains("scripts value") == true)
    }

    @Test func ipv6InstancesInBrackets() throws {
        let config = try read("[instances]\ni6 = [::1]:2151\n").configuration
        #expect(config.instances.first?.host == IPAddress("::1"))
    }

    @Test func renderingMatchesZeekClient() throws {
        let config = try read("""
            [instances]
            b = 10.0.0.2:2151
            a

            [worker]
            instance = b
            role = worker
            env = Z=1 A="x y"
            scripts = s2.zeek s1.zeek

            [manager]
            instance = a
            role = manager
            port = 2200
            metrics_port = 9000
            """).configuration
        #expect(ClusterConfigurationFile.render(config) == """
            [instances]
            a
            b = 10.0.0.2:2151

            [manager]
            instance = a
            role = MANAGER
            port = 2200
            metrics_port = 9000

            [worker]
            instance = b
            role = WORKER
            scripts = s1.zeek s2.zeek
            env = A="x y" Z=1


            """)
        let again = try read(ClusterConfigurationFile.render(config)).configuration
        #expect(again.nodes == config.nodes && again.instances == config.instances, "rendering reads back unchanged")
    }

    @Test func shellWordsFollowPython() throws {
        #expect(try shellWords(#"a 'b c' "d \"e\"" f\ g"#) == ["a", "b c", "d \"e\"", "f g"])
        #expect(try shellWords("  ") == [])
        #expect(throws: ShellWordsError.self) { try shellWords("'open") }
    }
}
