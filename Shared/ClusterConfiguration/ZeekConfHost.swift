import ManagementTypes

/// One host's `zeek.conf`, interpreted as Zeek's `parse_config` interprets it
/// (zeek/zeek `tools/systemd-generator/src/zeek-cluster-config.cc`): the same option names,
/// defaults and checks, with every error placed at its line.
///
/// Stricter than Zeek in one way: Zeek skips unknown keys in a section-less file and unknown
/// sections in any file; here both are errors, since a misspelt option silently ignored is a
/// limit or a worker silently missing on a sensor.
struct ZeekConfHost: Sendable {
    /// One `[interface NAME]` section, or the worker options of a section-less file.
    struct Interface: Sendable {
        /// The section's NAME; empty in a section-less file.
        var name: String
        /// `interface`, before templating.
        var interface = ""
        var interfaceLine = 0
        /// `workers`; -1 when absent.
        var workers = -1
        var args: [String] = []
        var argsLine = 0
        var env: [(key: String, value: String, line: Int)] = []
        var cpuList: [Int] = []
        var nice: Int?
        var memoryMax: Int?
        var line: Int
    }

    /// Per node type (`manager`, `logger`, `proxy`, `archiver`): `<type>_args`, `_env`, `_nice`,
    /// `_memory_max`, `_cpu_set`.
    struct TypeOptions: Sendable {
        var args: [String] = []
        var argsLine = 0
        var env: [(key: String, value: String, line: Int)] = []
        var nice: Int?
        var memoryMax: Int?
        var cpuSet: [Int]?
    }

    var manager = false
    var loggers = -1
    var proxies = -1
    var interfaces: [Interface] = []
    /// `args`; nil when absent (Zeek then loads `local`).
    var args: [String]?
    var argsLine = 0
    var env: [(key: String, value: String, line: Int)] = []
    var types: [String: TypeOptions] = [:]
    var user: String?
    var group: String?
    /// `archiver`: "0", "1" or a program's path; nil when absent.
    var archiver: String?
    var archiverLine = 0
    /// `cluster_backend_args`, split into words; nil when absent.
    var backendArgs: [String]?
    var backendLine = 0
    var clusterNodePrefix: String?
    var port = 27760
    var address: IPAddress?
    var metricsPort = 9991
    var restartIntervalSec: Int?
    /// Options read but not honoured here, with why, for the reading's warnings.
    var notCarried: [ZeekConfProblem] = []

    /// The most loggers, proxies or workers of one kind on one host: more could not have ports.
    static let maximumCount = 65_535

    /// The node types with `<type>_*` options in the `[zeek]` section.
    static let optionTypes = ["manager", "logger", "proxy", "archiver"]

    /// Options of Zeek's that only say where Zeek is installed on a host: each host's
    /// supervisor runs the Zeek it was given (`--zeek`), with the paths it computes.
    static let hostPathOptions: [String: String] = [
        "base_dir": "each host runs the Zeek its supervisor is given (--zeek), from that Zeek's own prefix",
    ]

    /// Options this reader refuses, with why: they would hand a host's search paths or its
    /// layout to the configuration, which the host policy and the controller own.
    static let refusedOptions: [String: String] = [
        "cluster_layout": "the layout is generated from the files, for every host alike; a hand-written layout would disagree with it",
        "path": "a node's PATH is its supervisor's; executables a node may run are the host's business",
        "ext_path": "a node's PATH is its supervisor's; executables a node may run are the host's business",
        "ext_zeek_path": "scripts come from the host policy's script roots (script-roots in the supervisor's host policy file)",
    ]

    static let interfaceKeys: Set<String> = [
        "interface", "workers", "worker_args", "worker_env", "workers_cpu_list", "worker_numa_policy", "workers_numa_policy",
        "worker_nice", "worker_memory_max",
    ]

