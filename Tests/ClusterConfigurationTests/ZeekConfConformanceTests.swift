import ClusterConfiguration
import Foundation
import ManagementTypes
import Testing

/// Our zeek.conf reader against Zeek's own: for every case of Zeek's generator tests and
/// for cases of ours, Zeek's `zeek-cluster-layout-generator` and `zeek-systemd-generator` run on
/// the same files, and what they generate must be what we deploy: node names, types, hosts,
/// ports and metrics ports from the layout; environment, arguments, limits and user from the
/// units. Files Zeek refuses, we refuse; files we refuse that Zeek reads are the few options
/// we do not carry, each with its reason.
@Suite("zeek.conf read as Zeek's generators read it", .enabled(if: ZeekGenerators.found != nil || ZeekGenerators.required, ZeekGenerators.skipReason))
struct ZeekConfConformanceTests {
    /// Options Zeek reads that we refuse, with a word of the reason each refusal must give; and
    /// `metrics_address`, which is no option of Zeek's: Zeek ignores unknown keys in a
    /// section-less file, we refuse them.
    static let refusedByDesign = ["cluster_layout", "ext_path", "ext_zeek_path", "numa_policy = local", "invalid key 'metrics_address'"]

    @Test("each case reads as Zeek's generators read it", arguments: ZeekGeneratorCase.all + ZeekGeneratorCase.ours)
    func conformance(_ testCase: ZeekGeneratorCase) throws {
        let generators = try #require(ZeekGenerators.found, ZeekGenerators.skipReason)
        let directory = try TemporaryDirectory()
        let input = try testCase.write(into: directory.url)
        let zeek = generators.layout(of: input)

        let ours: ClusterConfigurationFile.Reading
        do {
            ours = try testCase.read()
        } catch {
            let text = "\(error)"
            if zeek.layout == nil { return }  // Both refuse.
            let reason = Self.refusedByDesign.first { text.contains($0) }
            #expect(reason != nil, "Zeek reads \(testCase.name) but we refuse it: \(text)")
            return
        }
        let layout = try #require(zeek.layout, "Zeek refuses \(testCase.name) (\(zeek.errors)) but we read it")
        let expected = layout.nodes.sorted { $0.name < $1.name }
        let deployed = ours.configuration.nodes.sorted().map { node in
            ZeekLayout.Node(name: node.name, type: node.role.rawValue, host: ours.host(of: node, directory: testCase.isDirectory),
                            port: node.port.map { "\($0.number)/tcp" }, metricsPort: node.metricsPort.map { "\($0.number)/tcp" })
        }
        #expect(deployed == expected)
        if testCase.isDirectory {
            let hosts = Dictionary(uniqueKeysWithValues: ours.configuration.instances.map { ($0.name, $0.host == .unspecified ? nil : $0.host.text) })
            #expect(hosts == layout.hosts)
        }

        // The units, for a single file (Zeek's systemd generator reads one host's file).
        guard !testCase.isDirectory else { return }
        let units = try generators.units(of: input, in: directory.url.appendingPathComponent("units"))
        for node in ours.configuration.nodes {
            let unit = try #require(units.unit(for: node), "no unit for \(node.name)")
            #expect(unit.environment == node.env, "environment of \(node.name)")
            #expect(unit.scripts == (node.scripts ?? []), "scripts of \(node.name)")
            #expect(unit.options == Set((node.options ?? []).map { "\($0.name)=\($0.value)" }), "options of \(node.name)")
            #expect(unit.memoryMax == node.limits?.memoryMax, "memory_max of \(node.name)")
            #expect(unit.nice == node.limits?.nice, "nice of \(node.name)")
            #expect(unit.restartSec == (node.limits?.restartIntervalSec ?? 1), "restart interval of \(node.name)")
            #expect(unit.user == (node.user ?? "zeek") && unit.group == (node.group ?? "zeek"), "user of \(node.name)")
            if node.role == .worker {
                #expect(unit.cpus == node.cpuAffinity.map { [$0] }, "CPU of \(node.name)")
                #expect(unit.interface == node.interface, "interface of \(node.name)")
            } else {
                #expect(unit.cpus.map(Set.init) == node.limits?.cpuSet.map(Set.init), "cpu_set of \(node.name)")
            }
        }
        let archiver = ours.configuration.archivers.values.first
        #expect((units.archiver != nil) == (archiver != nil), "archiver")
        if let unit = units.archiver, let archiver {
            #expect(unit.program == archiver.program, "archiver program")
            #expect(unit.arguments == archiver.args, "archiver_args")
            #expect(unit.environment == archiver.env, "archiver_env")
            #expect(unit.memoryMax == archiver.limits?.memoryMax && unit.nice == archiver.limits?.nice, "archiver limits")
        }
    }

