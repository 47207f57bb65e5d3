/// A host's log archiver (contract 3.1), as `zeek.conf`'s `archiver` options define it: a
/// process supervised beside the host's nodes that takes the logs the host's loggers rotate
/// into its log queue and files them away.
///
/// With no `program`, it is Zeek's `zeek-archiver`, which moves each rotated log into a dated
/// directory of the host's archive, compressed (`archiver = 1`). With a `program` (an absolute
/// path, `archiver = PATH`), that program runs instead with `args`, continuously: a log shipper,
/// say. It runs as the host's loggers run (their user, umask), with its own limits.
public struct LogArchiver: Hashable, Sendable, Codable {
    /// The program run instead of `zeek-archiver`; nil: `zeek-archiver` from the host's Zeek.
    public var program: String?
    /// Arguments (`archiver_args`); for `zeek-archiver` they come before its two directories.
    public var args: [String]
    /// Environment (`env` and `archiver_env`).
    public var env: [String: String]
    /// `archiver_memory_max`, `archiver_nice`, `archiver_cpu_set`, `restart_interval_sec`.
    public var limits: NodeLimits?

    public init(program: String? = nil, args: [String] = [], env: [String: String] = [:], limits: NodeLimits? = nil) {
        self.program = program
        self.args = args
        self.env = env
        self.limits = limits
    }

    enum CodingKeys: String, CodingKey {
        case program, args, env, limits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        program = try c.decodeIfPresent(String.self, forKey: .program)
        args = try c.decode([String].self, forKey: .args, default: [])
        env = try c.decode([String: String].self, forKey: .env, default: [:])
        limits = try c.decodeIfPresent(NodeLimits.self, forKey: .limits)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(program, forKey: .program)
        if !args.isEmpty { try c.encode(args, forKey: .args) }
        if !env.isEmpty { try c.encode(env, forKey: .env) }
        if let limits, !limits.isEmpty { try c.encode(limits, forKey: .limits) }
    }
}
