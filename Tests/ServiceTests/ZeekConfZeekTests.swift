import Foundation
import LocalServers
import ManagementTypes
import Testing

/// zeek.conf with real Zeek: the user and limits it names reach the node processes, and the
/// archiver files the logs away, those of a logger killed with kill -9 included. Part of
/// ``ZeekNodeTests`` so it runs serialized with the other real-Zeek clusters.
extension ZeekNodeTests {
    /// The Zeek of zeek.conf: the newest test Zeek (zeek.conf is Zeek 8.1+'s format).
    static var zeekConfZeek: String? { TestZeek.all.last }

    @Test("a zeek.conf directory with real Zeek: user = nobody and memory_max reach the processes; the archiver files rotated logs, compressed, including a killed logger's",
          .enabled(if: geteuid() == 0, "running nodes as another user needs root"))
    func zeekConfWithRealZeek() async throws {
        let zeek = try #require(Self.zeekConfZeek, TestZeek.skipReason)
        let nobody = try #require(getpwnam("nobody")?.pointee.pw_uid, "this host has no user nobody")
        let base = try freeLoopbackPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
            # The manager's host runs as nobody, and archives (archiver = 1 is the default here).
            manager = 1
            loggers = 1
            proxies = 1
            user = nobody
            port = \(base)
            metrics_port = \(base + 50)
            logger_memory_max = 3G
            """.write(to: directory.appendingPathComponent("agent-host-a.zeek.conf"), atomically: true, encoding: .utf8)
        try """
            [zeek]
            port = \(base + 10)
            metrics_port = \(base + 60)

            [interface lo]
            interface = lo
            workers = \(TestZeek.canCapture ? 2 : 0)
            worker_memory_max = 1G
            """.write(to: directory.appendingPathComponent("agent-host-b.zeek.conf"), atomically: true, encoding: .utf8)

        try await Self.zeekCluster(zeek) { cluster in
            var result = try await Self.deploy(cluster, directory.path)
            #expect(result.status == 0, "deploy failed: \(result.stdout) \(result.stderr)")
            result = try await cluster.cli("get-nodes")
            let hostA = ["manager", "agent-host-a-logger-1", "agent-host-a-proxy-1", "zeek-archiver"]
            let workers = TestZeek.canCapture ? ["agent-host-b-worker-lo-1", "agent-host-b-worker-lo-2"] : []
            func pid(_ instance: String, _ node: String) -> Int? {
                if case .int(let pid)? = result["results", instance, node, "pid"] { return Int(pid) }
                return nil
            }
            for node in hostA {
                #expect(result["results", "agent-host-a", node, "state"] == "RUNNING", "\(node): \(result.stdout)")
                if let pid = pid("agent-host-a", node) {
                    #expect(ProcessCredentials(pid: pid).uids == Array(repeating: Int(nobody), count: 4), "\(node) runs as nobody")
                }
            }
            #expect(pid("agent-host-a", "agent-host-a-logger-1").map { ProcessCredentials(pid: $0).dataLimit } == "\(3 << 30)", "the logger's memory_max")
            for node in workers {
                #expect(result["results", "agent-host-b", node, "state"] == "RUNNING", "\(node): \(result.stdout)")
                #expect(pid("agent-host-b", node).map { ProcessCredentials(pid: $0).dataLimit } == "\(1 << 30)", "\(node)'s worker_memory_max")
                #expect(pid("agent-host-b", node).map { ProcessCredentials(pid: $0).uids.first } == TestZeek.nodeUID, "\(node) runs as the host policy's user")
            }

            // kill -9 of the logger: the logs it had open are rotated into the log queue when it
            // starts again, and the archiver files them under the archive's dated directory.
            let hostDirectory = cluster.baseDirectory.appendingPathComponent("agent-host-a")
            let loggerDirectory = hostDirectory.appendingPathComponent("agent-host-a-logger-1")
            let deadline = ContinuousClock.now + .seconds(60)
            func openLogs() -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: loggerDirectory.path)) ?? []).filter { $0.hasSuffix(".log") && !$0.hasPrefix(".") }
            }
            while openLogs().isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(250)) }
            let written = openLogs()
            #expect(!written.isEmpty, "the logger writes logs")
            let logger = try #require(pid("agent-host-a", "agent-host-a-logger-1"))
            kill(pid_t(logger), SIGKILL)

            let archive = hostDirectory.appendingPathComponent("log-archive")
            var archived: [String] = []
            while ContinuousClock.now < deadline + .seconds(60) {
                let days = (try? FileManager.default.contentsOfDirectory(atPath: archive.path)) ?? []
                archived = days.flatMap { day in
                    ((try? FileManager.default.contentsOfDirectory(atPath: archive.appendingPathComponent(day).path)) ?? []).map { "\(day)/\($0)" }
                }
                if written.allSatisfy({ log in archived.contains { $0.split(separator: "/").last!.hasPrefix(log.dropLast(4) + ".") } }) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            for log in written {
                let stem = String(log.dropLast(4))
                let found = archived.first { $0.split(separator: "/").last!.hasPrefix(stem + ".") }
                #expect(found?.hasSuffix(".log.gz") == true, "\(log) of the killed logger in the archive: \(archived)")
                if let found {
                    let day = String(found.split(separator: "/").first!)
                    #expect(day.count == 10 && day.filter { $0 == "-" }.count == 2, "dated directory: \(day)")
                    let bytes = try Data(contentsOf: archive.appendingPathComponent(found)).prefix(2)
                    #expect(Array(bytes) == [0x1f, 0x8b], "\(found) is gzip")
                }
            }

            // The deployed configuration prints as zeek.conf again.
            result = try await cluster.cli("get-config", "--deployed", "--as-zeek-conf")
            #expect(result.stdout.contains("# ==> agent-host-a.zeek.conf <==") && result.stdout.contains("user = nobody")
                    && result.stdout.contains("logger_memory_max = 3G"), "\(result.stdout) \(result.stderr)")
        }
    }
}

extension ZeekNodeTests {
    /// On ZeroMQ a logger cannot serve Zeek's WebSocket API; on a host that runs nothing but a
    /// logger, the supervisor runs a WebSocket carrier so the relay still reaches it.
    @Test("ZeroMQ: a host that runs only a logger is reached through the host's WebSocket carrier, which comes back after kill -9",
          .enabled(if: TestZeek.all.contains { TestZeek.backend(of: $0) == .zeromq }, "needs the 9.1.0-dev test Zeek (../shared/zeek/install dev; scripts/setup installs it)"))
    func loggerOnlyHostOnZeroMQ() async throws {
        let zeek = try #require(TestZeek.all.first { TestZeek.backend(of: $0) == .zeromq })
        try await Self.zeekCluster(zeek) { cluster in
            let file = try cluster.file("""
                [manager]
                instance = agent-host-a
                role = manager

                [logger]
                instance = agent-host-b
                role = logger
                """)
            var result = try await Self.deploy(cluster, file)
            #expect(result.status == 0, "deploy failed: \(result.stdout) \(result.stderr)\nsupervisor of agent-host-b:\n\(cluster.supervisor("agent-host-b")?.text ?? "")")
            result = try await cluster.cli("get-id-value", "Cluster::node", "logger")
            #expect(result["results", "logger"] == "logger", "\(result.stdout) \(result.stderr)")

            let supervisor = try #require(cluster.supervisor("agent-host-b"))
            let started = try #require(supervisor.text.firstRange(of: "WebSocket carrier running (pid "), "the carrier's start is logged: \(supervisor.text)")
            let pid = Int32(supervisor.text[started.upperBound...].prefix { $0.isNumber }) ?? 0
            #expect(pid > 0)
            kill(pid, SIGKILL)
            try await supervisor.waitForOutput("the WebSocket carrier ended")
            let deadline = ContinuousClock.now + .seconds(60)
            repeat {
                result = try await cluster.cli("get-id-value", "Cluster::node", "logger")
                if result["results", "logger"] == "logger" { break }
                try await Task.sleep(for: .milliseconds(500))
            } while ContinuousClock.now < deadline
            #expect(result["results", "logger"] == "logger", "after the carrier's kill -9: \(result.stdout) \(result.stderr)")
        }
    }
}
