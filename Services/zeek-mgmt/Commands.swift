import ArgumentParser
import ClusterConfiguration
import Foundation
import ManagementKafka
import ManagementMessaging
import ManagementTypes

/// A command that sends requests to the controller.
protocol ControllerCommand: AsyncParsableCommand {
    var options: ClientOptions { get }
    /// Runs against a connected client and returns the exit code.
    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32
    /// Topics beyond the controller's whose messages go to ``observer``.
    var observedTopics: [Topic] { get }
    var observer: (@Sendable (InboundMessage) -> Void)? { get }
}

extension ControllerCommand {
    var observedTopics: [Topic] { [] }
    var observer: (@Sendable (InboundMessage) -> Void)? { nil }

    func run() async throws {
        let settings = try options.resolve()
        if settings.quiet { Console.silence() }
        try await prepare(settings: settings)
        let code: Int32
        do {
            let client = try await settings.connect(extraTopics: observedTopics, observer: observedTopics.isEmpty ? nil : observer)
            code = try await run(settings: settings, client: client)
        } catch {
            code = error.rawValue
        }
        // Requests are delivered and answered, and output is written unbuffered: ending the
        // process here, without atexit handlers racing librdkafka's threads, also saves the
        // second a full client shutdown takes.
        _exit(code)
    }

    /// Work before connecting (reading files), so bad input fails fast.
    func prepare(settings: ClientSettings) async throws {}
}

struct GetInstances: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "get-instances", abstract: "Show the instances (agents) checked in with the controller.")
    @OptionGroup var options: ClientOptions

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.GetInstancesRequest(reqid: newRequestID()))
        return Reports.instances(response.result, settings: settings)
    }
}

struct GetConfig: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "get-config", abstract: "Show the staged (default) or deployed cluster configuration.")
    @OptionGroup var options: ClientOptions

    @Flag(help: "The deployed configuration instead of the staged one.")
    var deployed = false
    @Flag(name: .customLong("staged"), help: "The staged configuration (the default).")
    var staged = false
    @Flag(name: .customLong("as-json"), help: "Print JSON instead of the INI cluster configuration format.")
    var asJSON = false
    @Option(name: [.short, .customLong("filename")], help: ArgumentHelp("Write to this file instead of stdout (- = stdout).", valueName: "file"))
    var filename: String?

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.GetConfigurationRequest(reqid: newRequestID(), deployed: deployed))
        return Reports.configuration(response.result, asJSON: asJSON, filename: filename, settings: settings)
    }
}

struct StageConfig: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "stage-config", abstract: "Send a cluster configuration file (- = stdin) to the controller, without deploying it.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The cluster configuration, in zeek-client's INI format.") var config: String?

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let configuration = try readClusterConfiguration(config, settings: settings)
        let (code, report) = try await stage(configuration, settings: settings, client: client)
        Console.output(PythonJSON.render(report, pretty: settings.prettyJSON))
        return code
    }
}

struct Deploy: ControllerCommand {
    static let configuration = CommandConfiguration(abstract: "Deploy the staged configuration.")
    @OptionGroup var options: ClientOptions
    var observedTopics: [Topic] { Console.stderrIsTerminal ? [.agentAPI.notify] : [] }
    var observer: (@Sendable (InboundMessage) -> Void)? { { DeployProgress.shared.observe($0) } }

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        try await deploy(settings: settings, client: client)
    }
}

struct DeployConfig: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "deploy-config", abstract: "Stage a cluster configuration file (- = stdin) and deploy it.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The cluster configuration, in zeek-client's INI format.") var config: String?
    var observedTopics: [Topic] { Console.stderrIsTerminal ? [.agentAPI.notify] : [] }
    var observer: (@Sendable (InboundMessage) -> Void)? { { DeployProgress.shared.observe($0) } }

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let configuration = try readClusterConfiguration(config, settings: settings)
        let (code, report) = try await stage(configuration, settings: settings, client: client)
        guard code == 0 else {
            Console.output(PythonJSON.render(report, pretty: settings.prettyJSON))
            return code
        }
        return try await deploy(settings: settings, client: client)
    }
}

