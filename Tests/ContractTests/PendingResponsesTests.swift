import ManagementMessaging
import Testing

@Suite("Request/response matching")
struct PendingResponsesTests {
    @Test func responseArrivingBeforeTheWaiterIsKept() async throws {
        let pending = PendingResponses<String>()
        await pending.register("r1")
        #expect(await pending.deliver("early", for: "r1"))
        #expect(try await pending.response(for: "r1", timeout: .seconds(5)) == "early")
    }

    @Test func responseArrivingWhileWaiting() async throws {
        let pending = PendingResponses<String>()
        await pending.register("r1")
        async let response = pending.response(for: "r1", timeout: .seconds(5))
        // Deliver until the waiter has it; before it waits, delivery parks the response.
        #expect(await pending.deliver("answer", for: "r1"))
        #expect(try await response == "answer")
    }

    @Test func unexpectedResponsesAreReported() async {
        let pending = PendingResponses<String>()
        #expect(await pending.deliver("stray", for: "nobody-asked") == false)
    }

    @Test func timeoutNamesTheRequest() async throws {
        let pending = PendingResponses<String>()
        await pending.register("slow")
        let error = await #expect(throws: RequestTimeout.self) {
            try await pending.response(for: "slow", timeout: .milliseconds(50))
        }
        #expect(error?.description == "request slow timed out after 0.05 seconds")
        #expect(await pending.deliver("too late", for: "slow") == false, "a late response is not kept")
    }

    @Test func cancellationEndsTheWait() async throws {
        let pending = PendingResponses<String>()
        await pending.register("r")
        let waiter = Task { try await pending.response(for: "r", timeout: .seconds(30)) }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