    @Test("a configuration read from zeek.conf renders back to files that read the same", arguments: ZeekGeneratorCase.all + ZeekGeneratorCase.ours)
    func roundTrip(_ testCase: ZeekGeneratorCase) throws {
        guard let reading = try? testCase.read() else { return }
        let files = try ZeekConfFile.render(reading.configuration)
        let reread = try ZeekConfFile.read(files.map { ZeekConfFile.Source(path: $0.fileName, text: $0.text) },
                                           id: reading.configuration.id, defaultInstance: "unused")
        #expect(reread.configuration.nodes == reading.configuration.nodes)
        #expect(reread.configuration.archivers == reading.configuration.archivers)
    }
}

extension ZeekGeneratorCase {
    /// Cases of ours beyond Zeek's tests: what our users write.
    static let ours: [ZeekGeneratorCase] = [
        ZeekGeneratorCase(name: "ours:two hosts, IPv6 and a shared prefix", files: [
            "sensor-a.zeek.conf": "manager = 1\nloggers = 2\nproxies = 1\naddress = [fd00::1]\nport = 30000\nmetrics_port = 9100\nuser = nobody\nlogger_memory_max = 2G\n",
            "sensor-b.zeek.conf": """
                [zeek]
                address = [fd00::2]
                cluster_node_prefix = b
                env = SHARED=1
                restart_interval_sec = 5

                [interface eth0]
                interface = af_packet::eth0
                workers = 3
                workers_cpu_list = 2-4
                worker_env = W=${worker_index0}-${interface_section_name}
                worker_memory_max = 3G

                [interface eth1]
                interface = af_packet::eth1
                workers = 2
                workers_cpu_list = 6,7
                worker_args = AF_Packet::fanout_id=24
                """,
        ]),
        ZeekGeneratorCase(name: "ours:no metrics", files: [
            "zeek.conf": "manager = 1\nloggers = 1\nmetrics_port = 0\ninterface = lo\nworkers = 2\nargs = local policy/tuning/json-logs\n",
        ]),
        ZeekGeneratorCase(name: "ours:templated interface and host worker index", files: [
            "zeek.conf": """
                [zeek]
                manager = 1
                proxies = 2
                proxy_nice = 5
                proxy_cpu_set = 0-8:2
                group = zeek

                [interface a]
                interface = netmap::eth1}${host_worker_index0}
                workers = 2
                workers_cpu_list = 1,3,5

                [interface b]
                interface = pf_ring::zc:eth2@${worker_index0}
                workers = 3
                workers_cpu_list = 1,3,5
                worker_nice = -5
                """,
        ]),
    ]

    /// Writes the case's files; returns what Zeek's generators take (`-C`): the file or the directory.
    func write(into directory: URL) throws -> URL {
        let target = isDirectory ? directory.appendingPathComponent("cluster") : directory
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for (name, text) in files {
            try Data(text.utf8).write(to: target.appendingPathComponent(name))
        }
        return isDirectory ? target : target.appendingPathComponent(files.keys.first!)
    }

    /// Reads the case as zeek-mgmt does, single files on instance `agent-testhost`.
    func read() throws -> ClusterConfigurationFile.Reading {
        try ZeekConfFile.read(files.map { ZeekConfFile.Source(path: isDirectory ? "cluster/\($0.key)" : $0.key, text: $0.value) },
                              id: "fixed", defaultInstance: "agent-testhost")
    }
}

