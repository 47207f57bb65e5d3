extension Duration {
    /// The duration in whole milliseconds, the unit librdkafka (and libcurl) take timeouts in.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension Duration {
    /// The duration in seconds, as envelope timestamps and wall clocks count time.
    public var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