    /// Interprets `document`; `filenameHost` is `<host>` of a `<host>.zeek.conf` file.
    init(_ document: ZeekConfDocument, filenameHost: String?) throws(ZeekConfProblems) {
        var errors: [ZeekConfProblem] = []
        func fail(_ line: Int, _ problem: String) { errors.append(ZeekConfProblem(file: "", line: line, problem)) }

        let sections = document.sections
        var zeekSection: ZeekConfDocument.Section?
        if sections.count == 1, sections[0].name.isEmpty {
            // Section-less: one interface, and the [zeek] options beside its own.
            zeekSection = sections[0]
            if let interface = Self.interface(from: sections[0], sectionless: true, fail: fail) { interfaces.append(interface) }
        } else {
            for section in sections {
                if section.name.isEmpty {
                    fail(section.options.first?.line ?? 0, "options in unnamed section mixed with options in sections")
                    throw ZeekConfProblems(errors)
                }
                if section.name == "zeek" {
                    zeekSection = section
                } else if section.name.hasPrefix("interface") {
                    if let interface = Self.interface(from: section, sectionless: false, fail: fail) { interfaces.append(interface) }
                } else {
                    fail(section.line, "unknown section '\(section.name)': zeek.conf has [zeek] and [interface NAME] sections")
                }
            }
        }

        for option in zeekSection?.options ?? [] {
            let key = option.key.lowercased()
            let line = option.line
            if Self.interfaceKeys.contains(key) {
                if zeekSection?.name.isEmpty == false { fail(line, "invalid key '\(key)' in section 'zeek': worker options go in [interface NAME] sections") }
                continue
            }
            if !key.hasSuffix("env"), !key.hasSuffix("args"), option.values.count > 1 {
                fail(line, "multiple values for '\(key)' given")
                continue
            }
            let value = option.value
            if let type = Self.optionTypes.first(where: { key.hasPrefix("\($0)_") }), let read = Self.typeOption(key.dropFirst(type.count + 1), option, fail: fail) {
                read(&types[type, default: TypeOptions()])
                continue
            }
            switch key {
            case "args":
                args = Self.words(option, fail: fail)
                argsLine = line
            case "env":
                env = Self.environment(option, fail: fail)
            case "user", "group":
                guard Self.isAccountName(value) else {
                    fail(line, "invalid \(key) '\(value)': a user or group name")
                    continue
                }
                if key == "user" { user = value } else { group = value }
            case "manager":
                guard let number = Int(value), number == 0 || number == 1 else { fail(line, "invalid manager value: '\(value)'"); continue }
                manager = number == 1
            case "loggers", "proxies":
                guard let number = Int(value), (0...Self.maximumCount).contains(number) else {
                    fail(line, "invalid \(key) value: '\(value)'" + (Int(value).map { $0 > Self.maximumCount ? " (at most \(Self.maximumCount) per host)" : "" } ?? ""))
                    continue
                }
                if key == "loggers" { loggers = number } else { proxies = number }
            case "archiver":
                guard value == "0" || value == "1" || value.hasPrefix("/") else {
                    fail(line, "invalid archiver value '\(value)': 0, 1 or the absolute path of a program to run instead of zeek-archiver")
                    continue
                }
                archiver = value
                archiverLine = line
            case "cluster_backend_args":
                backendArgs = Self.words(option, fail: fail)
                backendLine = line
            case "cluster_node_prefix":
                guard value.isEmpty || Self.isNodePrefix(value) else {
                    fail(line, "invalid cluster_node_prefix '\(value)' (must be empty or match /[a-z0-9][-_a-z0-9]+/)")
                    continue
                }
                clusterNodePrefix = value
            case "port", "cluster_port":
                guard let number = Int(value), (1...65535).contains(number) else { fail(line, "invalid \(key) '\(value)': a port from 1 to 65535"); continue }
                port = number
            case "metrics_port":
                guard let number = Int(value), (0...65535).contains(number) else {
                    fail(line, "invalid metrics_port '\(value)': a port from 1 to 65535, or 0 for no metrics")
                    continue
                }
                metricsPort = number
            case "address", "cluster_address":
                guard let address = Self.address(value) else { fail(line, "invalid address '\(value)'"); continue }
                self.address = address
            case "restart_interval_sec":
                guard let seconds = Int(value), (0...NodeLimits.maximumRestartInterval).contains(seconds) else {
                    fail(line, "invalid restart_interval_sec '\(value)': whole seconds from 0 to \(NodeLimits.maximumRestartInterval)")
                    continue
                }
                restartIntervalSec = seconds
            case _ where Self.hostPathOptions[key] != nil:
                notCarried.append(ZeekConfProblem(file: "", line: line, "\(key) is not carried to the hosts: \(Self.hostPathOptions[key]!)"))
            case _ where Self.refusedOptions[key] != nil:
                fail(line, "option '\(key)' is not supported: \(Self.refusedOptions[key]!)")
            default:
                let section = zeekSection?.name.isEmpty == false ? " in section 'zeek'" : ""
                fail(line, "invalid key '\(key)'\(section)")
            }
        }
        guard errors.isEmpty else { throw ZeekConfProblems(errors) }

        // Zeek's defaults, in its order.
        if clusterNodePrefix == nil, let filenameHost { clusterNodePrefix = filenameHost }
        if archiver == nil, manager || loggers > 0 { archiver = "1" }
        if filenameHost == nil, address == nil { address = IPAddress("127.0.0.1") }
    }

