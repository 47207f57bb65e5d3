import ArgumentParser
import ManagementKafka
import ManagementMessaging
import ManagementTypes

/// The hosts waiting to be enrolled: each checked in with a key the controller does not know.
struct GetEnrollments: ControllerCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-enrollments",
        abstract: "Show the hosts waiting to be enrolled: their instance, the key they sign with, when they were first and last seen."
    )
    @OptionGroup var options: ClientOptions

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.GetEnrollmentsRequest(reqid: newRequestID()))
        guard response.result.success else {
            Console.error(response.result.error ?? "no reason given")
            return 1
        }
        guard let pending = try? response.result.data?.decode(as: [ControllerAPI.Enrollment].self) else {
            Console.error("received result did not contain enrollments")
            return 1
        }
        var report: [String: JSONValue] = [:]
        for host in pending {
            report[host.instance] = ["key": .string(host.key), "first_seen": .double(host.firstSeen), "last_seen": .double(host.lastSeen)]
        }
        Console.output(PythonJSON.render(.object(report), pretty: settings.prettyJSON))
        return 0
    }
}

/// Enrolls a waiting host, so the controller takes its check-ins; needs the deploy role.
struct Enroll: ControllerCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enroll a host waiting in get-enrollments: the controller takes its check-ins from then on, and remembers it.",
        discussion: "Compare the key get-enrollments shows with the one the host printed when it made it (given with --host-key, which is required and must match), so that what is enrolled is that host, not whoever checked in under its name."
    )
    @OptionGroup var options: ClientOptions

    @Argument(help: "The host's instance name.")
    var instance: String

    @Option(name: .customLong("host-key"), help: "The key the host must be checking in with (its trust-file form, as get-enrollments shows it).")
    var key: String

    func run(settings: ClientSettings, client: ManagementClient) async throws(ExitCode) -> Int32 {
        let response = try await settings.ask(client, ControllerAPI.EnrollRequest(reqid: newRequestID(), instance: instance, key: key))
        guard response.result.success else {
            Console.error(response.result.error ?? "no reason given")
            return 1
        }
        if case .string(let message)? = response.result.data { Console.output(message) }
        return 0
    }
}