extension ClusterConfigurationFile.Reading {
    /// Where Zeek's layout puts `node`: the `Cluster::hosts` entry of its host in a cluster
    /// directory, else its address.
    func host(of node: Management.Node, directory: Bool) -> String {
        if directory { return node.instance }
        let host = configuration.instances.first { $0.name == node.instance }?.host ?? .unspecified
        return host.text
    }
}

/// Zeek's generators, from the Zeek the tests use (9.1.0-dev installs them).
struct ZeekGenerators: Sendable {
    let directory: String

    static let found: ZeekGenerators? = {
        var candidates = ["/opt/zeek-private/bin", "/opt/zeek-lts/bin"]
        if let chosen = ProcessInfo.processInfo.environment["ZEEK_MGMT_TEST_ZEEK"] {
            candidates.insert(URL(fileURLWithPath: chosen).deletingLastPathComponent().path, at: 0)
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: "\($0)/zeek-cluster-layout-generator") }
            .map(ZeekGenerators.init(directory:))
    }()

    /// On CI both test Zeeks are installed: a missing generator is a failure there, not a skip.
    static let required = ProcessInfo.processInfo.environment["CI"] != nil
    static let skipReason: Comment = "Zeek's zeek-cluster-layout-generator is not installed (it comes with Zeek 8.1+; ../shared/zeek/install dev installs 9.1.0-dev in /opt/zeek-private)"

    /// Zeek's layout of `input` (a zeek.conf or a cluster directory), or its errors.
    func layout(of input: URL) -> (layout: ZeekLayout?, errors: String) {
        let output = input.deletingLastPathComponent().appendingPathComponent("cluster-layout.zeek")
        let (status, errors) = run("\(directory)/zeek-cluster-layout-generator", ["-C", input.path, "-o", output.path])
        guard status == 0, let text = try? String(contentsOf: output, encoding: .utf8) else { return (nil, errors) }
        return (ZeekLayout(parsing: text), errors)
    }

    /// The units Zeek's systemd generator writes for one host's `input`.
    func units(of input: URL, in output: URL) throws -> ZeekUnits {
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let (status, errors) = run("\(directory)/zeek-systemd-generator", ["--config", input.path, output.path])
        guard status == 0 else { throw ZeekUnits.Failed(description: "zeek-systemd-generator failed: \(errors)") }
        return ZeekUnits(directory: output)
    }

    private func run(_ executable: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// The parts of a generated `cluster-layout.zeek` that name nodes and hosts.
struct ZeekLayout {
    struct Node: Hashable, CustomStringConvertible {
        var name: String
        var type: String
        /// The host's name (`hosts["NAME"]$ip`) or the address.
        var host: String
        var port: String?
        var metricsPort: String?
        var description: String { "\(name) \(type) @\(host) p=\(port ?? "-") metrics=\(metricsPort ?? "-")" }
    }

    var nodes: [Node] = []
    /// `Cluster::hosts`: host name to address, nil where Zeek looks it up by name.
    var hosts: [String: String?] = [:]

    init(parsing text: String) {
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard line.hasPrefix("[\""), let close = line.range(of: "\"] = [") else { continue }
            let name = String(line[line.index(line.startIndex, offsetBy: 2)..<close.lowerBound])
            let body = String(line[close.upperBound...].dropLast(2))  // "...],"
            if body.hasPrefix("$ip=") && !body.contains("$node_type") {
                let ip = String(body.dropFirst(4))
                hosts[name] = ip.hasPrefix("(blocking_lookup_hostname") ? String?.none : IPAddress(ip.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))?.text
                continue
            }
            var fields: [String: String] = [:]
            for field in body.components(separatedBy: ", $") {
                let parts = field.trimmingCharacters(in: CharacterSet(charactersIn: "$")).split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            var host = fields["ip"] ?? ""
            if host.hasPrefix("hosts[\"") {
                host = String(host.dropFirst(7).prefix { $0 != "\"" })
            } else {
                host = IPAddress(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))?.text ?? host
            }
            nodes.append(Node(name: name, type: (fields["node_type"] ?? "").replacingOccurrences(of: "Cluster::", with: ""),
                              host: host, port: fields["p"], metricsPort: fields["metrics_port"]))
        }
    }
}

