/// Whether this controller is the one of its group that serves, and whether it holds its
/// configurations for that: a pure state machine of the group's assignments and of restoring
/// the persisted configurations, once per activation.
///
/// The ``Controller`` actor reports the group's assignments and its restoration's attempts;
/// what it may do follows from here: act on check-ins and requests (``acting``), take its
/// agents' answers (``takesAgentAnswers``), apply a restoration that ended (which it must not
/// once it stood by: the configurations, and the agents, are the active controller's then).
struct Activation: Sendable {
    /// Whether the group made this controller the one that reads the controller topics.
    private(set) var isActive = false
    /// When it last became the active one.
    private(set) var activeSince: ContinuousClock.Instant?
    /// Whether its requests to agents still get their answers: from the start of a restoration
    /// (when it starts asking the agents) until it stands by, rebalances of the group included
    /// (it is briefly not active then, and keeps its requests in flight). A controller that
    /// stood by acts on no late answer: what it asked now belongs to the active one.
    private(set) var takesAgentAnswers = false
    /// Whether the configurations of the latest activation are restored.
    private(set) var restored = false
    /// Why the latest attempt to restore them failed; nil once one succeeded.
    private(set) var restorationProblem: String?

    /// Acts on what it hears: active, with its configurations restored.
    var acting: Bool { isActive && restored }

    /// Whether the restoration under way ended one way or the other: restored, or failed at
    /// least once (it is retried meanwhile), or given up by standing by.
    var restorationSettled: Bool { restored || restorationProblem != nil || !takesAgentAnswers }

    /// The group assigned (`true`) or took (`false`) the controller topics.
    mutating func assigned(_ active: Bool, at now: ContinuousClock.Instant) {
        if active && !isActive { activeSince = now }
        isActive = active
    }

    /// About to serve: true if a restoration starts now, the first of this activation.
    mutating func startRestoring() -> Bool {
        guard !takesAgentAnswers else { return false }
        takesAgentAnswers = true
        restored = false
        restorationProblem = nil
        return true
    }

    /// An attempt to restore failed with `problem`; another follows.
    mutating func restorationFailed(_ problem: String) {
        restorationProblem = problem
    }

    /// An attempt to restore read the configurations: true if they are to be applied, false if
    /// the controller stood by meanwhile.
    mutating func restorationSucceeded() -> Bool {
        guard takesAgentAnswers else { return false }
        restored = true
        restorationProblem = nil
        return true
    }

    /// Another controller took over: the restoration of this activation is given up.
    mutating func standBy() {
        takesAgentAnswers = false
    }
}