struct GetNodes: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "get-nodes", abstract: "Show the nodes every agent runs, with their state.")
    @OptionGroup var options: ClientOptions

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.GetNodesRequest(reqid: newRequestID()))
        return Reports.nodes(response.results, settings: settings)
    }
}

struct GetIDValue: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "get-id-value", abstract: "Show the value of a global identifier on the cluster's nodes.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The identifier, e.g. Cluster::node.") var id: String
    @Argument(help: "Nodes to ask (default: all).") var nodes: [String] = []

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let request = ControllerAPI.GetIDValueRequest(reqid: newRequestID(), id: id, nodes: Set(nodes))
        let response = try await settings.ask(client, request)
        return Reports.idValues(response.results, settings: settings)
    }
}

struct Restart: ControllerCommand {
    static let configuration = CommandConfiguration(abstract: "Restart cluster nodes (default: all).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Nodes to restart.") var nodes: [String] = []

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.RestartRequest(reqid: newRequestID(), nodes: Set(nodes)))
        return Reports.restart(response.results, settings: settings)
    }
}

struct TestTimeout: ControllerCommand {
    static let configuration = CommandConfiguration(commandName: "test-timeout", abstract: "Ask the controller for a request that times out (with state: the controller answers with its timeout).")
    @OptionGroup var options: ClientOptions
    @Flag(name: .customLong("with-state"), help: "Let the controller keep request state, so it answers when it times out.")
    var withState = false

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.TestTimeoutRequest(reqid: newRequestID(), withState: withState))
        let result = response.result
        Console.output(PythonJSON.render(["success": .bool(result.success), "error": result.error.map(JSONValue.string) ?? .null], pretty: settings.prettyJSON))
        return 0
    }
}

struct ShowSettings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show-settings", abstract: "Print the effective client settings, as a settings file.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        Console.output(try options.resolve().shownDocument.text.trimmingCharacters(in: .newlines))
    }
}

// MARK: Shared steps

func newRequestID() -> String {
    UUID().uuidString.lowercased()
}

/// Reads a cluster configuration file (`-` = stdin) as zeek-client does; nothing is sent for
/// a file with errors.
func readClusterConfiguration(_ path: String?, settings: ClientSettings) throws(ExitCode) -> Management.Configuration {
    let text: String?
    if path == "-" {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    } else if let path, FileManager.default.fileExists(atPath: path) {
        text = try? String(contentsOfFile: path, encoding: .utf8)
    } else {
        text = nil
    }
    guard let text else {
        Console.error("please provide a cluster configuration file.")
        throw ExitCode.failure
    }
    let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
    do {
        let reading = try ClusterConfigurationFile.read(text, id: newRequestID(), defaultInstance: "agent-\(host)")
        let verbosity = Int(settings.document[section: "client"]?["verbosity"]?.flatMap { $0 } ?? "0") ?? 0
        reading.warnings.forEach { Console.warning($0, verbosity: verbosity) }
        return reading.configuration
    } catch {
        Console.error("\(error)")
        Console.error("configuration has errors, not sending")
        throw ExitCode.failure
    }
}

func stage(_ config: Management.Configuration, settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> (Int32, JSONValue) {
    let response = try await settings.ask(client, ControllerAPI.StageConfigurationRequest(reqid: newRequestID(), config: config))
    return Reports.staging(response.results)
}

func deploy(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
    let progress = DeployProgress.shared
    progress.start()
    defer { progress.finish() }
    let response = try await settings.ask(client, ControllerAPI.DeployRequest(reqid: newRequestID()))
    progress.finish()
    let (code, report) = Reports.deployment(response.results)
    Console.output(PythonJSON.render(report, pretty: settings.prettyJSON))
    return code
}
