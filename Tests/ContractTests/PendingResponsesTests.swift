import ManagementMessaging
import ManagementTesting
import Testing

@Suite("Request/response matching")
struct PendingResponsesTests {
    @Test func responseArrivingBeforeTheWaiterIsKept() async throws {
        let pending = PendingResponses<String>()
        pending.register("r1")
        #expect(pending.deliver("early", for: "r1"))
        #expect(try await pending.response(for: "r1", until: .now + .seconds(5)) == "early")
    }

    @Test func responseArrivingWhileWaiting() async throws {
        let pending = PendingResponses<String>()
        pending.register("r1")
        async let response = pending.response(for: "r1", until: .now + .seconds(5))
        // Deliver until the waiter has it; before it waits, delivery parks the response.
        #expect(pending.deliver("answer", for: "r1"))
        #expect(try await response == "answer")
    }

    @Test func unexpectedResponsesAreReported() async {
        let pending = PendingResponses<String>()
        #expect(pending.deliver("stray", for: "nobody-asked") == false)
    }

    @Test func timeoutNamesTheRequest() async throws {
        let clock = TestClock()
        let pending = PendingResponses<String>(clock: clock)
        pending.register("slow")
        let waiting = Task { try await pending.response(for: "slow", until: clock.now + .seconds(10)) }
        await clock.waitForSleepers()
        clock.advance(by: .seconds(10))
        let error = await #expect(throws: RequestTimeout.self) { try await waiting.value }
        #expect(error?.description == "request slow timed out after 10.0 seconds")
        #expect(pending.deliver("too late", for: "slow") == false, "a late response is not kept")
    }

    @Test func cancellationEndsTheWait() async throws {
        let pending = PendingResponses<String>()
        pending.register("r")
        let waiter = Task { try await pending.response(for: "r", until: .now + .seconds(30)) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
