import ClusterConfiguration
import Foundation
import ManagementTypes
import Testing

/// The cluster backend in the configuration: the `[cluster]` section, the proxy ports the
/// controller assigns, what an agent accepts as completion, and hosts that disagree.
@Suite("The cluster backend in the configuration")
struct ClusterBackendConfigurationTests: ReadsConfigurationFiles {
    let nodes = "[manager]\ninstance = a\nrole = manager\n\n[worker-1]\ninstance = b\nrole = worker\n"

    @Test func theClusterSectionNamesTheBackendAndPorts() throws {
        let reading = try read("[cluster]\nbackend = ZeroMQ\nzeromq_xpub_port = 27758\nzeromq_xsub_port = 27759\n\n" + nodes)
        #expect(reading.configuration.clusterBackend == ClusterBackend(name: .zeromq, xpubPort: ZeekPort(27758), xsubPort: ZeekPort(27759)))
        #expect(reading.configuration.nodes.map(\.name).sorted() == ["manager", "worker-1"], "[cluster] is no node")
        #expect(try read("[cluster]\nbackend = auto\n\n" + nodes).configuration.clusterBackend == nil, "auto is the default")
        #expect(try read(nodes).configuration.clusterBackend == nil, "zeek-client's files read as before")

        let rendered = ClusterConfigurationFile.render(reading.configuration)
        #expect(rendered.hasPrefix("[cluster]\nbackend = zeromq\nzeromq_xpub_port = 27758\nzeromq_xsub_port = 27759\n"), "\(rendered)")
        #expect(try read(rendered).configuration.clusterBackend == reading.configuration.clusterBackend)
    }

    @Test func badClusterSettingsAreRefused() {
        #expect(problem("[cluster]\nbackend = kafka\n\n" + nodes)?.contains("invalid [cluster] backend \"kafka\": zeromq, broker or auto") == true)
        #expect(problem("[cluster]\nbackend = zeromq\nworkers = 2\n\n" + nodes)?.contains("invalid [cluster] key \"workers\"") == true)
        #expect(problem("[cluster]\nzeromq_xpub_port = 70000\n\n" + nodes)?.contains("invalid [cluster] zeromq_xpub_port \"70000\"") == true)
    }

    @Test func theControllerAssignsTheProxyPortsOnceAndKeepsGivenOnes() throws {
        let policy = StagingPolicy(brokerPortStart: 27760)
        let config = try read(nodes).configuration
        let prepared = try policy.prepared(config, knownHosts: [:])
        let manager = try #require(prepared.nodes.first { $0.name == "manager" })
        let backend = try #require(prepared.clusterBackend)
        #expect(backend.name == nil, "the hosts still decide")
        #expect(Set([manager.port, backend.xpubPort, backend.xsubPort].compactMap { $0?.number }) == [27760, 27761, 27762], "three distinct ports")
        #expect(prepared.difference(fromCompletionOf: config) == nil, "an agent accepts the completion")

        var forged = prepared
        forged.clusterBackend?.name = .broker
        #expect(forged.difference(fromCompletionOf: config) == "its cluster backend is not as signed")

        let given = try read("[cluster]\nzeromq_xpub_port = 27760\n\n" + nodes).configuration
        let completed = try policy.prepared(given, knownHosts: [:])
        #expect(completed.clusterBackend?.xpubPort == ZeekPort(27760) && completed.clusterBackend?.xsubPort != ZeekPort(27760))
        #expect(completed.nodes.first { $0.name == "manager" }?.port != ZeekPort(27760), "a given proxy port is not handed to a node")
        #expect(policy.problems(in: try read("[cluster]\nzeromq_xpub_port = 2300\n\n[manager]\ninstance = a\nrole = manager\nport = 2300\n").configuration)
            == ["cluster_backend xpub_port 2300/tcp is used by a node on instance 'a', the manager's"])
    }

    @Test func hostsThatDisagreeAreNamed() {
        func checked(_ instance: String, _ version: String, _ backend: String) -> Management.Result {
            Management.Result(reqid: "r", instance: instance, data: .object(["zeek_version": .string(version), "cluster_backend": .string(backend)]))
        }
        #expect(ClusterBackend.disagreement(in: [checked("a", "8.0.10", "broker"), checked("b", "8.0.9", "broker"), Management.Result(reqid: "r", instance: "c")]) == nil,
                "patch releases and stand-in hosts agree")
        #expect(ClusterBackend.disagreement(in: [checked("b", "9.1.0-dev", "zeromq"), checked("a", "8.0.10", "broker")])
            == "its hosts run different Zeek releases (a runs Zeek 8.0.10 (Broker), b runs Zeek 9.1.0-dev (ZeroMQ)): run one Zeek release across the cluster")
        #expect(ClusterBackend.disagreement(in: [checked("a", "8.0.10", "zeromq"), checked("b", "8.0.10", "broker")])?.contains("different cluster backends") == true)
    }
}
