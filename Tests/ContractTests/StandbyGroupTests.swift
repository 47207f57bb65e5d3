import Foundation
import KafkaTransport
@testable import ManagementKafka
import ManagementMessaging
import Testing

/// An active/standby group keeps its topics with the member that has been up longest: the
/// range assignor hands single-partition topics to the member id that sorts first, and brokers
/// derive member ids from the client id.
@Suite("Active/standby group")
struct StandbyGroupTests {
    @Test func olderMembersSortFirstWhateverTheirStartTimes() {
        let base = KafkaConfiguration(bootstrapServers: ["127.0.0.1:9092"], clientID: "controller-service.controller")
        let starts = [Date(timeIntervalSince1970: 9.999), Date(timeIntervalSince1970: 10), Date(timeIntervalSince1970: 1_800_000_000),
                      Date(timeIntervalSince1970: 99_999_999_999)]
        let ids = starts.map { base.keepingOldestMemberActive(startedAt: $0).clientID }
        #expect(ids == ids.sorted(), "\(ids)")
        #expect(Set(ids.map(\.count)).count == 1, "fixed width, so string order is time order: \(ids)")
        #expect(ids.allSatisfy { $0.hasPrefix("controller-service.controller.") })
    }

    @Test func theRangeAssignorIsUsedEvenIfAnOperatorAskedForAnother() {
        var base = KafkaConfiguration(bootstrapServers: ["127.0.0.1:9092"], clientID: "c")
        base.overrides["partition.assignment.strategy"] = "cooperative-sticky"
        #expect(base.keepingOldestMemberActive().overrides["partition.assignment.strategy"] == "range")
    }
}
