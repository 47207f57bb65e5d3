import MessageSigning
import Synchronization

/// Hosts that checked in with a key the controller does not know, waiting for an operator to
/// enroll them (`zeek-mgmt enroll`). The bus records them while it drops their check-ins, so an
/// unknown host never becomes an agent record; only the check-in's claimed name and key are
/// kept, each proven by a valid signature, and at most ``capacity`` of them.
public final class PendingEnrollments: Sendable {
    public let capacity: Int
    /// How long a host stays listed after its last check-in: a name is held for one key until
    /// then, and junk names make room.
    public let expiry: Double
    private let entries = Mutex<[String: ControllerAPI.Enrollment]>([:])

    public init(capacity: Int = 1_024, expiry: Duration = .seconds(600)) {
        self.capacity = capacity
        self.expiry = Double(expiry.components.seconds)
    }

    /// Notes a check-in from `instance` signed by the unknown `key` at `time`; false if the
    /// list is full (the oldest is not displaced: a flood cannot push real hosts out).
    @discardableResult
    public func note(_ instance: String, key: VerifyingKey, at time: Double) -> Bool {
        entries.withLock { entries in
            if var known = entries[instance], known.key == key.line {
                known.lastSeen = max(known.lastSeen, time)
                entries[instance] = known
                return true
            }
            // A name is held for the first key seen until it expires: another writer cannot
            // swap its key under an operator who is comparing it.
            if let held = entries[instance], time - held.lastSeen < expiry { return false }
            if entries.count >= capacity { entries = entries.filter { time - $0.value.lastSeen < expiry } }
            guard entries[instance] != nil || entries.count < capacity else { return false }
            entries[instance] = ControllerAPI.Enrollment(instance: instance, key: key.line, firstSeen: time, lastSeen: time)
            return true
        }
    }

    /// Every pending host, by instance.
    public var all: [ControllerAPI.Enrollment] {
        entries.withLock { Array($0.values) }.sorted { $0.instance < $1.instance }
    }

    /// Takes `instance` off the list and returns its entry, if it is pending.
    public func remove(_ instance: String) -> ControllerAPI.Enrollment? {
        entries.withLock { $0.removeValue(forKey: instance) }
    }

    public func entry(_ instance: String) -> ControllerAPI.Enrollment? {
        entries.withLock { $0[instance] }
    }
}
