/// Which Zeek cluster backend a cluster's nodes talk over, and where (contract 3.1).
///
/// Zeek 8.1 made ZeroMQ the backend zeekctl uses and Zeek 9.0 deprecated Broker, so the
/// backend is part of the deployed configuration. Without a `name`, each host takes the
/// default of the Zeek it runs, as zeekctl does: ZeroMQ from Zeek 8.1 on, Broker before; the
/// controller refuses a cluster whose hosts would then disagree.
///
/// With ZeroMQ, the manager runs the XPUB/XSUB proxy every node connects to, on the
/// manager's address and ``xpubPort``/``xsubPort`` (the controller assigns them from its
/// Broker port range when the operator leaves them out), and each logger takes log writes on
/// its own port (`p`).
public struct ClusterBackend: Hashable, Sendable, Codable {
    public enum Name: String, Hashable, Sendable, Codable, CaseIterable {
        case zeromq
        case broker

        /// As Zeek's documentation writes it.
        public var displayName: String { self == .zeromq ? "ZeroMQ" : "Broker" }
    }

    /// Whether ZeroMQ traffic is encrypted with CURVE (Zeek 8.2+), as zeekctl decides it.
    public enum Encryption: String, Hashable, Sendable, Codable, CaseIterable {
        /// On when the cluster's nodes span more than one address.
        case auto
        case on
        /// Only when the operator says so.
        case off
    }

    /// The backend every node uses; nil: the default of each host's Zeek.
    public var name: Name?
    /// CURVE on ZeroMQ; nil: ``Encryption/auto``.
    public var encryption: Encryption?
    /// The manager's XPUB port (nodes subscribe there).
    public var xpubPort: ZeekPort?
    /// The manager's XSUB port (nodes publish there).
    public var xsubPort: ZeekPort?

    public init(name: Name? = nil, encryption: Encryption? = nil, xpubPort: ZeekPort? = nil, xsubPort: ZeekPort? = nil) {
        self.name = name
        self.encryption = encryption
        self.xpubPort = xpubPort
        self.xsubPort = xsubPort
    }

    enum CodingKeys: String, CodingKey {
        case name, encryption
        case xpubPort = "xpub_port"
        case xsubPort = "xsub_port"
    }

    /// Nothing set: as a configuration without the record.
    public var isEmpty: Bool { self == ClusterBackend() }

    /// The backend of a Zeek that does not name one: ZeroMQ from 8.1 on (as zeekctl), else Broker.
    /// `version` is what `zeek --version` prints (`8.0.10`, `9.1.0-dev`).
    public static func defaultName(forZeek version: String) -> Name {
        zeek(version, isAtLeast: (8, 1)) ? .zeromq : .broker
    }

    /// Whether a Zeek version (`9.1.0-dev`) is `release` (major, minor) or later; an
    /// unreadable version is not.
    public static func zeek(_ version: String, isAtLeast release: (Int, Int)) -> Bool {
        releaseNumbers(ofZeek: version).map { $0 >= release } ?? false
    }

    /// The (major, minor) of a Zeek version (`9.1.0-dev`: 9, 1); nil if it does not read as one.
    public static func releaseNumbers(ofZeek version: String) -> (major: Int, minor: Int)? {
        let parts = version.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        return parts.count >= 2 ? (parts[0], parts[1]) : nil
    }

    /// The backend a node uses: the one this record names, else the default of the Zeek it runs on.
    public static func name(of backend: ClusterBackend?, onZeek version: String) -> Name {
        backend?.name ?? defaultName(forZeek: version)
    }

    /// Whether the nodes of `cluster` talk encrypted: as the configuration says, and on `auto`
    /// when they span more than one address (a cluster on one host stays in the clear).
    public func encrypts(_ cluster: [String: Supervisor.ClusterEndpoint]) -> Bool {
        switch encryption ?? .auto {
        case .on: true
        case .off: false
        case .auto: Set(cluster.values.map(\.host)).count > 1
        }
    }

    /// `major.minor` of a Zeek version, what must agree across a cluster's hosts.
    public static func release(ofZeek version: String) -> String {
        version.split(separator: ".").prefix(2).joined(separator: ".")
    }

    /// What disagrees when the hosts of one cluster run different Zeek releases or would use
    /// different cluster backends (each host reports both with its check); nil when they agree.
    /// Such a cluster is never tried: its nodes would not understand each other.
    public static func disagreement(in results: [Management.Result]) -> String? {
        var hosts: [String: (release: String, version: String, backend: String)] = [:]
        for result in results where result.success {
            guard let instance = result.instance, case .object(let fields)? = result.data,
                  case .string(let version)? = fields["zeek_version"], case .string(let backend)? = fields["cluster_backend"] else { continue }
            hosts[instance] = (release(ofZeek: version), version, backend)
        }
        let describe = { (name: String) -> String in
            let host = hosts[name]!
            return "\(name) runs Zeek \(host.version) (\(Name(rawValue: host.backend)?.displayName ?? host.backend))"
        }
        let names = hosts.keys.sorted()
        if Set(names.map { hosts[$0]!.release }).count > 1 {
            return "its hosts run different Zeek releases (\(names.map(describe).joined(separator: ", "))): run one Zeek release across the cluster"
        }
        if Set(names.map { hosts[$0]!.backend }).count > 1 {
            return "its hosts would use different cluster backends (\(names.map(describe).joined(separator: ", "))): name one in [cluster] backend"
        }
        return nil
    }
}
