#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a dedicated thread sleeps until a condition kept elsewhere may have changed.
///
/// `Mutex` has no condition variable, and a poll thread that has to wait (for its reader to
/// catch up, or to be stopped) must neither spin nor sleep for a fixed time: the first burns a
/// core, the second delays both resuming and shutting down. So it sleeps on a pthread condition.
///
/// The condition itself lives with its owner (under the owner's own lock); whoever changes it
/// calls ``wake()`` afterwards. The sleeper checks the condition while holding this lock, and
/// ``wake()`` takes the same lock, so a change cannot slip in between the check and the sleep.
/// Lock order: the condition's lock may be taken inside this one, never the other way round,
/// which means ``wake()`` must not be called while holding the condition's lock.
final class ThreadParking: @unchecked Sendable {
    // Heap-allocated: pthread objects must not move, which a Swift stored property may.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Blocks the calling thread for as long as `shouldWait` holds. `shouldWait` runs under this
    /// lock, again after every wake-up (including spurious ones).
    func wait(while shouldWait: () -> Bool) {
        pthread_mutex_lock(mutex)
        while shouldWait() {
            pthread_cond_wait(condition, mutex)
        }
        pthread_mutex_unlock(mutex)
    }

    /// Makes every sleeper re-check its condition. Call after changing it, not while holding
    /// the lock that guards it.
    func wake() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}
