extension Management.Configuration {
    /// How this configuration differs from `original` beyond what a controller may fill in
    /// when it prepares a staged configuration for deployment; nil if it does not.
    ///
    /// A controller may give a node a Broker or metrics port the operator left unset, the
    /// ZeroMQ proxy the ports the operator left unset, and an
    /// instance the address its agent checked in from where the operator left it unspecified.
    /// Everything else (nodes, roles, scripts, options, interfaces, environment) must be as the
    /// operator signed it: this is what lets an agent run a configuration only if an
    /// authorized operator signed it, however many hands it passed through.
    public func difference(fromCompletionOf original: Management.Configuration) -> String? {
        guard id == original.id else { return "its id is \(id), not \(original.id)" }
        let originalInstances = Dictionary(original.instances.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard Set(instances.map(\.name)) == Set(originalInstances.keys), instances.count == original.instances.count else {
            return "its instances are not those signed"
        }
        for instance in instances {
            guard let signed = originalInstances[instance.name] else { return "instance \(instance.name) was not signed" }
            if instance.listenPort != signed.listenPort { return "instance \(instance.name) has another listen port" }
            if instance.host != signed.host && signed.host != .unspecified { return "instance \(instance.name) has another address" }
        }
        var signedBackend = original.clusterBackend ?? ClusterBackend()
        let backend = clusterBackend ?? ClusterBackend()
        if signedBackend.xpubPort == nil { signedBackend.xpubPort = backend.xpubPort }
        if signedBackend.xsubPort == nil { signedBackend.xsubPort = backend.xsubPort }
        if backend != signedBackend { return "its cluster backend is not as signed" }
        let originalNodes = Dictionary(original.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard Set(nodes.map(\.name)) == Set(originalNodes.keys), nodes.count == original.nodes.count else {
            return "its nodes are not those signed"
        }
        for node in nodes {
            guard var signed = originalNodes[node.name] else { return "node \(node.name) was not signed" }
            if signed.port == nil { signed.port = node.port }
            if signed.metricsPort == nil { signed.metricsPort = node.metricsPort }
            if node != signed { return "node \(node.name) is not as signed" }
        }
        return nil
    }
}