/// What Zeek's systemd units give each node: from its (template) unit and its drop-in.
struct ZeekUnits {
    struct Failed: Error, CustomStringConvertible { var description: String }

    struct Unit {
        var environment: [String: String] = [:]
        var scripts: [String] = []
        var options: Set<String> = []
        var memoryMax: Int?
        var nice: Int?
        var restartSec = 1
        var user = ""
        var group = ""
        var cpus: [Int]?
        var interface: String?
        /// The archiver's: its program (nil for zeek-archiver) and arguments before the directories.
        var program: String?
        var arguments: [String] = []
    }

    let directory: URL

    /// Environment set by the generator for its own purposes, not from zeek.conf.
    static let ownVariables: Set<String> = ["PATH", "ZEEKPATH", "CLUSTER_NODE", "INTERFACE"]

    func unit(for node: Management.Node) -> Unit? {
        let (template, index): (String, String?) = {
            switch node.role {
            case .manager: return ("zeek-manager.service", nil)
            case .logger, .proxy:
                let type = node.role == .logger ? "logger" : "proxy"
                return ("zeek-\(type)@.service", String(node.name.split(separator: "-").last!))
            default:
                let tail = node.name.components(separatedBy: "worker-").last!
                let parts = tail.split(separator: "-")
                let name = parts.dropLast().joined(separator: "-")
                return ("zeek-worker\(name.isEmpty ? "" : "-\(name)")@.service", String(parts.last!))
            }
        }()
        guard var unit = read(directory.appendingPathComponent(template), instance: index, into: Unit()) else { return nil }
        if node.role == .worker, let index {
            let dropIn = directory.appendingPathComponent(template.replacingOccurrences(of: "@.service", with: "@\(index).service.d/10-zeek-systemd-generator.conf"))
            unit = read(dropIn, instance: index, into: unit) ?? unit
        }
        return unit
    }

    var archiver: Unit? { read(directory.appendingPathComponent("zeek-archiver.service"), instance: nil, into: Unit()) }

    private func read(_ file: URL, instance: String?, into start: Unit) -> Unit? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        var unit = start
        for line in text.split(separator: "\n").map(String.init) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            var value = String(line[line.index(after: equals)...])
            if let instance { value = value.replacingOccurrences(of: "%i", with: instance) }
            switch key {
            case "Environment":
                let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
                if parts[0] == "INTERFACE" { unit.interface = parts.count > 1 ? parts[1] : "" }
                if !Self.ownVariables.contains(parts[0]) { unit.environment[parts[0]] = parts.count > 1 ? parts[1] : "" }
            case "ExecStart":
                var words = value.split(separator: " ").map(String.init)
                let executable = words.removeFirst()
                if file.lastPathComponent == "zeek-archiver.service" {
                    if executable.hasSuffix("/zeek-archiver") {
                        unit.arguments = Array(words.dropLast(2))
                    } else {
                        unit.program = executable
                        unit.arguments = words
                    }
                    continue
                }
                if words.first == "-i" { words.removeFirst(2) }
                for word in words where word != "local" && word != "policy/misc/systemd-generator" && !word.contains("frameworks/cluster/backend/") {
                    if word.contains("=") { unit.options.insert(word) } else { unit.scripts.append(word) }
                }
            case "MemoryMax": unit.memoryMax = NodeLimits.memory(value)
            case "Nice": unit.nice = Int(value)
            case "RestartSec": unit.restartSec = Int(value) ?? -1
            case "User": unit.user = value
            case "Group": unit.group = value
            case "CPUAffinity": unit.cpus = value.split(separator: ",").compactMap { Int($0) }
            default: break
            }
        }
        return unit
    }
}

/// A directory removed when the test ends.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}
