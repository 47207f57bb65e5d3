import Foundation
@testable import NodeSupervision
import Testing

/// The host policy file: what an administrator writes, and what a mistake in it says.
@Suite("Host policy")
struct HostPolicyTests {
    @Test func readsUsersEnvironmentKeysAndLibraries() throws {
        let policy = try HostPolicy(parsing: """
            # nodes of this sensor
            user = nobody
            user.worker = zeek   # capture
            users = zeek nobody
            env-keys = TZ MALLOC_ARENA_MAX
            preload-libraries = /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
            """, file: "policy")
        #expect(policy.userName(forType: "worker", defaultUser: "x") == "zeek")
        #expect(policy.userName(forType: "manager", defaultUser: "x") == "nobody")
        #expect(policy.environmentKeys == ["TZ", "MALLOC_ARENA_MAX"])
        #expect(policy.environmentProblem(["TZ": "UTC", "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"]) == nil)
        #expect(policy.environmentProblem(["X": "1"])?.contains("not among the keys configurations may set (env-keys: MALLOC_ARENA_MAX TZ)") == true)
        // What the supervisor sets stays refused even where env-keys lists it.
        let listed = try HostPolicy(parsing: "env-keys = CLUSTER_NODE ZEEK_MGMT_BROKERS LD_LIBRARY_PATH\n", file: "policy")
        #expect(listed.environmentProblem(["CLUSTER_NODE": "x"])?.contains("set by the supervisor") == true)
        #expect(listed.environmentProblem(["ZEEK_MGMT_BROKERS": "x"])?.contains("set by the supervisor") == true)
        #expect(listed.environmentProblem(["LD_LIBRARY_PATH": "/opt/lib"]) == nil, "an administrator may allow a code-loading key by name")
    }

    @Test func theDefaultsRefuseWhatLoadsCodeAndAllowTheRest() {
        let policy = HostPolicy()
        #expect(policy.environmentProblem(["CHECK_LOG": "/tmp/x", "TZ": "UTC"]) == nil)
        #expect(policy.environmentProblem(["LD_PRELOAD": "/usr/lib/libjemalloc.so.2"])?.contains("none are") == true)
        #expect(policy.environmentProblem(["PYTHONPATH": "/tmp"])?.hasSuffix("(the supervisor's default host policy; see --host-policy)") == true)
    }

