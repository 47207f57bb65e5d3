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
}

extension ControllerCommand {
    func run() async throws {
        let settings = try options.resolve()
        if settings.quiet { Console.silence() }
        await runConnected(settings: settings) { client throws(ExitCode) in
            try await run(settings: settings, client: client)
        }
    }
}

/// Connects, runs `body` and ends the process with its exit code.
///
/// Requests are delivered and answered, and output is written unbuffered: ending the process
/// here, without atexit handlers racing librdkafka's threads, also saves the second a full
/// client shutdown takes.
func runConnected(
    settings: ClientSettings, extraTopics: [Topic] = [], observer: (@Sendable (InboundMessage) -> Void)? = nil,
    _ body: (ManagementClient) async throws(ExitCode) -> Int32
) async -> Never {
    let code: Int32
    do {
        let client = try await settings.connect(extraTopics: extraTopics, observer: extraTopics.isEmpty ? nil : observer)
        code = try await body(client)
    } catch {
        code = error.rawValue
    }
    _exit(code)
}

/// Where a command reads a cluster configuration from, and in which format.
struct ConfigurationInput: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "The cluster configuration (- = stdin): zeek-client's INI file, a zeek.conf, or a directory of <host>.zeek.conf files.",
        valueName: "config"))
    var config: String?
    @Option(help: "The file's format: ini, zeek-conf, or auto (*.conf and directories are zeek.conf, *.ini is INI, else the text decides).")
    var format: String = "auto"
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
    @Flag(name: .customLong("as-zeek-conf"), help: "Print Zeek's zeek.conf format: one <instance>.zeek.conf per instance (with --filename, into that directory).")
    var asZeekConf = false
    @Option(name: [.short, .customLong("filename")], help: ArgumentHelp("Write to this file (a directory with --as-zeek-conf) instead of stdout (- = stdout).", valueName: "file"))
    var filename: String?

    func validate() throws {
        if asJSON && asZeekConf { throw ValidationError("--as-json and --as-zeek-conf exclude each other") }
    }

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.GetConfigurationRequest(reqid: newRequestID(), deployed: deployed))
        let format: Reports.ConfigurationOutput = asJSON ? .json : asZeekConf ? .zeekConf : .ini
        return Reports.configuration(response.result, as: format, filename: filename, settings: settings)
    }
}

struct StageConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage-config", abstract: "Send a cluster configuration (- = stdin) to the controller, without deploying it.",
        aliases: ["stage"])
    @OptionGroup var options: ClientOptions
    @OptionGroup var input: ConfigurationInput

    func run() async throws {
        // First: a file with errors fails at once, whatever the keys and whether or not a broker is up.
        let reading = try readClusterConfiguration(input)
        let settings = try options.resolve()
        if settings.quiet { Console.silence() }
        reading.warn(settings: settings)
        await runConnected(settings: settings) { client throws(ExitCode) in
            let (code, report) = try await stage(reading.configuration, settings: settings, client: client)
            Console.output(PythonJSON.render(report, pretty: settings.prettyJSON))
            return code
        }
    }
}

struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deploy the staged configuration, or stage and deploy the one given.")
    @OptionGroup var options: ClientOptions
    @OptionGroup var input: ConfigurationInput

    func run() async throws {
        try await stageAndDeploy(input.config == nil ? nil : input, options: options)
    }
}

struct DeployConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy-config", abstract: "Stage a cluster configuration (- = stdin) and deploy it.")
    @OptionGroup var options: ClientOptions
    @OptionGroup var input: ConfigurationInput

    func run() async throws {
        try await stageAndDeploy(input, options: options)
    }
}

