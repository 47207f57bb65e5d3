import ArgumentParser
import ClusterConfiguration
import Foundation
import ManagementMessaging
import ManagementTypes

/// Turns controller responses into zeek-client's output (stdout JSON with its exact shapes)
/// and exit codes.
enum Reports {
    static func instances(_ result: Management.Result, settings: ClientSettings) -> Int32 {
        guard result.success else {
            Console.error(result.error ?? "no reason given")
            return 1
        }
        guard let instances = try? result.data?.decode(as: [Management.Instance].self) else {
            Console.error("received result did not contain instance data")
            return 1
        }
        var report: [String: JSONValue] = [:]
        for instance in instances {
            var entry: [String: JSONValue] = [:]
            if instance.host != .unspecified || instance.listenPort != nil { entry["host"] = .string(instance.host.description) }
            if let port = instance.listenPort { entry["port"] = .int(Int64(port.number)) }
            report[instance.name] = .object(entry)
        }
        Console.output(PythonJSON.render(.object(report), pretty: settings.prettyJSON))
        return 0
    }

    /// How get-config prints a configuration.
    enum ConfigurationOutput {
        case ini, json, zeekConf
    }

    static func configuration(_ result: Management.Result, as output: ConfigurationOutput, filename: String?, settings: ClientSettings) -> Int32 {
        guard result.success else {
            Console.error(result.error ?? "no reason given")
            return 1
        }
        guard let config = try? result.data?.decode(as: Management.Configuration.self) else {
            Console.error("received result did not contain configuration data")
            return 1
        }
        let files: [(name: String?, text: String)]
        switch output {
        case .ini: files = [(nil, ClusterConfigurationFile.render(config))]
        case .json: files = [(nil, PythonJSON.render(json(config), pretty: settings.prettyJSON) + "\n")]
        case .zeekConf:
            do {
                files = try ZeekConfFile.render(config).map { ($0.fileName, $0.text) }
            } catch {
                Console.error("\(error)")
                return 1
            }
        }
        guard let filename, filename != "-" else {
            for (name, text) in files {
                if let name { FileHandle.standardOutput.write(Data("# ==> \(name) <==\n".utf8)) }
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            return 0
        }
        do {
            if output == .zeekConf {
                try FileManager.default.createDirectory(atPath: filename, withIntermediateDirectories: true)
                for (name, text) in files {
                    try text.write(toFile: (filename as NSString).appendingPathComponent(name ?? "zeek.conf"), atomically: true, encoding: .utf8)
                }
            } else {
                try files[0].text.write(toFile: filename, atomically: true, encoding: .utf8)
            }
        } catch {
            Console.error("cannot write \(filename): \(error.localizedDescription)")
            return 1
        }
        return 0
    }

    /// zeek-client's JSON form of a configuration (get-config --as-json).
    static func json(_ config: Management.Configuration) -> JSONValue {
        let instances: [JSONValue] = config.instances.sorted().map { instance in
            var entry: [String: JSONValue] = ["name": .string(instance.name)]
            if let port = instance.listenPort {
                entry["host"] = .string(instance.host.description)
                entry["port"] = .int(Int64(port.number))
            } else if instance.host != .unspecified {
                entry["host"] = .string(instance.host.description)
            }
            return .object(entry)
        }
        let nodes: [JSONValue] = config.nodes.sorted { $0.name < $1.name }.map { node in
            var entry: [String: JSONValue] = [
                "name": .string(node.name), "instance": .string(node.instance), "role": .string(node.role.rawValue),
                "port": node.port.map { .int(Int64($0.number)) } ?? .null,
                "scripts": node.scripts.map { .array($0.map(JSONValue.string)) } ?? .null,
                "options": node.options.map { options in .object(Dictionary(options.map { ($0.name, JSONValue.string($0.value)) }, uniquingKeysWith: { $1 })) } ?? .null,
                "interface": node.interface.map(JSONValue.string) ?? .null,
                "cpu_affinity": node.cpuAffinity.map { .int(Int64($0)) } ?? .null,
                "env": .object(node.env.mapValues(JSONValue.string)),
                "metrics_port": node.metricsPort.map { .int(Int64($0.number)) } ?? .null,
            ]
            // Beyond zeek-client, and only where set, so zeek-client's output is unchanged otherwise.
            if let limits = node.limits, let value = try? JSONValue(encoding: limits) { entry["limits"] = value }
            if let user = node.user { entry["user"] = .string(user) }
            if let group = node.group { entry["group"] = .string(group) }
            return .object(entry)
        }
        return ["id": .string(config.id), "instances": .array(instances), "nodes": .array(nodes)]
    }

    static func staging(_ results: [Management.Result]) -> (Int32, JSONValue) {
        var errors: [JSONValue] = []
        var report: [String: JSONValue] = [:]
        for result in results {
            if !result.success {
                errors.append(.string(result.error ?? "no reason given"))
            } else if let data = result.data {
                report["id"] = data
            }
        }
        return (errors.isEmpty && results.allSatisfy(\.success) ? 0 : 1, ["errors": .array(errors), "results": .object(report)])
    }

    static func deployment(_ results: [Management.Result]) -> (Int32, JSONValue) {
        var code: Int32 = 0
        var errors: [JSONValue] = []
        var report: [String: JSONValue] = [:]
        var nodes: [String: JSONValue] = [:]
        for result in results {
            if !result.success { code = 1 }
            if !result.success, result.node == nil, let error = result.error {
                errors.append(.string(error))
                continue
            }
            if result.success, result.node == nil, result.instance == nil, let data = result.data {
                report["id"] = data
                continue
            }
            guard let instance = result.instance, let node = result.node else { continue }
            var entry: [String: JSONValue] = ["instance": .string(instance), "success": .bool(result.success)]
            if let outputs = try? result.data?.decode(as: Management.NodeOutputs.self) {
                entry["stdout"] = .string(outputs.stdout)
                entry["stderr"] = .string(outputs.stderr)
            }
            nodes[node] = .object(entry)
        }
        if !nodes.isEmpty { report["nodes"] = .object(nodes) }
        return (code, ["errors": .array(errors), "results": .object(report)])
    }

    static func nodes(_ results: [Management.Result], settings: ClientSettings) -> Int32 {
        var errors: [JSONValue] = []
        var report: [String: JSONValue] = [:]
        for result in results.sorted(by: resultOrder) {
            let source: JSONValue = result.instance.map(JSONValue.string) ?? .null
            guard result.success else {
                errors.append(["source": source, "error": .string(result.error ?? "")])
                continue
            }
            guard let instance = result.instance, let data = result.data,
                  let statuses = try? data.decode(as: [Management.NodeStatus].self) else {
                errors.append(["source": source, "error": "result does not contain node status data"])
                continue
            }
            var entries: [String: JSONValue] = [:]
            for status in statuses {
                var entry: [String: JSONValue] = [
                    "state": .string(status.state.rawValue),
                    "mgmt_role": status.mgmtRole == .none ? .null : .string(status.mgmtRole.rawValue),
                    "cluster_role": status.clusterRole == .none ? .null : .string(status.clusterRole.rawValue),
                ]
                if let pid = status.pid { entry["pid"] = .int(Int64(pid)) }
                if let port = status.port { entry["port"] = .int(Int64(port.number)) }
                if let port = status.metricsPort { entry["metrics_port"] = .int(Int64(port.number)) }
                // Beyond zeek-client: how the node's last process ended (killed at its memory limit, say).
                if let exit = status.lastExit { entry["last_exit"] = .string(exit) }
                entries[status.node] = .object(entry)
            }
            report[instance] = .object(entries)
        }
        Console.output(PythonJSON.render(["errors": .array(errors), "results": .object(report)], pretty: settings.prettyJSON))
        return errors.isEmpty ? 0 : 1
    }

    static func idValues(_ results: [Management.Result], settings: ClientSettings) -> Int32 {
        var errors: [JSONValue] = []
        var report: [String: JSONValue] = [:]
        for result in results.sorted(by: resultOrder) {
            let source: JSONValue = result.node.map(JSONValue.string) ?? .null
            guard result.success else {
                errors.append(["source": source, "error": .string(result.error ?? "")])
                continue
            }
            guard let node = result.node else {
                errors.append(["source": .null, "error": .string("result lacking node: \(result)")])
                continue
            }
            guard case .string(let text)? = result.data else {
                errors.append(["source": source, "error": .string("invalid result data type \(result.data.map { "\($0)" } ?? "none")")])
                continue
            }
            do {
                report[node] = try ZeekJSON.decode(JSONValue.self, from: Data(text.utf8))
            } catch {
                errors.append(["source": source, "error": .string("JSON decode error: \(error)")])
            }
        }
        Console.output(PythonJSON.render(["errors": .array(errors), "results": .object(report)], pretty: settings.prettyJSON))
        return errors.isEmpty ? 0 : 1
    }

    static func restart(_ results: [Management.Result], settings: ClientSettings) -> Int32 {
        var errors: [JSONValue] = []
        var report: [String: JSONValue] = [:]
        for result in results.sorted(by: resultOrder) {
            if !result.success, result.instance == nil {
                errors.append(["source": result.node.map(JSONValue.string) ?? .null, "error": .string(result.error ?? "")])
            } else if let node = result.node {
                report[node] = .bool(result.success)
            } else {
                errors.append(["source": .null, "error": .string("result lacking node: \(result)")])
            }
        }
        Console.output(PythonJSON.render(["errors": .array(errors), "results": .object(report)], pretty: settings.prettyJSON))
        return errors.isEmpty ? 0 : 1
    }

    /// zeek-client orders Results by instance, then node (unset first).
    static func resultOrder(_ lhs: Management.Result, _ rhs: Management.Result) -> Bool {
        (lhs.instance ?? "", lhs.node ?? "") < (rhs.instance ?? "", rhs.node ?? "")
    }
}