    @Test(arguments: [
        ("user = a b", "policy:1: user takes one user name"),
        ("\n\nuser.sniffer = zeek", "policy:3: unknown node type sniffer in user.sniffer; the types are manager, logger, proxy, worker"),
        ("preload-libraries = libjemalloc.so", "policy:1: preload-libraries takes absolute paths, not libjemalloc.so"),
        ("memory_max = 1G", "policy:1: unknown key memory_max; the keys are user, user.<type>, users, env-keys, preload-libraries, script-roots, interfaces, pcap-dirs, archivers"),
        ("script-roots = site", "policy:1: script-roots takes absolute paths, not site"),
        ("user", "policy:1: expected key = value"),
        ("user = root", "policy: user root is not among users (zeek nobody)"),
    ])
    func mistakesNameTheLine(text: String, message: String) {
        #expect(throws: HostPolicy.Problem.self) { try HostPolicy(parsing: text, file: "policy") }
        do {
            _ = try HostPolicy(parsing: text, file: "policy")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func aSupervisorThatIsNotRootRunsNodesAsItself() throws {
        let identities = try NodeIdentities(policy: HostPolicy(), effectiveUID: 1000)
        #expect(!identities.switchesUsers)
        #expect(identities.summary.contains("only root can run them as a user of their own"))
    }

    @Test func rootRunsNodesAsZeekOrNobody() throws {
        let identities = try NodeIdentities(policy: HostPolicy(), effectiveUID: 0, permittedCapabilities: ~0)
        #expect(identities.switchesUsers)
        #expect(identities.summary.contains("run as zeek") || identities.summary.contains("run as nobody"), "\(identities.summary)")
        #expect(identities.summary.contains("workers keep CAP_NET_RAW and CAP_NET_ADMIN"))
        #expect(throws: HostPolicy.Problem.self) {
            try NodeIdentities(policy: try HostPolicy(parsing: "users = no-such-user-here\nuser = no-such-user-here\n", file: "p"), effectiveUID: 0,
                               permittedCapabilities: ~0)
        }
    }

    /// Root that cannot switch users (a container that dropped the capabilities) would run
    /// every node as root: it refuses to start, saying what to add.
    @Test func rootWithoutTheMeansToSwitchRefusesToStart() {
        let onlyCapture: UInt64 = (1 << 12) | (1 << 13)
        do {
            _ = try NodeIdentities(policy: HostPolicy(), effectiveUID: 0, permittedCapabilities: onlyCapture)
            Issue.record("a root supervisor without CAP_SETUID started")
        } catch {
            #expect(error.description.hasPrefix("this supervisor runs as root without CHOWN, SETGID, SETUID"), "\(error)")
            #expect(error.description.contains("Helm: supervisor.capabilities"))
        }
        let captureless = try? NodeIdentities(policy: HostPolicy(), effectiveUID: 0, permittedCapabilities: (1 << 0) | (1 << 6) | (1 << 7))
        #expect(captureless?.summary.contains("workers keep no capture capabilities") == true, "\(captureless?.summary ?? "")")
    }

    /// A base directory the node users cannot reach stops the supervisor at start, naming the
    /// directory in the way, instead of failing every node start.
    @Test func aBaseDirectoryClosedToTheNodeUsersIsNamed() throws {
        let closed = FileManager.default.temporaryDirectory.appendingPathComponent("closed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: closed, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: closed) }
        let identities = try NodeIdentities(policy: HostPolicy(), effectiveUID: 0, permittedCapabilities: ~0)
        let nodes = closed.appendingPathComponent("nodes").path
        chmod(closed.path, 0o700)
        #expect(identities.reachProblem(nodes)?.contains("cannot enter \(closed.path) on the way to \(nodes)") == true, "\(identities.reachProblem(nodes) ?? "nil")")
        chmod(closed.path, 0o755)
        #expect(identities.reachProblem(nodes) == nil)
    }

    @Test func scriptsInterfacesAndCapturesStayWithinTheHostsLists() throws {
        let policy = try HostPolicy(parsing: "script-roots = /etc/zeek/site-scripts\ninterfaces = eth1\npcap-dirs = /var/lib/pcaps\n", file: "p")
        let zeek = ["/opt/zeek/share/zeek", "/opt/zeek/share/zeek/site"]
        #expect(policy.scriptProblem("policy/misc/stats", zeekRoots: zeek) == nil, "found through ZEEKPATH")
        #expect(policy.scriptProblem("/opt/zeek/share/zeek/site/local.zeek", zeekRoots: zeek) == nil)
        #expect(policy.scriptProblem("/etc/zeek/site-scripts/detect.zeek", zeekRoots: zeek) == nil)
        #expect(policy.scriptProblem("/etc/zeek/site-scripts-evil/x.zeek", zeekRoots: zeek)?.hasPrefix("script /etc/zeek/site-scripts-evil/x.zeek is outside the script roots") == true)
        #expect(policy.scriptProblem("/etc/zeek/site-scripts/../../passwd", zeekRoots: zeek)?.contains("climbs out") == true)
        // Zeek's default ZEEKPATH starts with `.`: never a root, wherever the supervisor runs.
        let here = FileManager.default.currentDirectoryPath
        #expect(policy.scriptProblem(here + "/x.zeek", zeekRoots: ["."] + zeek)?.hasPrefix("script \(here)/x.zeek is outside the script roots") == true)
        #expect(policy.interfaceProblem("af_packet::eth1") == nil && policy.interfaceProblem("eth1") == nil)
        #expect(policy.interfaceProblem("mgmt0:eth1") != nil, "the kernel would capture on mgmt0")
        #expect(policy.interfaceProblem("af_packet::mgmt0:eth1") != nil)
        #expect(policy.interfaceProblem("eth0") == "interface eth0 is not among the interfaces nodes may capture on (eth1) (host policy p)")
        #expect(policy.pcapProblem("/var/lib/pcaps/a.pcap") == nil)
        #expect(policy.pcapProblem("/etc/shadow")?.hasPrefix("pcap file /etc/shadow is outside the pcap directories") == true)
        #expect(HostPolicy().interfaceProblem("eth0") == nil && HostPolicy().pcapProblem("/x.pcap") == nil, "by default any interface and file")
    }
}

/// What a configuration may ask of a host beyond the policy's defaults (contract 3.4): a user
/// and group for its nodes, and how the host's log archiver runs.
@Suite("Configuration users and the archiver, against the host policy")
struct ConfigurationIdentityTests {
    @Test func aRequestedUserMustBeAllowedAndAPinnedTypeKeepsItsUser() throws {
        guard getpwnam("nobody") != nil else { return }
        let identities = try NodeIdentities(policy: try HostPolicy(parsing: "users = nobody\nuser.worker = nobody\n", file: "p"),
                                            effectiveUID: 0, permittedCapabilities: ~0)
        #expect(try identities.credentials(forType: "manager", capture: false, user: "nobody")?.uid == getpwnam("nobody")!.pointee.pw_uid)
        do {
            _ = try identities.credentials(forType: "manager", capture: false, user: "root")
            Issue.record("root was accepted")
        } catch {
            #expect(error.description.contains("user root is not among the users this host lets nodes run as (nobody"), "\(error)")
        }
        do {
            _ = try identities.credentials(forType: "manager", capture: false, user: "nobody", group: "root")
            Issue.record("group root was accepted")
        } catch {
            #expect(error.description.contains("root's group") || error.description.contains("not a member"), "\(error)")
        }
        let pinned = try NodeIdentities(policy: try HostPolicy(parsing: "users = nobody zeek\nuser.worker = nobody\n", file: "p"),
                                        effectiveUID: 0, permittedCapabilities: ~0)
        if getpwnam("zeek") != nil {
            #expect(throws: NodeLaunchError.self) { try pinned.credentials(forType: "worker", capture: true, user: "zeek") }
        }
    }

    @Test func aSupervisorThatIsNotRootRefusesAnotherUser() throws {
        let identities = try NodeIdentities(policy: HostPolicy(), effectiveUID: 1000)
        #expect(throws: NodeLaunchError.self) { try identities.credentials(forType: "worker", capture: false, user: "someone-else") }
    }

    @Test func zeekArchiverTakesOnlyItsArchivingOptions() {
        #expect(NodeLaunch.zeekArchiverArgumentsProblem(["-v", "-i", "5", "-c", "zst,zstd", "-d", "__"]) == nil)
        #expect(NodeLaunch.zeekArchiverArgumentsProblem(["-c", "gz,touch /tmp/owned"])?.contains("runs it through the shell") == true)
        #expect(NodeLaunch.zeekArchiverArgumentsProblem(["-1"])?.contains("not allowed for zeek-archiver") == true)
        #expect(NodeLaunch.zeekArchiverArgumentsProblem(["/etc", "/tmp"])?.contains("not allowed") == true)
        #expect(NodeLaunch.zeekArchiverArgumentsProblem(["-i"])?.contains("needs a value") == true)
    }
}
