import Crypto
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

    /// Files are edited a moment before each check here: the supervisor's wait for them to
    /// settle is off (``aCheckRightAfterAnEditIsNotRemembered()`` has it on).
    @Test func aPassedCheckRunsAgainOnlyOnceWhatItReadsChanged() async throws {
        try await SupervisorServiceTests.withHost(zeek: Self.countingZeek, configure: { $0.checkInputsSettleAfter = .zero }) { (host: SupervisorServiceTests.Host) async throws in
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

    /// What else decides a parse: the node's name, a signature file a script names, a
    /// script by a path without `.zeek`, whether the node's user reaches the directories;
    /// and a condition that reads files leaves nothing to reuse.
    @Test func theNodeSignatureFilesScriptsByPathAndPermissionsAreInputsToo() async throws {
        try await SupervisorServiceTests.withHost(zeek: Self.countingZeek, configure: { $0.checkInputsSettleAfter = .zero }) { (host: SupervisorServiceTests.Host) async throws in
            let log = host.root.appendingPathComponent("checks.log")
            let share = host.root.appendingPathComponent("share")
            let signatures = host.root.appendingPathComponent("elsewhere/extra.sig")
            let loaded = host.root.appendingPathComponent("elsewhere/loaded.zeek")
            try FileManager.default.createDirectory(at: signatures.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "signature a { payload /a/\n event \"a\" }\n".write(to: signatures, atomically: false, encoding: .utf8)
            try "# loaded by a script without .zeek\n".write(to: loaded, atomically: false, encoding: .utf8)
            try "redef signature_files += \"\(signatures.path)\";\r\n".write(to: share.appendingPathComponent("site/local.zeek"), atomically: false, encoding: .utf8)
            let main = share.appendingPathComponent("main")
            try "@load \(loaded.path)\n".write(to: main, atomically: false, encoding: .utf8)
            var node = Self.node(env: ["CHECK_LOG": log.path])
            node.addlUserScripts = [main.path]
            func check(_ node: Supervisor.NodeConfig) async throws {
                let verdict = try await host.check(node)
                #expect(verdict == "")
            }

            try await check(node)
            try await check(node)
            #expect(Self.runs(log) == 1)
            var other = node
            other.name = "worker-1"
            try await check(other)
            #expect(Self.runs(log) == 2, "another node, which a site script may tell apart")

            try "signature b { payload /b/\n event \"b\" }\n".write(to: signatures, atomically: false, encoding: .utf8)
            try await check(node)
            #expect(Self.runs(log) == 3, "a signature file a script names, edited")

            try "# edited\n".write(to: loaded, atomically: false, encoding: .utf8)
            try await check(node)
            #expect(Self.runs(log) == 4, "a file loaded by a script named without .zeek, edited")

            chmod(host.root.path, 0o700)
            try await check(node)
            #expect(Self.runs(log) == 5, "a directory above Zeek's scripts closed to others")
            try await check(node)
            #expect(Self.runs(log) == 5)

            try "@if ( file_size(\"/etc/hostname\") > 0 )\n@endif\n".write(to: share.appendingPathComponent("flag.zeek"), atomically: false, encoding: .utf8)
            try await check(node)
            try await check(node)
            #expect(Self.runs(log) == 7, "a condition that reads a file: never reused")
        }
    }

    /// File times move in ticks of a coarse clock: two same-size edits within one tick look
    /// alike, so a check is remembered only once what it read has not changed for a while.
    @Test func aCheckRightAfterAnEditIsNotRemembered() async throws {
        try await SupervisorServiceTests.withHost(zeek: Self.countingZeek, configure: { $0.checkInputsSettleAfter = .seconds(30) }) { (host: SupervisorServiceTests.Host) async throws in
            let log = host.root.appendingPathComponent("checks.log")
            try "# edited just now\n".write(to: host.root.appendingPathComponent("share/site/local.zeek"), atomically: false, encoding: .utf8)
            #expect(try await host.check(Self.node(env: ["CHECK_LOG": log.path])) == "")
            #expect(try await host.check(Self.node(env: ["CHECK_LOG": log.path])) == "")
            #expect(Self.runs(log) == 2)
            let fingerprints = ParseInputFingerprints(settledAfter: .seconds(30))
            #expect(await fingerprints.take(ParseInputs(directories: [host.root.appendingPathComponent("share").path], scripts: [], files: [])) == nil)
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
        let text = "@load base/frameworks/cluster\r\n\t@load /etc/zeek/site.zeek   # absolute\r\n"
            + "global x = 1; @load ./near\n@load-sigs ../sigs/http\n@load .hidden\n@load-plugin Zeek::AF_Packet\n@include \"quoted\"\n"
            + "# @load /commented/out\nredef signature_files += \"/etc/zeek/extra.sig\";\nconst tmp = \"/tmp\";\n"
        func candidates(_ path: String) -> [String] { [path, path + ".zeek", path + ".sig", path + ".bro"] }
        let paths = ParseInputFingerprints.namedPaths(in: text[...], directory: "/opt/zeek/share/zeek/site")
        #expect(paths == candidates("/etc/zeek/site.zeek") + candidates("/opt/zeek/share/zeek/site/near") + candidates("/opt/zeek/share/zeek/sigs/http")
            + candidates("/opt/zeek/share/zeek/site/.hidden") + candidates("/commented/out") + ["/etc/zeek/extra.sig"],
            "CRLF lines, a directive after code, a dot name, a commented-out one (more is only more cautious), a signature file; not ZEEKPATH names, plugins or other literals")
        #expect(ParseInputFingerprints.normalized("/a/./b//c/../d/") == "/a/b/d")
        #expect(ParseInputFingerprints.normalized("/../x") == "/x")
        #expect(ParseInputFingerprints.readsFiles("@if ( file_size(\"/etc/flag\") > 0 )\n@load x\n@endif\n"))
        #expect(!ParseInputFingerprints.readsFiles("event zeek_init() { system(\"true\"); }\n@if ( T )\n@endif\n"), "at run time only")
    }

    @Test func aFingerprintIsNotTakenOfMoreThanItMayWalk() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fingerprint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for index in 0..<20 { try "".write(to: root.appendingPathComponent("\(index).zeek"), atomically: false, encoding: .utf8) }
        let inputs = ParseInputs(directories: [root.path], scripts: [], files: [])
        #expect(await ParseInputFingerprints(maximumEntries: 10, settledAfter: .zero).take(inputs) == nil)
        let fingerprints = ParseInputFingerprints(maximumEntries: 100, settledAfter: .zero)
        let first = try #require(await fingerprints.take(inputs))
        #expect(await fingerprints.take(inputs) == first)
        try FileManager.default.removeItem(at: root.appendingPathComponent("3.zeek"))
        let second = await fingerprints.take(inputs)
        #expect(second != nil && second != first, "a script removed")
        // The checks of a deploy's nodes, all at once: more than the walks that may run at
        // once, each answered (those reading the same wait for one walk).
        let all = await withTaskGroup(of: SHA256Digest?.self) { group in
            for _ in 0..<(4 * ParseInputFingerprints.maximumWalks) { group.addTask { await fingerprints.take(inputs) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(all.count == 4 * ParseInputFingerprints.maximumWalks && all.allSatisfy { $0 == second })
    }
}
