@testable import ManagementController
import ManagementMessaging
import ManagementTypes
import Testing

/// The controller's agent roster on its own: each event's effect on the agents and the
/// actions it asks of the controller, with time given rather than read.
@Suite("Agent roster")
struct AgentRosterTests {
    /// A controller's view of time: both clocks advance together.
    struct Timeline {
        var now = AgentRoster.Moment(instant: ContinuousClock.now, wallTime: 1_800_000_000)

        mutating func advance(_ duration: Duration) {
            now.instant += duration
            now.wallTime += duration.timeInterval
        }
    }

    static let deployed = AgentRoster.Cluster(deployed: true, deploying: nil)
    static let nothing = AgentRoster.Cluster(deployed: false, deploying: nil)

    static func hello(_ name: String, id: String = "run-1", host: String = "192.0.2.1", apiVersion: Int = 1) -> AgentAPI.NotifyAgentHello {
        AgentAPI.NotifyAgentHello(instance: name, id: id, api_version: apiVersion, host: IPAddress(host))
    }

    static func instance(_ name: String, host: String = "192.0.2.1") -> Management.Instance {
        Management.Instance(name: name, host: IPAddress(host)!)
    }

    /// What the controller is asked to do, without its log lines.
    static func effects(_ actions: [AgentRoster.Action]) -> [AgentRoster.Action] {
        actions.filter { if case .log = $0 { false } else { true } }
    }

    static func logs(_ actions: [AgentRoster.Action]) -> [String] {
        actions.compactMap { if case .log(_, let line) = $0 { line } else { nil } }
    }

    /// A roster whose configured agents `names` checked in and are ready.
    static func ready(_ names: [String], at time: Timeline) -> AgentRoster {
        var roster = AgentRoster(maximumAgents: 100, agentTimeout: .seconds(15))
        _ = roster.adopt(names.map { instance($0) }, answeredCheck: false, at: time.now.instant)
        for name in names {
            _ = roster.heard(hello(name), publishedAt: time.now.wallTime, acting: true, cluster: deployed, at: time.now)
            _ = roster.welcomeAnswered(by: name, success: true)
        }
        return roster
    }

