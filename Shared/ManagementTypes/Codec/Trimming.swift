extension StringProtocol {
    /// The text without leading and trailing whitespace (newlines included), for parsers of
    /// operator-written text: INI files, properties files, command-line values.
    public func trimmingWhitespace() -> String {
        trimming { $0.isWhitespace }
    }

    /// The text without leading and trailing characters of `set` (e.g. the brackets of `[::1]`).
    public func trimming(charactersIn set: String) -> String {
        trimming { set.contains($0) }
    }

    private func trimming(where shouldTrim: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !shouldTrim($0) }), let last = lastIndex(where: { !shouldTrim($0) }) else { return "" }
        return String(self[first...last])
    }
}