    /// Reads an `[interface NAME]` section (or a section-less file's worker options) as
    /// Zeek's `InterfaceWorkerConfig::from_section` does; nil after reporting a problem, or
    /// for a section-less file without workers.
    private static func interface(from section: ZeekConfDocument.Section, sectionless: Bool,
                                  fail: (Int, String) -> Void) -> Interface? {
        var result = Interface(name: "", line: section.line)
        let inSection = section.name.isEmpty ? "" : " in section '\(section.name)'"
        if !section.name.isEmpty {
            let name = section.name.dropFirst("interface".count)
            guard name.first == " ", name.dropFirst().allSatisfy({ $0 == "-" || $0 == "_" || ("a"..."z").contains($0) || ($0.isASCII && $0.isNumber) }),
                  name.count > 1 else {
                fail(section.line, "invalid interface name in '\(section.name)' (must match /interface [-_a-z0-9]+/)")
                return nil
            }
            result.name = String(name.dropFirst())
            guard !section.options.isEmpty else {
                fail(section.line, "empty section '\(section.name)'")
                return nil
            }
        }
        var hasInterface = false
        var failed = false
        for option in section.options {
            let key = option.key.lowercased()
            let value = option.value
            guard interfaceKeys.contains(key) else {
                if !sectionless {
                    fail(option.line, "invalid option '\(key)'\(inSection)")
                    failed = true
                }
                continue
            }
            if !key.hasSuffix("env"), !key.hasSuffix("args"), option.values.count > 1 {
                fail(option.line, "multiple values for '\(key)' given")
                failed = true
                continue
            }
            switch key {
            case "interface":
                result.interface = value
                result.interfaceLine = option.line
                hasInterface = true
            case "workers":
                guard let number = Int(value), (0...maximumCount).contains(number) else {
                    fail(option.line, "invalid workers value: '\(value)'" + (Int(value).map { $0 > maximumCount ? " (at most \(maximumCount) per section)" : "" } ?? ""))
                    failed = true
                    continue
                }
                result.workers = number
            case "worker_args":
                result.args = words(option, fail: fail)
                result.argsLine = option.line
            case "worker_env":
                result.env = environment(option, fail: fail)
            case "workers_cpu_list":
                guard let cpus = workerCPUs(value) else { fail(option.line, "invalid workers_cpu_list value '\(value)'"); failed = true; continue }
                result.cpuList = cpus
            case "worker_numa_policy", "workers_numa_policy":
                guard value == "local" || value == "default" else { fail(option.line, "invalid '\(key)' value"); failed = true; continue }
                if value == "local" {
                    fail(option.line, "\(key) = local is not supported: supervisors do not set NUMA memory policies; leave it out (or set default)")
                    failed = true
                }
            case "worker_nice":
                guard let nice = Int(value), (-20...19).contains(nice) else { fail(option.line, "invalid worker_nice value '\(value)'"); failed = true; continue }
                result.nice = nice
            case "worker_memory_max":
                guard let bytes = NodeLimits.memory(value) else { fail(option.line, "invalid worker_memory_max '\(value)'"); failed = true; continue }
                result.memoryMax = bytes
            default:
                break
            }
        }
        if failed { return nil }
        if result.workers >= 0, !hasInterface {
            fail(section.line == 0 ? section.options.first { $0.key.lowercased() == "workers" }?.line ?? 0 : section.line,
                 "found workers but no interface option\(inSection)")
            return nil
        }
        if result.workers < 0, !result.interface.isEmpty {
            fail(result.interfaceLine, "found interface but no worker option\(inSection)")
            return nil
        }
        if !result.name.isEmpty, result.interface.isEmpty {
            fail(hasInterface ? result.interfaceLine : section.line, "empty interface option not allowed\(inSection)")
            return nil
        }
        return result.workers < 0 ? nil : result
    }

