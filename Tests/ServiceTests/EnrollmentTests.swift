import Foundation
import LocalServers
import ManagementTypes
import MessageSigning
import Testing

/// A host whose key nobody listed: it runs, its check-ins are dropped and it waits in
/// get-enrollments until an operator enrolls it; the controller then takes it, also after a
/// restart (the enrollment is kept in the state topic).
@Suite("Enrollment", .serialized)
struct EnrollmentTests {
    @Test func aNewHostWaitsUntilAnOperatorEnrollsIt() async throws {
        try await Cluster.run(instances: []) { cluster in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("enroll-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            // The host makes its own key, as compose's entry script does at first start.
            let keyPath = directory.appendingPathComponent("host.pem").path
            let made = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                                               arguments: ["keygen", keyPath, "--kind", "host", "--name", "agent-new"])
            #expect(made.status == 0)
            let line = try #require(made.stdout.split(separator: " ").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) })
            try await cluster.startHost("agent-new", environment: ["ZEEK_MGMT_KEY_FILE": keyPath])

            // Waiting, with the key it made; not an instance.
            var pending = try await cluster.cli("get-enrollments")
            for _ in 0..<50 where pending["agent-new"] == nil {
                try await Task.sleep(for: .milliseconds(200))
                pending = try await cluster.cli("get-enrollments")
            }
            #expect(pending["agent-new", "key"] == .string(line), "\(pending.stdout)")
            #expect(try await cluster.cli("get-instances")["agent-new"] == nil)

            // The wrong key is refused; a read operator may look but not enroll.
            let wrong = try await cluster.cli("enroll", "agent-new", "--host-key", SigningKey.generate().publicKey.line)
            #expect(wrong.status == 1 && wrong.stderr.contains("another key"), "\(wrong.stdout) \(wrong.stderr)")
            let reader = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                                                 arguments: ["enroll", "agent-new", "--host-key", line, "--brokers", cluster.broker.address],
                                                 environment: ProcessInfo.processInfo.environment.merging(LocalKeys.shared.environment(key: LocalKeys.shared.reader)) { $1 },
                                                 timeout: .seconds(60))
            #expect(reader.status != 0)

            let enrolled = try await cluster.cli("enroll", "agent-new", "--host-key", line)
            #expect(enrolled.status == 0, "\(enrolled.stderr)")
            try await cluster.waitForInstances(["agent-new"])
            #expect(try await cluster.cli("get-enrollments")["agent-new"] == nil)

            // Kept across a restart of the controller.
            #expect(try await cluster.controllers[0].stop() == 0)
            try await cluster.startController()
            try await cluster.waitForInstances(["agent-new"])
        }
    }
}
