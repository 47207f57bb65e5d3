import Foundation
import ManagementTypes

/// A Zeek installation the supervisor runs nodes with: the `zeek` executable and the script
/// search path it was built with.
///
/// Operators name it the way they already do for zeekctl: the executable, the install prefix
/// (`/usr/local/zeek` in the official image, `/opt/zeek` from packages), or `auto`, which looks
/// in `$ZEEK_HOME/bin`, then `PATH`, then the usual prefixes.
public struct ZeekInstallation: Sendable, Hashable {
    /// Absolute path of the `zeek` executable.
    public let executable: String
    /// Zeek's own script search path (`zeek-config --zeekpath`), which node scripts come after
    /// the node's generated files on `ZEEKPATH`.
    public let scriptPath: String
    /// What `zeek --version` says, e.g. `8.0.10`; empty if it could not be run.
    public let version: String

    /// Where this Zeek finds dynamic plugins, which it loads at every start: as
    /// `zeek-config --plugin_dir` says, and Zeek's default places under the prefix.
    public var pluginDirectories: [String] {
        let prefix = URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent().path
        let defaults = ["\(prefix)/lib/zeek/plugins", "\(prefix)/lib64/zeek/plugins"]
        return (configuredPluginDirectory.map { [$0] } ?? []) + defaults.filter { $0 != configuredPluginDirectory }
    }

    /// What `zeek-config --plugin_dir` said, if it could be asked.
    private let configuredPluginDirectory: String?

    /// Why this Zeek cannot run a cluster node on `backend`, or nil if it can.
    ///
    /// - ZeroMQ needs Zeek's ZeroMQ backend scripts and Zeek 8.1 or later: 8.0 ships the
    ///   scripts, but its ZeroMQ nodes never answered the relay over Zeek's WebSocket API.
    /// - Broker cannot serve the relay from Zeek 9.1 on: Zeek removed its Broker WebSocket
    ///   server, which the node script opens.
    public func problem(with backend: ClusterBackend.Name) -> String? {
        switch backend {
        case .zeromq:
            guard hasScript("policy/frameworks/cluster/backend/zeromq/main.zeek") else {
                return "Zeek \(version) (\(executable)) has no ZeroMQ cluster backend: deploy with backend = broker, or run Zeek 8.1 or later"
            }
            // Zeek 8.0 has the backend, but its nodes never answer a WebSocket client (the
            // relay) through it, and its loggers end at once: they would silently never serve.
            guard !version.isEmpty else {
                return "cannot tell which Zeek \(executable) is (`zeek --version` failed), and ZeroMQ needs Zeek 8.1 or later: check the installation"
            }
            guard ClusterBackend.zeek(version, isAtLeast: (8, 1)) else {
                return "Zeek \(version) runs ZeroMQ nodes its relay cannot reach (Zeek's WebSocket API on ZeroMQ needs Zeek 8.1 or later): "
                    + "deploy with backend = broker (Zeek 8.0's default), or run Zeek 8.1 or later"
            }
            return nil
        case .broker:
            guard ClusterBackend.zeek(version, isAtLeast: (9, 1)) else { return nil }
            return "Zeek \(version) has no WebSocket server on the Broker backend, which nodes need to reach their relay: deploy with backend = zeromq (or auto)"
        }
    }

    /// Whether `relative` (e.g. `policy/frameworks/...`) is among Zeek's installed scripts.
    public func hasScript(_ relative: String) -> Bool {
        let tail = relative.hasPrefix("policy/") ? String(relative.dropFirst("policy/".count)) : relative
        return scriptPath.split(separator: ":").contains { directory in
            FileManager.default.fileExists(atPath: "\(directory)/\(relative)") || FileManager.default.fileExists(atPath: "\(directory)/\(tail)")
        }
    }

    public struct NotFound: Error, CustomStringConvertible {
        public let description: String
    }

    /// Well-known install prefixes, searched by `auto` after `ZEEK_HOME` and `PATH`.
    public static let commonPrefixes = ["/usr/local/zeek", "/opt/zeek"]

    /// Finds Zeek from `location` (an executable, a prefix, or `auto`).
    public static func locate(_ location: String, environment: [String: String]) throws(NotFound) -> ZeekInstallation {
        let executable: String
        if location == "auto" {
            var candidates: [String] = []
            if let home = environment["ZEEK_HOME"], !home.isEmpty { candidates.append("\(home)/bin/zeek") }
            candidates += (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/zeek" }
            candidates += commonPrefixes.map { "\($0)/bin/zeek" }
            guard let found = candidates.first(where: isExecutableFile) else {
                throw NotFound(description: "no zeek found in $ZEEK_HOME/bin, PATH, \(commonPrefixes.joined(separator: ", ")): install Zeek or pass --zeek PATH")
            }
            executable = found
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory) else {
                throw NotFound(description: "--zeek \(location): no such file or directory")
            }
            executable = isDirectory.boolValue ? "\(location)/bin/zeek" : location
            guard isExecutableFile(executable) else {
                throw NotFound(description: "--zeek \(location): \(executable) is not an executable zeek")
            }
        }
        let resolved = URL(fileURLWithPath: executable).resolvingSymlinksInPath().standardizedFileURL.path
        let version = ((try? run(resolved, ["--version"])) ?? "").split(separator: " ").last.map(String.init) ?? ""
        // One run of zeek-config for both answers; one that knows no --plugin_dir is asked for
        // the script path alone.
        let configured = zeekConfig(of: resolved, ["--zeekpath", "--plugin_dir"])
        let scriptPath = configured?[0] ?? zeekConfig(of: resolved, ["--zeekpath"])?[0] ?? defaultScriptPath(of: resolved)
        return ZeekInstallation(executable: resolved, scriptPath: scriptPath, version: version, pluginDirectory: configured?[1])
    }

    public init(executable: String, scriptPath: String, version: String = "", pluginDirectory: String? = nil) {
        self.executable = executable
        self.scriptPath = scriptPath
        self.version = version
        self.configuredPluginDirectory = pluginDirectory
    }

    /// What `zeek-config` beside `executable` answers to `options`, one non-empty line per
    /// option; nil without one, or if it answered otherwise.
    private static func zeekConfig(of executable: String, _ options: [String]) -> [String]? {
        let config = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("zeek-config").path
        guard isExecutableFile(config), let output = try? run(config, options) else { return nil }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.count == options.count, !lines.contains(where: \.isEmpty) else { return nil }
        return lines
    }

    /// Zeek's default script path under the prefix, for an installation without `zeek-config`.
    private static func defaultScriptPath(of executable: String) -> String {
        let bin = URL(fileURLWithPath: executable).deletingLastPathComponent()
        let share = bin.deletingLastPathComponent().appendingPathComponent("share/zeek").path
        return [".", share, "\(share)/policy", "\(share)/site", "\(share)/builtin-plugins"].joined(separator: ":")
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return "" }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
