import ManagementTypes

/// The file formats a cluster configuration is read from; both map onto the same
/// ``Management/Configuration``.
public enum ConfigurationFormat: String, Sendable, CaseIterable {
    /// zeek-client's INI file (``ClusterConfigurationFile``).
    case ini
    /// Zeek's `zeek.conf`, one file or a directory of `<host>.zeek.conf` (``ZeekConfFile``).
    case zeekConf = "zeek-conf"

    /// The format of a file when the operator names none: `*.conf` is zeek.conf, `*.ini` is
    /// INI; otherwise the text decides. zeek.conf has options before any section, or only
    /// `[zeek]` and `[interface NAME]` sections; zeek-client's files have neither.
    public static func detect(fileName: String, text: String) -> ConfigurationFormat {
        if fileName.hasSuffix(".conf") { return .zeekConf }
        if fileName.hasSuffix(".ini") { return .ini }
        for line in text.split(whereSeparator: \.isNewline) {
            let line = line.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            guard line.hasPrefix("[") else { return .zeekConf }
            return line == "[zeek]" || line.hasPrefix("[interface ") ? .zeekConf : .ini
        }
        return .ini
    }
}