    @Test func aConfiguredAgentIsWelcomedOnceAndAnnouncedReadyWhenAllAre() {
        let time = Timeline()
        var roster = AgentRoster(maximumAgents: 100, agentTimeout: .seconds(15))
        #expect(roster.adopt([Self.instance("a"), Self.instance("b")], answeredCheck: false, at: time.now.instant).isEmpty, "nobody checked in yet")

        let first = roster.heard(Self.hello("a"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)
        #expect(Self.effects(first) == [.addressChanged, .welcome("a")])
        #expect(Self.logs(first) == ["agent a checked in from 192.0.2.1"])
        // Its next heartbeat, before the welcome is answered or 2 s passed, sends none again.
        #expect(Self.effects(roster.heard(Self.hello("a"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)).isEmpty)

        #expect(Self.effects(roster.welcomeAnswered(by: "a", success: true)) == [.bringInLine], "b is not ready: nothing announced")
        _ = roster.heard(Self.hello("b"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)
        #expect(Self.effects(roster.welcomeAnswered(by: "b", success: true)) == [.bringInLine, .announceReady(["a", "b"])])
        #expect(roster.names(where: \.isReady) == ["a", "b"])
        // Announced once: a welcome answered again changes nothing.
        #expect(Self.effects(roster.welcomeAnswered(by: "b", success: true)) == [.bringInLine])
    }

    @Test func anAgentThatRefusesItsWelcomeOrIsNotConfiguredGoesToStandby() {
        var time = Timeline()
        var roster = AgentRoster(maximumAgents: 100, agentTimeout: .seconds(15))
        _ = roster.adopt([Self.instance("a")], answeredCheck: false, at: time.now.instant)
        _ = roster.heard(Self.hello("a"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)
        #expect(roster.welcomeAnswered(by: "a", success: false) == [.sendStandby("a")])
        #expect(roster.records["a"]?.state == .standby)

        // An agent no configuration names: left alone while nothing is deployed, sent to
        // standby once something is, once.
        #expect(Self.effects(roster.heard(Self.hello("x"), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now)) == [.addressChanged])
        time.advance(.seconds(1))
        #expect(roster.heard(Self.hello("x"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now) == [.sendStandby("x")])
        #expect(roster.heard(Self.hello("x"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now).isEmpty)
        // An agent that the deploy under way names is left to it.
        let deploying = AgentRoster.Cluster(deployed: true, deploying: ["y"])
        #expect(Self.effects(roster.heard(Self.hello("y"), publishedAt: time.now.wallTime, acting: true, cluster: deploying, at: time.now)) == [.addressChanged])
    }

    @Test func checkInsHeardWhileStandingByAreTakenUpOnTakingOver() {
        let time = Timeline()
        var roster = AgentRoster(maximumAgents: 100, agentTimeout: .seconds(15))
        roster.restore(configured: [Self.instance("a")])
        #expect(roster.heard(Self.hello("a"), publishedAt: time.now.wallTime, acting: false, cluster: Self.deployed, at: time.now).isEmpty)
        #expect(roster.names(where: \.isCheckedIn).isEmpty, "kept, not acted on")

        #expect(Self.effects(roster.takeUpCheckInsHeard(cluster: Self.deployed, at: time.now)) == [.addressChanged, .welcome("a")])
        #expect(roster.names(where: \.isCheckedIn) == ["a"])
        #expect(roster.takeUpCheckInsHeard(cluster: Self.deployed, at: time.now).isEmpty, "taken up once")
    }

    @Test func aSilentAgentIsLostAndItsReturnAnnouncedAgain() {
        var time = Timeline()
        var roster = Self.ready(["a", "b"], at: time)
        _ = roster.heard(Self.hello("x"), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now)
        time.advance(.seconds(10))
        _ = roster.heard(Self.hello("b"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)
        time.advance(.seconds(6))

        let lost = roster.sweepLost(at: time.now)
        #expect(Set(lost) == [.reportLost("a", message: "agent a lost: no check-in for 15.0 seconds"),
                              .reportLost("x", message: "agent x lost: no check-in for 15.0 seconds")])
        #expect(roster.records["x"] == nil, "an agent no configuration names is forgotten")
        #expect(roster.records["a"]?.configured != nil && roster.records["a"]?.isCheckedIn == false, "a configured one is kept, without its check-in")
        #expect(roster.sweepLost(at: time.now).isEmpty, "reported once")

        // It comes back: welcomed, and the agents are announced ready again.
        #expect(Self.effects(roster.heard(Self.hello("a"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)) == [.addressChanged, .welcome("a")])
        #expect(Self.effects(roster.welcomeAnswered(by: "a", success: true)) == [.bringInLine, .announceReady(["a", "b"])])
    }

    @Test func aRestartedAgentIsWelcomedAgainAndNoLongerKnownToRunAnything() {
        let time = Timeline()
        var roster = Self.ready(["a"], at: time)
        roster.deployAnswered(by: "a", configuration: "config-1", tookItOn: true)
        #expect(roster.records["a"]?.runs == "config-1")

        let restarted = roster.heard(Self.hello("a", id: "run-2"), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)
        #expect(Self.logs(restarted) == ["agent a restarted; welcoming it again"])
        #expect(Self.effects(restarted) == [.welcome("a")])
        #expect(roster.records["a"]?.runs == nil)
    }

    @Test func staleFutureAndForeignCheckIns() {
        var time = Timeline()
        var roster = AgentRoster(maximumAgents: 100, agentTimeout: .seconds(15))
        // Published longer ago than the agent timeout: ignored.
        #expect(roster.heard(Self.hello("a"), publishedAt: time.now.wallTime - 16, acting: true, cluster: Self.nothing, at: time.now).isEmpty)
        #expect(roster.records.isEmpty)
        // Stamped an hour ahead: kept as seen now, so the agent is still lost once silent.
        _ = roster.heard(Self.hello("a"), publishedAt: time.now.wallTime + 3600, acting: true, cluster: Self.nothing, at: time.now)
        // Absurdly far ahead (a forged or broken clock): the same, without overflow.
        _ = roster.heard(Self.hello("z/../-x"), publishedAt: 1e300, acting: true, cluster: Self.nothing, at: time.now)
        #expect(roster.records["z/../-x"]?.checkIn?.lastSeen == time.now.wallTime)
        time.advance(.seconds(16))
        #expect(roster.sweepLost(at: time.now).count == 2)
        // Another API version: refused, and a configured agent speaking it sent to standby.
        roster.restore(configured: [Self.instance("b")])
        let foreign = roster.heard(Self.hello("b", apiVersion: 2), publishedAt: time.now.wallTime, acting: true, cluster: Self.deployed, at: time.now)
        #expect(Self.effects(foreign) == [.sendStandby("b")])
        #expect(Self.logs(foreign) == ["agent b speaks API version 2, not 1; ignoring it"])
        #expect(roster.records["b"] == nil)
    }

    @Test func beyondTheMostAgentsNewNamesAreRefusedWithAWarningAMinute() {
        var time = Timeline()
        var roster = AgentRoster(maximumAgents: 2, agentTimeout: .seconds(15))
        for name in ["a", "b"] { _ = roster.heard(Self.hello(name), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now) }
        let first = roster.heard(Self.hello("c"), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now)
        #expect(Self.logs(first).first?.hasPrefix("ignoring the check-in of agent c and 0 other(s)") == true)
        #expect(roster.records["c"] == nil)
        for name in ["d", "e", "f"] {
            #expect(roster.heard(Self.hello(name), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now).isEmpty, "within the minute: no warning")
        }
        time.advance(.seconds(60))
        let next = roster.heard(Self.hello("g"), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now)
        #expect(Self.logs(next).first?.hasPrefix("ignoring the check-in of agent g and 3 other(s) refused since the last warning") == true)
        // A known agent still checks in.
        #expect(roster.heard(Self.hello("a"), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now).isEmpty)
        #expect(roster.names(where: \.isCheckedIn) == ["a", "b"])
    }

    @Test func theDeployedConfigurationIsSentToEachReadyAgentNotKnownToRunIt() {
        var time = Timeline()
        var roster = Self.ready(["a", "b"], at: time)
        roster.deployAnswered(by: "b", configuration: "config-1", tookItOn: true)
        #expect(roster.agentsToBringInLine(with: "config-1", retryAfter: .seconds(10), at: time.now.instant) == ["a"])
        #expect(roster.agentsToBringInLine(with: "config-1", retryAfter: .seconds(10), at: time.now.instant).isEmpty, "in flight")

        // It answered with failures: asked again once the retry interval passed.
        roster.broughtInLine("a", answered: "config-1", failed: true)
        time.advance(.seconds(5))
        #expect(roster.agentsToBringInLine(with: "config-1", retryAfter: .seconds(10), at: time.now.instant).isEmpty)
        time.advance(.seconds(5))
        #expect(roster.agentsToBringInLine(with: "config-1", retryAfter: .seconds(10), at: time.now.instant) == ["a"])
        // No answer: asked again at once.
        roster.broughtInLine("a", answered: nil, failed: false)
        #expect(roster.agentsToBringInLine(with: "config-1", retryAfter: .seconds(10), at: time.now.instant) == ["a"])
        // It took it on: left alone, until another configuration is deployed.
        roster.broughtInLine("a", answered: "config-1", failed: false)
        #expect(roster.agentsToBringInLine(with: "config-1", retryAfter: .seconds(10), at: time.now.instant).isEmpty)
        #expect(roster.agentsToBringInLine(with: "config-2", retryAfter: .seconds(10), at: time.now.instant) == ["a", "b"])
    }

    @Test func adoptingAConfigurationSendsTheAgentsItDropsToStandby() {
        let time = Timeline()
        var roster = Self.ready(["a", "b"], at: time)
        roster.restore(configured: [Self.instance("c")])
        // b stays, a leaves, c (configured, never checked in) is forgotten with it; the
        // check just answered makes a checked-in newcomer ready without a welcome.
        _ = roster.heard(Self.hello("d"), publishedAt: time.now.wallTime, acting: true, cluster: Self.nothing, at: time.now)
        let actions = roster.adopt([Self.instance("b"), Self.instance("d")], answeredCheck: true, at: time.now.instant)
        #expect(Set(actions.filter { if case .sendStandby = $0 { true } else { false } }) == [.sendStandby("a"), .sendStandby("c")])
        #expect(actions.last == .announceReady(["b", "d"]))
        #expect(roster.records["c"] == nil)
        #expect(roster.records["a"]?.configured == nil && roster.records["a"]?.state == .standby)
        #expect(roster.names(where: \.isReady) == ["b", "d"])

        // A configured agent whose address changes is welcomed again.
        let moved = roster.adopt([Self.instance("b", host: "192.0.2.9"), Self.instance("d")], answeredCheck: false, at: time.now.instant)
        #expect(Self.effects(moved) == [.welcome("b")])
        // Standing by forgets every agent.
        roster.standBy()
        #expect(roster.records.isEmpty)
    }
}
