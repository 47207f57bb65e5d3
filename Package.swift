// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "zeek-management-kafka",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "controller-service", targets: ["controller-service"]),
        .executable(name: "agent-service", targets: ["agent-service"]),
        .executable(name: "supervisor-service", targets: ["supervisor-service"]),
        .executable(name: "cluster-node", targets: ["cluster-node"]),
        .executable(name: "zeek-mgmt", targets: ["zeek-mgmt"]),
        .executable(name: "benchmark", targets: ["benchmark"]),
        .library(name: "ManagementTypes", targets: ["ManagementTypes"]),
        .library(name: "ManagementMessaging", targets: ["ManagementMessaging"]),
        .library(name: "ManagementKafka", targets: ["ManagementKafka"]),
        .library(name: "KafkaTransport", targets: ["KafkaTransport"]),
        .library(name: "MessageSigning", targets: ["MessageSigning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
    ],
    targets: [
        // MARK: Shared libraries

        /// librdkafka, found through pkg-config (>= 2.2 is required at run time; see scripts/setup).
        .systemLibrary(
            name: "CRdKafka",
            path: "Shared/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        /// fork/exec with what supervision needs and posix_spawn lacks: parent-death signal,
        /// CPU affinity, a fresh signal state.
        .target(
            name: "CSpawn",
            path: "Shared/CSpawn"
        ),
        /// One malloc arena per process instead of one per thread, applied before `main`: the
        /// services are long-running and mostly idle, so per-thread arenas only hold freed pages.
        .target(
            name: "CMallocTuning",
            path: "Shared/CMallocTuning"
        ),
        /// A Swift transport over librdkafka: producer with awaited delivery reports, consumer
        /// delivering an AsyncSequence, topic administration.
        .target(
            name: "KafkaTransport",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/KafkaTransport"
        ),
        /// Zeek's Management, Supervisor and legacy ClusterController records with their JSON codecs.
        .target(
            name: "ManagementTypes",
            path: "Shared/ManagementTypes"
        ),
        /// Ed25519 keys, trust files and the signed form of a record: who said what (swift-crypto).
        .target(
            name: "MessageSigning",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            path: "Shared/MessageSigning"
        ),
        /// The wire contract, whatever carries it: topic names, the envelope, addressing,
        /// signatures and their verification, and the request/response logic of every service.
        .target(
            name: "ManagementMessaging",
            dependencies: [
                "ManagementTypes",
                "MessageSigning",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/ManagementMessaging"
        ),
        /// The contract over Kafka: endpoints and clients that speak it through KafkaTransport.
        .target(
            name: "ManagementKafka",
            dependencies: [
                "ManagementMessaging",
                "ManagementTypes",
                "MessageSigning",
                "KafkaTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            path: "Shared/ManagementKafka"
        ),
        /// libcurl behind one non-variadic C function (Swift cannot call curl_easy_setopt).
        .target(
            name: "CCurl",
            path: "Shared/CCurl",
            linkerSettings: [.linkedLibrary("curl")]
        ),
        /// Pushes Prometheus metrics to a Pushgateway over libcurl.
        .target(
            name: "MetricsPush",
            dependencies: [
                "CCurl",
                "KafkaTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/MetricsPush"
        ),
        /// The cluster configuration as a document: the controller's validation and port
        /// assignment, and zeek-client's INI file format.
        .target(
            name: "ClusterConfiguration",
            dependencies: ["ManagementTypes"],
            path: "Shared/ClusterConfiguration"
        ),
        /// Broker's WebSocket JSON data model and frames, as zeek-client speaks them.
        .target(
            name: "BrokerJSON",
            dependencies: ["ManagementTypes"],
            path: "Shared/BrokerJSON"
        ),
        /// Real Zeek as a cluster node: finding Zeek, its command line and generated scripts,
        /// the node script it loads, and the relay between its WebSocket API and Kafka.
        .target(
            name: "ZeekNodes",
            dependencies: [
                "ManagementTypes",
                "ManagementMessaging",
                "BrokerJSON",
                "LocalPorts",
                "MessageSigning",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            path: "Shared/ZeekNodes",
            resources: [.embedInCode("Resources/zeek-mgmt-node.zeek")]
        ),
        /// What every executable shares: common flags, logging, lifecycle.
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "ManagementKafka",
                "MessageSigning",
                "CMallocTuning",
                "ManagementMessaging",
                "KafkaTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/ServiceRuntime"
        ),
        /// Free loopback ports for local servers: test servers, and the Zeek nodes' relay endpoints.
        .target(
            name: "LocalPorts",
            path: "Shared/LocalPorts"
        ),
        /// Starts throwaway servers for tests and benchmarks: the broker (scripts/broker), a Pushgateway.
        .target(
            name: "LocalServers",
            dependencies: ["LocalPorts", "MessageSigning"],
            path: "Shared/LocalServers"
        ),

        // MARK: Services: the domain logic of each executable, runnable on any MessageBus

        /// The controller: agents, staged and deployed configurations, client requests.
        .target(
            name: "ManagementController",
            dependencies: [
                "MessageSigning",
                "ManagementMessaging",
                "ClusterConfiguration",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Controller"
        ),
        /// The zeek-client gateway: Broker's WebSocket JSON protocol in front of the controller's
        /// API, with TLS, client authentication and roles. A security boundary of its own, and,
        /// with MetricsDiscovery, the only target that links NIO's HTTP and TLS stacks.
        .target(
            name: "ZeekClientGateway",
            dependencies: [
                "ManagementMessaging",
                "BrokerJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "ServerTLS",
            ],
            path: "Services/ZeekClientGateway"
        ),
        /// The TLS server side the controller's listeners share: their PEM files made into a
        /// context (client certificates required with a CA), and which addresses are loopback.
        .target(
            name: "ServerTLS",
            dependencies: [.product(name: "NIOSSL", package: "swift-nio-ssl")],
            path: "Services/ServerTLS"
        ),
        /// Prometheus HTTP service discovery of the nodes' metrics endpoints, served by the
        /// controller: a small read-only HTTP(S) endpoint on NIO's HTTP and TLS stacks.
        .target(
            name: "MetricsDiscovery",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "ServerTLS",
            ],
            path: "Services/MetricsDiscovery"
        ),
        /// The agent of one host: its nodes, its supervisor, its heartbeat and metrics.
        .target(
            name: "ManagementAgent",
            dependencies: [
                "MessageSigning",
                "ManagementMessaging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Agent"
        ),
        /// The supervisor of one host: node processes, their output, their check, the Zeek relay.
        .target(
            name: "NodeSupervision",
            dependencies: [
                "MessageSigning",
                "ManagementMessaging",
                "CSpawn",
                "ZeekNodes",
                "LocalPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Supervisor"
        ),

        // MARK: Executables: flags in, services run

        .executableTarget(
            name: "controller-service",
            dependencies: ["ServiceRuntime", "ManagementController", "ZeekClientGateway", "MetricsDiscovery", "ClusterConfiguration", "MessageSigning"],
            path: "Services/controller-service"
        ),
        .executableTarget(
            name: "agent-service",
            dependencies: ["ServiceRuntime", "ManagementAgent", "MetricsPush", .product(name: "Prometheus", package: "swift-prometheus")],
            path: "Services/agent-service"
        ),
        .executableTarget(
            name: "supervisor-service",
            dependencies: ["ServiceRuntime", "NodeSupervision", "ZeekNodes", "MessageSigning"],
            path: "Services/supervisor-service"
        ),
        .executableTarget(
            name: "cluster-node",
            dependencies: ["ServiceRuntime", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Services/cluster-node"
        ),
        .executableTarget(
            name: "zeek-mgmt",
            dependencies: ["ServiceRuntime", "ClusterConfiguration", "MessageSigning"],
            path: "Services/zeek-mgmt"
        ),
        .executableTarget(
            name: "benchmark",
            dependencies: [
                "CRdKafka",
                "KafkaTransport",
                "ManagementKafka",
                "ManagementMessaging",
                "LocalServers",
                "ZeekNodes",
                "ManagementTesting",
                "MessageSigning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/benchmark"
        ),

        // MARK: Tests

        /// What the in-process test tier runs the services on: an in-memory bus with Kafka's
        /// delivery rules, and a clock that moves when the test says.
        .target(
            name: "ManagementTesting",
            dependencies: [
                "ManagementMessaging", "ManagementTypes", "MessageSigning", "ManagementController", "ManagementAgent",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/ManagementTesting"
        ),

        .testTarget(
            name: "ContractTests",
            dependencies: ["ManagementKafka", "ManagementTypes", "ManagementMessaging", "ManagementTesting", "MessageSigning", .product(name: "Logging", package: "swift-log")],
            path: "Tests/ContractTests"
        ),
        .testTarget(
            name: "MessageSigningTests",
            dependencies: ["MessageSigning"],
            path: "Tests/MessageSigningTests"
        ),
        .testTarget(
            name: "ClusterConfigurationTests",
            dependencies: ["ClusterConfiguration", "ManagementTypes"],
            path: "Tests/ClusterConfigurationTests"
        ),
        .testTarget(
            name: "ZeekNodesTests",
            dependencies: ["ZeekNodes", "ManagementTypes", "MessageSigning"],
            path: "Tests/ZeekNodesTests"
        ),
        .testTarget(
            name: "BrokerJSONTests",
            dependencies: ["BrokerJSON", "ManagementTypes"],
            path: "Tests/BrokerJSONTests"
        ),
        .testTarget(
            name: "ZeekClientGatewayTests",
            dependencies: ["ZeekClientGateway", .product(name: "NIOWebSocket", package: "swift-nio")],
            path: "Tests/ZeekClientGatewayTests"
        ),
        .testTarget(
            name: "MetricsDiscoveryTests",
            dependencies: [
                "MetricsDiscovery", "LocalPorts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/MetricsDiscoveryTests"
        ),
        .testTarget(
            name: "KafkaTransportTests",
            dependencies: ["ManagementKafka", "KafkaTransport", "ManagementMessaging", "LocalServers"],
            path: "Tests/KafkaTransportTests"
        ),
        .testTarget(
            name: "MetricsPushTests",
            dependencies: [
                "MetricsPush",
                "LocalServers",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/MetricsPushTests"
        ),
        /// The in-process tier: the controller, agent and supervisor libraries on the in-memory
        /// bus, with a test clock, in milliseconds.
        .testTarget(
            name: "InProcessTests",
            dependencies: [
                "ManagementTesting", "ManagementController", "ManagementAgent", "NodeSupervision",
                "ManagementMessaging", "ManagementTypes", "ClusterConfiguration", "MessageSigning",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/InProcessTests"
        ),
        .testTarget(
            name: "ServiceTests",
            dependencies: ["ManagementKafka", "LocalServers", "ManagementMessaging", "ManagementTypes", "KafkaTransport", "MessageSigning"],
            path: "Tests/ServiceTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
