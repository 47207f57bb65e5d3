/// What a node's processes may take of their host, named as Zeek's `zeek.conf` names them
/// (`<type>_memory_max`, `<type>_nice`, `<type>_cpu_set`, `restart_interval_sec`), so an
/// operator moving from Zeek's systemd generator finds the same knobs with the same meaning.
///
/// The supervisor enforces them: a cgroup v2 per node where it may create one, else
/// resource limits (`RLIMIT_DATA`) and CPU affinity. Unset fields leave the host's defaults.
public struct NodeLimits: Hashable, Sendable, Codable {
    /// The most memory the node may use, in bytes (`memory_max`); past it the node is killed
    /// (cgroup) or its allocations fail (rlimit), and it is reported and restarted.
    public var memoryMax: Int?
    /// The node's nice level, -20 (most favoured) to 19 (`nice`).
    public var nice: Int?
    /// The CPUs the node may run on (`cpu_set`): a confinement, beside `cpu_affinity`, which
    /// pins a node to one CPU that must then be in this set.
    public var cpuSet: [Int]?
    /// Seconds before a node that ended unexpectedly is started again (`restart_interval_sec`);
    /// repeated failures back off from it. Zeek's default is 1.
    public var restartIntervalSec: Int?

    public init(memoryMax: Int? = nil, nice: Int? = nil, cpuSet: [Int]? = nil, restartIntervalSec: Int? = nil) {
        self.memoryMax = memoryMax
        self.nice = nice
        self.cpuSet = cpuSet
        self.restartIntervalSec = restartIntervalSec
    }

    /// No field set: the node runs with the host's defaults.
    public var isEmpty: Bool { self == NodeLimits() }

    enum CodingKeys: String, CodingKey {
        case memoryMax = "memory_max"
        case nice
        case cpuSet = "cpu_set"
        case restartIntervalSec = "restart_interval_sec"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        memoryMax = try c.decodeIntegerIfPresent(forKey: .memoryMax)
        nice = try c.decodeIntegerIfPresent(forKey: .nice)
        cpuSet = try c.decodeIfPresent([Int].self, forKey: .cpuSet)
        restartIntervalSec = try c.decodeIntegerIfPresent(forKey: .restartIntervalSec)
    }

    /// The most CPUs a set may name, as the kernel's `CPU_SETSIZE`.
    public static let cpuLimit = 1024
    /// The longest restart interval: a day. Longer is a typo, not a policy.
    public static let maximumRestartInterval = 86_400

    /// What is wrong with the values themselves, whatever the host; nil when nothing.
    public var problem: String? {
        if let memoryMax, memoryMax <= 0 { return "memory_max \(memoryMax) is not a positive number of bytes" }
        if let nice, !(-20...19).contains(nice) { return "nice \(nice) is not a nice level from -20 to 19" }
        if let cpuSet {
            if cpuSet.isEmpty { return "cpu_set is empty: a node needs at least one CPU" }
            if let cpu = cpuSet.first(where: { !(0..<Self.cpuLimit).contains($0) }) { return "cpu_set names CPU \(cpu), outside 0-\(Self.cpuLimit - 1)" }
        }
        if let seconds = restartIntervalSec, !(0...Self.maximumRestartInterval).contains(seconds) {
            return "restart_interval_sec \(seconds) is not a number of seconds from 0 to \(Self.maximumRestartInterval)"
        }
        return nil
    }
}

extension NodeLimits {
    /// Reads a `memory_max` value as zeek.conf takes it: bytes, or a number with a `K`, `M`,
    /// `G` or `T` suffix (powers of 1024, as systemd reads them).
    public static func memory(_ text: String) -> Int? {
        var digits = Substring(text.trimmingWhitespace())
        var unit = 1
        if let last = digits.last, let power = ["K": 1, "M": 2, "G": 3, "T": 4][String(last)] {
            unit = 1 << (10 * power)
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let number = Int(digits), number > 0 else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    /// `memory_max` written back as zeek.conf reads it: the largest exact unit.
    public static func memoryText(_ bytes: Int) -> String {
        for (suffix, power) in [("T", 4), ("G", 3), ("M", 2), ("K", 1)] where bytes % (1 << (10 * power)) == 0 {
            return "\(bytes >> (10 * power))\(suffix)"
        }
        return "\(bytes)"
    }

    /// Reads a CPU list as zeek.conf's `workers_cpu_list` and `cpu_set` take it: numbers and
    /// ranges with an optional stride, comma-separated (`0-8:2,10-20:3`), in order, duplicates
    /// dropped. Nil when any part is not one of those.
    public static func cpuList(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        for part in text.trimmingWhitespace().split(separator: ",", omittingEmptySubsequences: false) {
            let part = part.trimmingWhitespace()
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                guard let cpu = Int(bounds[0]), cpu >= 0 else { return nil }
                cpus.append(cpu)
            case 2:
                let upper = bounds[1].split(separator: ":", omittingEmptySubsequences: false)
                guard upper.count <= 2, let low = Int(bounds[0]), let high = Int(upper[0]), low >= 0, high >= low,
                      high < cpuLimit else { return nil }
                let stride = upper.count == 2 ? Int(upper[1]) : 1
                guard let stride, stride > 0 else { return nil }
                cpus += Swift.stride(from: low, through: high, by: stride)
            default:
                return nil
            }
        }
        var seen = Set<Int>()
        return cpus.filter { seen.insert($0).inserted }
    }

    /// A CPU list written back compactly: runs of three or more as ranges (`0-3,6`).
    public static func cpuListText(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        while index < cpus.count {
            var end = index
            while end + 1 < cpus.count, cpus[end + 1] == cpus[end] + 1 { end += 1 }
            if end - index >= 2 {
                parts.append("\(cpus[index])-\(cpus[end])")
            } else {
                parts += cpus[index...end].map(String.init)
            }
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}
