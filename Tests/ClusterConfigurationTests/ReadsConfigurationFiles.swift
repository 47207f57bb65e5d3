import ClusterConfiguration

/// Reading a configuration file the way zeek-mgmt does, for the suites about the file format.
protocol ReadsConfigurationFiles {}

extension ReadsConfigurationFiles {
    func read(_ text: String) throws -> ClusterConfigurationFile.Reading {
        try ClusterConfigurationFile.read(text, id: "fixed", defaultInstance: "agent-testhost")
    }

    /// Why `text` is refused, or nil if it reads.
    func problem(_ text: String) -> String? {
        do {
            _ = try read(text)
            return nil
        } catch {
            return "\(error)"
        }
    }
}
