import ArgumentParser
import ClusterConfiguration
import Foundation
import KafkaTransport
import Logging
import ManagementKafka
import ManagementMessaging
import ServiceRuntime
import Synchronization

/// The options every command that talks to the controller takes, as zeek-client's: a settings
/// file, `--set section.key=value` overrides, `-q`/`-v` — plus the Kafka flags of every service.
struct ClientOptions: ParsableArguments {
    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("controller"), help: ArgumentHelp("Name of the controller to address (env ZEEK_MGMT_CONTROLLER; default controller).", valueName: "name"))
    var controllerName: String?

    @Option(name: [.customShort("c"), .customLong("configfile")], help: ArgumentHelp("Client settings file, INI with [client], [controller] and [kafka] sections (env ZEEK_MGMT_CLIENT_CONFIG_FILE).", valueName: "file"))
    var configFile: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a setting, e.g. client.request_timeout_secs=30 (repeatable).", valueName: "section.key=value"))
    var overrides: [String] = []

    @Flag(name: .shortAndLong, help: "Print no diagnostics on stderr.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "More diagnostics on stderr (repeat for more).")
    var verbose: Int

    /// Settings in zeek-client's order of precedence: defaults < settings file < `--set` <
    /// flags (and for Kafka: < environment < flags).
    ///
    /// - Parameter quietestLogLevel: what is logged without `-v` (commands: nothing; they print their own one-line errors).
    func resolve(quietestLogLevel: Logger.Level = .critical, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClientSettings {
        var document = INIDocument(sections: [
            .init(name: "client", entries: [("request_timeout_secs", "20"), ("pretty_json", "True"), ("verbosity", "0")]),
            .init(name: "controller", entries: [("name", environment["ZEEK_MGMT_CONTROLLER"] ?? "controller")]),
            .init(name: "kafka", entries: [("brokers", "127.0.0.1:9092"), ("topic_prefix", "")]),
        ])
        if let path = configFile ?? environment["ZEEK_MGMT_CLIENT_CONFIG_FILE"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read settings file \(path)")
            }
            do {
                for section in try INIDocument(parsing: text).sections {
                    for entry in section.entries { try document.set(section.name, entry.key, entry.value ?? "") }
                }
            } catch let error as INIDocument.ParseError {
                throw ValidationError("settings file \(path), \(error)")
            }
        }
        for override in overrides {
            guard let dot = override.firstIndex(of: "."), let equals = override.firstIndex(of: "="), dot < equals else {
                throw ValidationError("--set \(override): use section.key=value, e.g. client.request_timeout_secs=30")
            }
            try document.set(String(override[..<dot]), String(override[override.index(after: dot)..<equals]),
                             String(override[override.index(after: equals)...]))
        }
        if let controllerName { try document.set("controller", "name", controllerName) }
        if verbose > 0 { try document.set("client", "verbosity", "\(verbose)") }

        // Kafka settings from the file act as the lowest-priority environment of CommonOptions.
        let kafka = document[section: "kafka"]!
        var fileEnvironment = ["ZEEK_MGMT_BROKERS": kafka["brokers"]! ?? "", "ZEEK_MGMT_TOPIC_PREFIX": kafka["topic_prefix"]! ?? ""]
        let properties = kafka.entries.filter { $0.key != "brokers" && $0.key != "topic_prefix" }.map { "\($0.key)=\($0.value ?? "")" }
        if !properties.isEmpty { fileEnvironment["ZEEK_MGMT_KAFKA_OPTIONS"] = properties.joined(separator: "\n") }
        var merged = fileEnvironment.merging(environment) { _, process in process }
        if let fromFile = fileEnvironment["ZEEK_MGMT_KAFKA_OPTIONS"], let fromProcess = environment["ZEEK_MGMT_KAFKA_OPTIONS"] {
            merged["ZEEK_MGMT_KAFKA_OPTIONS"] = fromFile + "\n" + fromProcess
        }
        if common.logLevel == nil, merged["ZEEK_MGMT_LOG_LEVEL"] == nil {
            let verbosity = Int(document[section: "client"]!["verbosity"]! ?? "0") ?? 0
            // Without -v, nothing of the transport's own logs: what went wrong is the one
            // `error:` line the command prints (librdkafka's connection failures included).
            let byVerbosity: [Logger.Level] = [.critical, .warning, .info, .debug]
            merged["ZEEK_MGMT_LOG_LEVEL"] = quiet ? "critical" : min(quietestLogLevel, byVerbosity[min(max(verbosity, 0), 3)]).rawValue
        }
        let service = try common.resolve(environment: merged)
        try document.set("kafka", "brokers", service.brokers.joined(separator: ","))
        try document.set("kafka", "topic_prefix", service.namespace.prefix)

        let client = document[section: "client"]!
        guard let timeout = Double(client["request_timeout_secs"]! ?? "").flatMap({ Seconds.duration($0) }) else {
            throw ValidationError(Seconds.problem("client.request_timeout_secs"))
        }
        guard let pretty = Self.boolean(client["pretty_json"]! ?? "") else {
            throw ValidationError("client.pretty_json must be a boolean (true/false, yes/no, on/off, 1/0)")
        }
        return ClientSettings(
            service: service,
            controller: document[section: "controller"]!["name"]! ?? "controller",
            requestTimeout: timeout,
            prettyJSON: pretty,
            quiet: quiet,
            document: document
        )
    }

    /// Python configparser's booleans.
    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "yes", "true", "on": true
        case "0", "no", "false", "off": false
        default: nil
        }
    }
}

