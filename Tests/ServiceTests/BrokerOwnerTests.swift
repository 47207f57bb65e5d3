import Foundation
import LocalServers
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `scripts/broker run` with `ZEEK_MGMT_BROKER_OWNER`: the test broker ends with the process
/// that started it, so a test run that is killed leaves no broker behind.
@Suite("Test broker owner", .timeLimit(.minutes(1)))
struct BrokerOwnerTests {
    private static let script = LocalBroker.repositoryRoot.appendingPathComponent("scripts/broker")

    @Test func theBrokerEndsWithinSecondsOfItsOwner() async throws {
        let owner = try ServiceProcess("sleep", arguments: ["60"], executable: URL(fileURLWithPath: "/bin/sleep"))
        let port = try freeLoopbackPort()
        let broker = try ServiceProcess("broker", arguments: ["run", "\(port)"], environment: ["ZEEK_MGMT_BROKER_OWNER": "\(owner.pid)"],
                                        executable: Self.script)
        let deadline = ContinuousClock.now + .seconds(20)
        while !isAcceptingConnections(port: port) {
            guard ContinuousClock.now < deadline else { throw ServiceProcessError("the broker did not listen on \(port): \(broker.text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .seconds(1.5))
        #expect(isAcceptingConnections(port: port), "the broker runs while its owner does")

        _ = try await owner.stop(signal: SIGKILL)
        // SIGKILL from the watcher, within a second of the owner's end.
        #expect(try await broker.waitForExit(timeout: .seconds(5)) == 128 + SIGKILL)
    }

    @Test func anOwnerThatIsNotAProcessIdIsRefused() async throws {
        let broker = try ServiceProcess("broker", arguments: ["run", "\(try freeLoopbackPort())"], environment: ["ZEEK_MGMT_BROKER_OWNER": "-1"],
                                        executable: Self.script)
        #expect(try await broker.waitForExit() == 2)
        #expect(broker.text.contains("ZEEK_MGMT_BROKER_OWNER must be a process id, not \"-1\""), "\(broker.text)")
    }
}
