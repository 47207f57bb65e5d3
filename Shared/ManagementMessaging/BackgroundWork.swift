/// Work a service starts by itself while it runs (answering a request, welcoming an agent,
/// watching a process), submitted from anywhere and run as child tasks of the service's
/// `run()`: it ends with the service instead of outliving it in a detached task.
public final class BackgroundWork: Sendable {
    private let queue: AsyncStream<@Sendable () async -> Void>
    private let submissions: AsyncStream<@Sendable () async -> Void>.Continuation

    public init() {
        (queue, submissions) = AsyncStream.makeStream()
    }

    /// Runs `work` in the service's task group (at once if ``run()`` is running, else once it does).
    public func submit(_ work: @escaping @Sendable () async -> Void) {
        submissions.yield(work)
    }

    /// Runs what is submitted until the calling task is cancelled; then cancels the work
    /// still running and returns once it all ended. Call once, from the service's `run()`.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await work in queue {
                group.addTask { await work() }
            }
        }
    }
}