extension INIDocument {
    /// Sets a client setting; only known sections and keys are accepted (any key in `[kafka]`
    /// is a librdkafka property).
    mutating func set(_ sectionName: String, _ key: String, _ value: String) throws {
        let known: [String: Set<String>] = ["client": ["request_timeout_secs", "pretty_json", "verbosity"], "controller": ["name"]]
        guard let index = sections.firstIndex(where: { $0.name == sectionName }) else {
            throw ValidationError("unknown settings section [\(sectionName)]; use client, controller or kafka")
        }
        let key = key.lowercased()
        if let keys = known[sectionName], !keys.contains(key) {
            throw ValidationError("unknown setting \(sectionName).\(key); known: \(keys.sorted().map { "\(sectionName).\($0)" }.joined(separator: ", "))")
        }
        if let entry = sections[index].entries.firstIndex(where: { $0.key == key }) {
            sections[index].entries[entry].value = value
        } else {
            sections[index].entries.append((key, value))
        }
    }
}

/// Everything a command needs to reach the controller, resolved from options.
struct ClientSettings: Sendable {
    var service: ServiceSettings
    var controller: String
    var requestTimeout: Duration
    var prettyJSON: Bool
    var quiet: Bool
    /// The effective settings.
    var document: INIDocument

    /// The effective settings as `show-settings` prints them: credentials (`sasl.password`
    /// and the like in `[kafka]`) as `[redacted]`, since the output ends up in terminals,
    /// tickets and CI logs.
    var shownDocument: INIDocument {
        var shown = document
        for section in shown.sections.indices {
            for entry in shown.sections[section].entries.indices {
                let (key, value) = shown.sections[section].entries[entry]
                shown.sections[section].entries[entry].value = value.map { Secrets.redacted($0, forKey: key) }
            }
        }
        return shown
    }

    /// Connects a client to the controller's topic (and `extraTopics`, whose messages go to
    /// `observer`); prints what to do if Kafka cannot be reached.
    func connect(extraTopics: [Topic] = [], observer: (@Sendable (InboundMessage) -> Void)? = nil) async throws(ExitCode) -> ManagementClient {
        let name = "zeek-mgmt-\(UUID().uuidString.prefix(8).lowercased())"
        var logger = Logger(label: "zeek-mgmt")
        logger.logLevel = service.logLevel
        do {
            return try await ManagementClient.connect(
                name: name, kafka: service.kafkaConfiguration(clientID: name), namespace: service.namespace,
                topics: [.controllerAPI] + extraTopics, security: service.security(.client), logger: logger, observer: observer
            )
        } catch {
            let kafkaError = error as? KafkaError
            let whatToCheck = kafkaError?.whatToCheck ?? "Check --brokers and that the broker is running."
            var reason = kafkaError?.message ?? "\(error)"
            while let last = reason.last, ".?!".contains(last) { reason.removeLast() }
            Console.error("cannot reach Kafka at \(service.brokers.joined(separator: ",")): \(reason). \(whatToCheck)")
            throw ExitCode.failure
        }
    }

    /// Sends one request to the controller and returns its response; on silence prints what
    /// zeek-client prints and fails.
    func ask<Request: ManagementRequest>(_ client: ManagementClient, _ request: Request) async throws(ExitCode) -> Request.Response {
        do {
            return try await client.request(request, on: .controllerAPI, target: controller, timeout: requestTimeout)
        } catch .timedOut {
            Console.error("no response received: controller \"\(controller)\" did not answer within \(requestTimeout) on Kafka at \(service.brokers.joined(separator: ",")); is controller-service running?")
            throw ExitCode.failure
        } catch {
            Console.error("no response received: \(error)")
            throw ExitCode.failure
        }
    }
}

/// The client's output: results on stdout, diagnostics as `error: ...` on stderr (as
/// zeek-client writes them).
enum Console {
    private static let silenced = Atomic<Bool>(false)

    /// `-q`: no diagnostics at all.
    static func silence() {
        silenced.store(true, ordering: .relaxed)
    }

    private static var quiet: Bool { silenced.load(ordering: .relaxed) }

    static func output(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ message: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }

    static func warning(_ message: String, verbosity: Int) {
        guard !quiet, verbosity >= 1 else { return }
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