/// Deploys `input` (staged first) or, with none, the staged configuration, showing progress.
func stageAndDeploy(_ input: ConfigurationInput?, options: ClientOptions) async throws {
    // First: a file with errors fails at once, whatever the keys and whether or not a broker is up.
    let reading = try input.map { input throws(ExitCode) in try readClusterConfiguration(input) }
    let settings = try options.resolve()
    if settings.quiet { Console.silence() }
    reading?.warn(settings: settings)
    let configuration = reading?.configuration
    let progress: [Topic] = Console.stderrIsTerminal ? [.agentAPI.notify] : []
    await runConnected(settings: settings, extraTopics: progress, observer: { DeployProgress.shared.observe($0) }) { client throws(ExitCode) in
        if let configuration {
            let (code, report) = try await stage(configuration, settings: settings, client: client)
            guard code == 0 else {
                Console.output(PythonJSON.render(report, pretty: settings.prettyJSON))
                return code
            }
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

/// Reads a cluster configuration (`-` = stdin) in either format, as zeek-client reads its
/// files: every problem is printed and nothing is sent for a configuration with errors.
///
/// Needs no settings: a configuration is checked before keys or brokers are.
func readClusterConfiguration(_ input: ConfigurationInput) throws(ExitCode) -> ConfigurationReading {
    guard let path = input.config else {
        Console.error("please provide a cluster configuration file.")
        throw ExitCode.failure
    }
    let requested: ConfigurationFormat?
    if input.format == "auto" {
        requested = nil
    } else if let format = ConfigurationFormat(rawValue: input.format) {
        requested = format
    } else {
        Console.error("unknown format \"\(input.format)\": ini, zeek-conf or auto")
        throw ExitCode.failure
    }
    var sources: [ZeekConfFile.Source] = []
    var isDirectory: ObjCBool = false
    if path == "-" {
        sources = [.init(path: "<stdin>", text: String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self))]
    } else if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).filter(ZeekConfFile.isHostFile).sorted()
        } catch {
            Console.error("cannot read the directory \(path): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        guard !names.isEmpty else {
            Console.error("no <hostname>.zeek.conf files in \(path)")
            throw ExitCode.failure
        }
        for name in names {
            let file = (path as NSString).appendingPathComponent(name)
            sources.append(.init(path: file, text: try configurationText(file)))
        }
    } else if FileManager.default.fileExists(atPath: path) {
        sources = [.init(path: path, text: try configurationText(path))]
    } else {
        Console.error("please provide a cluster configuration file.")
        throw ExitCode.failure
    }
    let format = requested ?? (isDirectory.boolValue ? .zeekConf : ConfigurationFormat.detect(fileName: path, text: sources[0].text))
    let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
    do {
        let reading: ClusterConfigurationFile.Reading
        switch format {
        case .ini:
            guard sources.count == 1 else {
                Console.error("\(path) is a directory: zeek-client's INI format is one file")
                throw ExitCode.failure
            }
            reading = try ClusterConfigurationFile.read(sources[0].text, id: newRequestID(), defaultInstance: "agent-\(host)")
        case .zeekConf:
            reading = try ZeekConfFile.read(sources, id: newRequestID(), defaultInstance: "agent-\(host)")
        }
        return ConfigurationReading(configuration: reading.configuration, warnings: reading.warnings, format: format)
    } catch let error as ZeekConfProblems {
        error.problems.forEach { Console.error($0.description) }
    } catch let error as ExitCode {
        throw error
    } catch {
        // As zeek-client words it, without the file: its files and ours read alike.
        Console.error("\(error)")
    }
    Console.error("configuration has errors, not sending")
    throw ExitCode.failure
}

/// The text of a configuration file: a regular file (not a FIFO a read would wait on forever),
/// of at most 256 MiB (a bound against reading a device or a runaway file; the message size
/// limit on Kafka, which the controller names, is far lower), in UTF-8; else the reason, and failure.
func configurationText(_ path: String) throws(ExitCode) -> String {
    let limit = 256 << 20
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
          attributes[.type] as? FileAttributeType == .typeRegular else {
        Console.error("\(path) is not a regular file")
        throw ExitCode.failure
    }
    if let size = attributes[.size] as? Int, size > limit {
        Console.error("\(path) is \(size) bytes: a configuration file is at most \(limit) bytes")
        throw ExitCode.failure
    }
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        Console.error("cannot read \(path): \(error.localizedDescription)")
        throw ExitCode.failure
    }
    guard let text = String(data: data, encoding: .utf8) else {
        Console.error("\(path) is not UTF-8 text")
        throw ExitCode.failure
    }
    return text
}

/// A configuration read by zeek-mgmt, with what its reader said about it.
struct ConfigurationReading {
    var configuration: Management.Configuration
    var warnings: [String]
    var format: ConfigurationFormat

    /// Prints the warnings: zeek-client's only with -v, zeek.conf's (options not carried to
    /// the hosts) always.
    func warn(settings: ClientSettings) {
        let verbosity = Int(settings.document[section: "client"]?["verbosity"]?.flatMap { $0 } ?? "0") ?? 0
        warnings.forEach { Console.warning($0, verbosity: format == .zeekConf ? max(verbosity, 1) : verbosity) }
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
