import Foundation
@testable import NodeSupervision
import ManagementTypes
import Testing
import ZeekNodes
#if canImport(Glibc)
import Glibc
#endif

/// A check that passed is not run again while nothing Zeek's parse would read has changed;
/// anything that could change its outcome runs it again.
@Suite struct CheckReuseTests {
    /// A Zeek that notes every check it runs in `$CHECK_LOG`, and fails when `$FAIL` is set.
    static let countingZeek = "echo run >> \"$CHECK_LOG\"\nif [ -n \"$FAIL\" ]; then echo \"error in x.zeek, line 1: boom\" >&2; exit 1; fi\nexit 0"

    static func runs(_ log: URL) -> Int {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    static func node(port: UInt16 = 47761, env: [String: String]) -> Supervisor.NodeConfig {
        Supervisor.NodeConfig(name: "manager", env: env, cluster: [
            "manager": Supervisor.ClusterEndpoint(role: .manager, host: .loopback, port: ZeekPort(port), metricsPort: ZeekPort(port + 1)),
            "worker-1": Supervisor.ClusterEndpoint(role: .worker, host: .loopback),
        ])
    }

    @Test func aPassedCheckRunsAgainOnlyOnceWhatItReadsChanged() async throws {
        try await SupervisorServiceTests.withHost(zeek: Self.countingZeek) { host in
            let log = host.root.appendingPathComponent("checks.log")
            let share = host.root.appendingPathComponent("share")
            let local = share.appendingPathComponent("site/local.zeek")
            let outside = host.root.appendingPathComponent("elsewhere/extra.zeek")
            try FileManager.default.createDirectory(at: outside.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "redef ignore_checksums = T;\n".write(to: outside, atomically: false, encoding: .utf8)
            // A script of Zeek's directories naming one outside them by path.
            try "@load \(outside.path)\n".write(to: local, atomically: false, encoding: .utf8)
            let env = ["CHECK_LOG": log.path]
            func check(port: UInt16 = 47761, env: [String: String] = env) async throws -> String {
                try await host.check(Self.node(port: port, env: env))
            }

            #expect(try await check() == "")
            #expect(Self.runs(log) == 1)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 1, "the same check, nothing changed: not run again")
            #expect(try await check(port: 48000) == "")
            #expect(Self.runs(log) == 1, "other port numbers only: not run again")

            try "@load \(outside.path)\n@load base/misc/version\n".write(to: local, atomically: false, encoding: .utf8)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 2, "a script of Zeek's edited")

            // The same size and modification time put back: its change time still moved.
            let modified = try #require(try FileManager.default.attributesOfItem(atPath: local.path)[.modificationDate] as? Date)
            try "@load \(outside.path)\n@load base/misc/versioN\n".write(to: local, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: local.path)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 3, "an edit that kept size and modification time")

            try "# new\n".write(to: share.appendingPathComponent("new.zeek"), atomically: false, encoding: .utf8)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 4, "a script added where Zeek looks")

            try "redef ignore_checksums = F;\n".write(to: outside, atomically: false, encoding: .utf8)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 5, "a script outside Zeek's directories, named by path, edited")

            try "# the project's node script\n".write(to: host.root.appendingPathComponent("node.zeek"), atomically: true, encoding: .utf8)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 6, "the node script replaced")

            let zeek = host.root.appendingPathComponent("zeek")
            try "#!/bin/sh\n\(Self.countingZeek)\n".write(to: zeek, atomically: true, encoding: .utf8)
            chmod(zeek.path, 0o755)
            #expect(try await check() == "")
            #expect(Self.runs(log) == 7, "Zeek replaced")

            #expect(try await check(env: env.merging(["SITE": "b"]) { $1 }) == "")
            #expect(Self.runs(log) == 8, "another environment is another check")
            #expect(try await check() == "")
            #expect(Self.runs(log) == 8, "and the first still stands")
        }
    }

    @Test func aFailedCheckRunsEveryTime() async throws {
        try await SupervisorServiceTests.withHost(zeek: Self.countingZeek) { host in
            let log = host.root.appendingPathComponent("checks.log")
            let env = ["CHECK_LOG": log.path, "FAIL": "1"]
            for _ in 0..<2 {
                let verdict = try await host.check(Self.node(env: env))
                #expect(verdict == "error in x.zeek, line 1: boom")
            }
            #expect(Self.runs(log) == 2)
        }
    }

    @Test func checkEveryDeployRunsEveryCheck() async throws {
        try await SupervisorServiceTests.withHost(zeek: Self.countingZeek, configure: { $0.reusesPassedChecks = false }) { (host: SupervisorServiceTests.Host) async throws in
            let log = host.root.appendingPathComponent("checks.log")
            #expect(try await host.check(Self.node(env: ["CHECK_LOG": log.path])) == "")
            #expect(try await host.check(Self.node(env: ["CHECK_LOG": log.path])) == "")
            #expect(Self.runs(log) == 2)
        }
    }

    @Test func scriptsNamePathsZeekResolvesOutsideItsSearchPath() {
        let text = """
            @load base/frameworks/cluster
            \t@load /etc/zeek/site.zeek   # absolute
            @load ./near
            @load-sigs ../sigs/http
            @load-plugin Zeek::AF_Packet
            @include "quoted"
            # @load /commented/out
            redef x = 1;
            """
        let paths = ParseInputFingerprints.namedPaths(in: text[...], directory: "/opt/zeek/share/zeek/site")
        #expect(paths == [
            "/etc/zeek/site.zeek", "/etc/zeek/site.zeek.zeek", "/etc/zeek/site.zeek.sig", "/etc/zeek/site.zeek.bro",
            "/opt/zeek/share/zeek/site/near", "/opt/zeek/share/zeek/site/near.zeek", "/opt/zeek/share/zeek/site/near.sig", "/opt/zeek/share/zeek/site/near.bro",
            "/opt/zeek/share/zeek/sigs/http", "/opt/zeek/share/zeek/sigs/http.zeek", "/opt/zeek/share/zeek/sigs/http.sig", "/opt/zeek/share/zeek/sigs/http.bro",
        ])
        #expect(ParseInputFingerprints.normalized("/a/./b//c/../d/") == "/a/b/d")
        #expect(ParseInputFingerprints.normalized("/../x") == "/x")
    }

    @Test func aFingerprintIsNotTakenOfMoreThanItMayWalk() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fingerprint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for index in 0..<20 { try "".write(to: root.appendingPathComponent("\(index).zeek"), atomically: false, encoding: .utf8) }
        let inputs = ParseInputs(directories: [root.path], scripts: [], files: [])
        #expect(await ParseInputFingerprints(maximumEntries: 10).take(inputs) == nil)
        let fingerprints = ParseInputFingerprints(maximumEntries: 100)
        let first = try #require(await fingerprints.take(inputs))
        #expect(await fingerprints.take(inputs) == first)
        try FileManager.default.removeItem(at: root.appendingPathComponent("3.zeek"))
        #expect(await fingerprints.take(inputs) != first, "a script removed")
    }
}
