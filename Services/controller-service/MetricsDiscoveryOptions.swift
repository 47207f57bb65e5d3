import ArgumentParser
import MetricsDiscovery
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where and how the controller serves Prometheus HTTP service discovery of the nodes' metrics
/// endpoints. Every flag falls back to an environment variable so a container turns the
/// endpoint on without changing its command.
struct MetricsDiscoveryOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve Prometheus HTTP service discovery of every RUNNING node's metrics endpoint at ADDR:PORT/services.json (Prometheus's http_sd_configs). Without ADDR: 127.0.0.1, or every address with TLS (env ZEEK_MGMT_METRICS_DISCOVERY; off unless given).", valueName: "[addr:]port"))
    var metricsDiscovery: String?

    @Option(help: ArgumentHelp("Serve it over TLS (https://) with this PEM certificate chain (env ZEEK_MGMT_METRICS_DISCOVERY_CERT).", valueName: "pem-file"))
    var metricsDiscoveryCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --metrics-discovery-cert (env ZEEK_MGMT_METRICS_DISCOVERY_KEY).", valueName: "pem-file"))
    var metricsDiscoveryKey: String?

    @Option(help: ArgumentHelp("With TLS, require a client certificate signed by this CA (Prometheus's tls_config cert_file, key_file) (env ZEEK_MGMT_METRICS_DISCOVERY_CA).", valueName: "pem-file"))
    var metricsDiscoveryCA: String?

    /// The endpoint's settings, or nil when it is off.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MetricsDiscoverySettings? {
        func value(_ flag: String?, _ variable: String) -> String? {
            (flag ?? environment[variable]).flatMap { $0.isEmpty ? nil : $0 }
        }
        let certificate = value(metricsDiscoveryCert, "ZEEK_MGMT_METRICS_DISCOVERY_CERT")
        let key = value(metricsDiscoveryKey, "ZEEK_MGMT_METRICS_DISCOVERY_KEY")
        let ca = value(metricsDiscoveryCA, "ZEEK_MGMT_METRICS_DISCOVERY_CA")
        if (certificate == nil) != (key == nil) {
            throw ValidationError("--metrics-discovery-cert and --metrics-discovery-key go together")
        }
        if ca != nil && certificate == nil {
            throw ValidationError("--metrics-discovery-ca checks client certificates over TLS: give --metrics-discovery-cert and --metrics-discovery-key too")
        }
        guard let address = value(metricsDiscovery, "ZEEK_MGMT_METRICS_DISCOVERY") else {
            if certificate != nil { throw ValidationError("--metrics-discovery-cert configures the metrics discovery endpoint: give --metrics-discovery ADDR:PORT too") }
            return nil
        }
        let colon = address.lastIndex(of: ":")
        let portText = colon.map { address[address.index(after: $0)...] } ?? address[...]
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw ValidationError("--metrics-discovery \(address) is not [ADDR:]PORT, e.g. 127.0.0.1:9099")
        }
        let host = colon.map { address[..<$0].trimming(charactersIn: "[]") }
        var settings = MetricsDiscoverySettings(host: host.flatMap { $0.isEmpty ? nil : String($0) }, port: port)
        if let certificate, let key {
            settings.tls = .init(certificate: certificate, key: key, clientCA: ca)
        }
        return settings
    }
}
