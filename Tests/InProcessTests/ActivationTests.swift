@testable import ManagementController
import Testing

/// A controller's activation on its own: restored once per activation, acting only when
/// active and restored, and a restoration that ends after a standby never applied.
@Suite("Controller activation")
struct ActivationTests {
    @Test func aControllerActsOnceActiveAndRestoredAndRestoresOncePerActivation() {
        let start = ContinuousClock.now
        var activation = Activation()
        #expect(!activation.acting && !activation.takesAgentAnswers)

        activation.assigned(true, at: start)
        #expect(activation.activeSince == start)
        let started = activation.startRestoring()
        #expect(started)
        #expect(activation.takesAgentAnswers, "it asks agents from the start of its restoration")
        #expect(!activation.acting && !activation.restorationSettled)
        let again = activation.startRestoring()
        #expect(!again, "one restoration per activation")

        activation.restorationFailed("broker unreachable")
        #expect(activation.restorationSettled && activation.restorationProblem == "broker unreachable" && !activation.acting)
        let applied = activation.restorationSucceeded()
        #expect(applied)
        #expect(activation.acting && activation.restorationProblem == nil)

        // A rebalance: revoked and assigned again, it stays the same activation.
        activation.assigned(false, at: start + .seconds(5))
        #expect(!activation.acting && activation.takesAgentAnswers)
        activation.assigned(true, at: start + .seconds(6))
        #expect(activation.acting && activation.activeSince == start + .seconds(6))
        activation.assigned(true, at: start + .seconds(7))
        #expect(activation.activeSince == start + .seconds(6), "active since it became active, not since the last assignment")
    }

    @Test func aRestorationThatEndsAfterAStandbyIsNotApplied() {
        var activation = Activation()
        activation.assigned(true, at: .now)
        _ = activation.startRestoring()
        activation.standBy()
        activation.assigned(false, at: .now)
        #expect(activation.restorationSettled, "whoever waited for it stops waiting")
        #expect(!activation.takesAgentAnswers)
        let applied = activation.restorationSucceeded()
        #expect(!applied, "the configurations are the active controller's now")
        #expect(!activation.acting && !activation.restored)

        // Active again later: a new restoration.
        activation.assigned(true, at: .now)
        let restarted = activation.startRestoring()
        #expect(restarted && !activation.restored && activation.takesAgentAnswers)
    }
}
