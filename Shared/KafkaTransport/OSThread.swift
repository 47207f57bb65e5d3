#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain operating-system thread for blocking work (librdkafka polls, libcurl requests).
///
/// Written against pthreads rather than Foundation's `Thread` so that the services need only
/// FoundationEssentials, which keeps Foundation's internationalisation libraries (several MiB
/// of resident memory per process) out of every agent and node.
public enum OSThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Runs `body` on a new detached thread.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            fatalError("pthread_create failed with error \(started): the process is out of threads")
        }
        pthread_detach(thread)
    }
}
