extension Management {
    /// `Management::Log`: the management framework's own log stream.
    public enum Log {
        /// Severity; Zeek gives these explicit integer values, exposed as ``numericValue``.
        public enum Level: String, ZeekEnum, Comparable {
            case debug = "DEBUG"
            case info = "INFO"
            case warning = "WARNING"
            case error = "ERROR"
            public static let zeekModule = "Management::Log::"

            public var numericValue: Int {
                switch self {
                case .debug: 10
                case .info: 20
                case .warning: 30
                case .error: 40
                }
            }

            public static func < (lhs: Level, rhs: Level) -> Bool { lhs.numericValue < rhs.numericValue }
        }

        /// One log line (`Management::Log::Info`).
        public struct Info: Hashable, Sendable, Codable {
            /// Epoch seconds.
            public var ts: Double
            /// Process name.
            public var node: String
            /// `DEBUG`/`INFO`/`WARNING`/`ERROR`.
            public var level: String
            /// `AGENT`/`CONTROLLER`/`NODE`.
            public var role: String
            public var message: String

            public init(ts: Double, node: String, level: String, role: String, message: String) {
                self.ts = ts
                self.node = node
                self.level = level
                self.role = role
                self.message = message
            }
        }
    }

    /// `Management::Controller::Runtime`: the controller's persisted configuration slots.
    public enum ControllerRuntime {
        public enum ConfigState: String, ZeekEnum {
            case staged = "STAGED"
            case ready = "READY"
            case deployed = "DEPLOYED"
            public static let zeekModule = "Management::Controller::Runtime::"
        }
    }
}
