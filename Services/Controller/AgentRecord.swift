import ManagementTypes

/// What the controller knows of one agent, in one place: whether and how it checked in,
/// whether the deployed configuration wants it, and where the two stand with each other.
///
/// An agent has a record while it is checked in or configured; losing it (no check-in for the
/// agent timeout) keeps the record of a configured agent, without its check-in.
struct AgentRecord: Sendable {
    /// How the agent last checked in (`notify_agent_hello`).
    struct CheckIn: Sendable {
        /// The agent as `get_instances` shows it, with the address it reported.
        var instance: Management.Instance
        /// The agent process's check-in id; a new one means the agent restarted.
        var id: String
        /// Publish time of its latest hello, epoch seconds.
        var lastSeen: Double
    }

    /// Where the controller and the agent stand.
    enum State: Sendable, Equatable {
        /// Nothing asked of it yet (or it restarted, or was lost).
        case idle
        /// Sent `agent_welcome_request` at this time; not answered yet.
        case welcoming(since: ContinuousClock.Instant)
        /// Configured and welcomed: it takes requests for the cluster.
        case ready
        /// Sent to standby (`agent_standby_request`): not part of the cluster.
        case standby
    }

    var checkIn: CheckIn?
    /// Its instance in the configuration being or last deployed (Zeek's `g_instances`); nil if
    /// the configuration does not name it.
    var configured: Management.Instance?
    var state: State = .idle
    /// The configuration the agent last took on (it answered its deploy request); nil when
    /// unknown: it restarted, was lost, or did not answer.
    var runs: String?
    /// When the deployed configuration was last sent to it to bring it in line; nil when no
    /// such request is in flight.
    var syncingSince: ContinuousClock.Instant?

    var isCheckedIn: Bool { checkIn != nil }
    var isReady: Bool { state == .ready }

    /// The agent restarted or was lost: whatever it had been told is gone.
    mutating func forgetConversation() {
        state = .idle
        runs = nil
        syncingSince = nil
    }
}
