extension Duration {
    /// The duration in seconds, as envelope timestamps and wall clocks count time.
    public var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
