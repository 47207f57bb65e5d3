import Foundation
@testable import ManagementController
import ManagementTypes
import MessageSigning
import Testing

/// The configurations a controller holds: each goes to the agents with its own operator's
/// signature, and a signature is kept only while its configuration is staged or deployed.
@Suite("Held configurations")
struct HeldConfigurationsTests {
    static func signature(_ byte: UInt8) -> SignedRecord {
        SignedRecord(topic: "Management.Controller.API", key: Data(), value: Data([byte]), signer: Data([byte]), signature: Data([byte]))
    }

    @Test func eachConfigurationKeepsItsOwnSignatureWhileStagedOrDeployed() {
        var held = HeldConfigurations()
        let first = Management.Configuration(id: "first"), second = Management.Configuration(id: "second"), third = Management.Configuration(id: "third")
        held.stage(first, ready: first, signature: Self.signature(1))
        held.keepDeployed(first)
        held.stage(second, ready: second, signature: Self.signature(2))
        #expect(held.signature(of: "first") == Self.signature(1), "the deployed configuration's signature stays")
        #expect(held.signature(of: "second") == Self.signature(2))

        held.stage(third, ready: third, signature: Self.signature(3))
        #expect(held.signature(of: "second") == nil, "no longer staged, never deployed: its signature goes")
        #expect(held.signature(of: "first") == Self.signature(1) && held.signature(of: "third") == Self.signature(3))
        #expect(held.staged?.id == "third" && held.readyToDeploy?.id == "third" && held.deployed?.id == "first")
    }

    @Test func aRestoredSnapshotReplacesEverythingHeld() {
        var held = HeldConfigurations()
        held.stage(Management.Configuration(id: "old"), ready: Management.Configuration(id: "old"), signature: Self.signature(9))
        held.keepEnrolled(["sensor-1": "ed25519:AAAA"])
        let snapshot = ConfigurationStore.Snapshot(
            staged: SignedConfiguration(config: Management.Configuration(id: "staged"), signature: Self.signature(1)),
            deployed: SignedConfiguration(config: Management.Configuration(id: "deployed"), signature: nil),
            enrolled: ["sensor-2": "ed25519:BBBB"]
        )
        held.restore(snapshot, ready: nil)
        #expect(held.staged?.id == "staged" && held.readyToDeploy == nil && held.deployed?.id == "deployed")
        #expect(held.signature(of: "old") == nil && held.signature(of: "staged") == Self.signature(1) && held.signature(of: "deployed") == nil)
        #expect(held.enrolled == ["sensor-2": "ed25519:BBBB"])
    }
}
