import ArgumentParser
import MessageSigning

/// Makes the CURVE keys that encrypt a ZeroMQ cluster's traffic across hosts.
struct ZeroMQKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeromq-keys",
        abstract: "Make the CURVE keys that encrypt a ZeroMQ cluster's traffic (one server and one client keypair, as zeekctl uses).",
        discussion: """
            Writes DIR/server.public, server.secret, client.public and client.secret (secrets mode 600, \
            DIR mode 700). Copy DIR to every host and start supervisor-service with --zeromq-keys DIR; \
            hosts that run no manager or logger need no server.secret. The keys never travel on Kafka. \
            An existing DIR with keys is left as it is.
            """
    )

    @Argument(help: "The directory the keys go into.")
    var directory: String

    func run() throws {
        if let existing = try? CurveKeys.load(directory: directory) {
            print("\(directory) already holds CURVE keys (server public key \(existing.serverPublic)); left as they are")
            return
        }
        do {
            try CurveKeys.generate().write(to: directory)
        } catch {
            throw ValidationError("cannot write the keys into \(directory): \(error)")
        }
        print("wrote CURVE keys into \(directory): copy it to every host and pass --zeromq-keys \(directory) to supervisor-service")
    }
}