    /// Reads one of `_args`, `_env`, `_nice`, `_memory_max`, `_cpu_set` of a node type; nil
    /// when `suffix` is none of them (the key is then unknown).
    private static func typeOption(_ suffix: Substring, _ option: ZeekConfDocument.Option,
                                   fail: (Int, String) -> Void) -> ((inout TypeOptions) -> Void)? {
        let key = option.key.lowercased()
        let value = option.values.count == 1 ? option.value : ""
        switch suffix {
        case "args":
            let words = words(option, fail: fail)
            return { $0.args = words; $0.argsLine = option.line }
        case "env":
            let env = environment(option, fail: fail)
            return { $0.env = env }
        case "nice":
            guard let nice = Int(value.trimmingWhitespace()), (-20...19).contains(nice) else {
                fail(option.line, "invalid \(key) value '\(value)'")
                return { _ in }
            }
            return { $0.nice = nice }
        case "memory_max":
            guard let bytes = NodeLimits.memory(value) else {
                fail(option.line, "invalid \(key) '\(value)'")
                return { _ in }
            }
            return { $0.memoryMax = bytes }
        case "cpu_set":
            guard let cpus = cpuList(value), !cpus.isEmpty else {
                fail(option.line, "invalid \(key) '\(value)'")
                return { _ in }
            }
            return { $0.cpuSet = cpus }
        default:
            return nil
        }
    }

    /// `workers_cpu_list` as Zeek's `CpuList` reads it (`0-8:2,10`), in order and with any
    /// repetitions: worker N takes the Nth entry, round robin.
    static func workerCPUs(_ text: String) -> [Int]? {
        if text.isEmpty { return [] }
        var cpus: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let range = NodeLimits.cpuList(String(part)) else { return nil }
            cpus += range
        }
        return cpus.allSatisfy({ $0 < NodeLimits.cpuLimit }) ? cpus : nil
    }

    /// `*_cpu_set` as Zeek's `CpuList` reads it (`0-8:2,10`), with CPUs in the kernel's range.
    private static func cpuList(_ text: String) -> [Int]? {
        if text.isEmpty { return [] }
        guard let cpus = NodeLimits.cpuList(text), cpus.allSatisfy({ $0 < NodeLimits.cpuLimit }) else { return nil }
        return cpus
    }

    /// `env`-style values: one `KEY=VALUE` per value, empty values skipped.
    private static func environment(_ option: ZeekConfDocument.Option, fail: (Int, String) -> Void) -> [(key: String, value: String, line: Int)] {
        var result: [(key: String, value: String, line: Int)] = []
        for (offset, value) in option.values.enumerated() where !value.isEmpty {
            guard let equals = value.firstIndex(of: "="), equals != value.startIndex else {
                fail(option.line + offset, "error in \(option.key.lowercased()): invalid env value '\(value)'")
                continue
            }
            result.append((String(value[..<equals]), String(value[value.index(after: equals)...]), option.line + offset))
        }
        return result
    }

    /// An `_args` option's words, split as systemd splits a command line.
    private static func words(_ option: ZeekConfDocument.Option, fail: (Int, String) -> Void) -> [String] {
        do {
            return try shellWords(option.joined)
        } catch {
            fail(option.line, "invalid \(option.key.lowercased()) '\(option.joined)': \(error)")
            return []
        }
    }

    /// Zeek's `is_valid_ip`: a dotted IPv4 address, or an IPv6 address in brackets.
    static func address(_ text: String) -> IPAddress? {
        if text.hasPrefix("["), text.hasSuffix("]") {
            let inner = String(text.dropFirst().dropLast())
            return inner.contains(":") ? IPAddress(inner) : nil
        }
        return text.contains(":") ? nil : IPAddress(text)
    }

    private static func isNodePrefix(_ text: String) -> Bool {
        guard let first = text.first, first.isASCII, first.isLowercase || first.isNumber else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    private static func isAccountName(_ text: String) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter || first == "_", text.count <= 32 else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
    }
}
