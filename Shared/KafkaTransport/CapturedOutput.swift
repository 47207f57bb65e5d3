#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `write` prints to a C stream, as a string (nil if no memory stream could be opened).
///
/// librdkafka prints some of what it knows only to a `FILE *` (its property table, say), so it
/// is captured through `open_memstream`. That function keeps the two pointers it is given and
/// writes the buffer's address and length through them at every flush and at `fclose`, long
/// after it returned. A Swift local passed as `&local` is only valid for the duration of the
/// call it is passed to, so both live in storage allocated here and released only after
/// `fclose`.
func capturedOutput(_ write: (UnsafeMutablePointer<FILE>) -> Void) -> String? {
    let buffer = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 1)
    buffer.initialize(to: nil)
    let size = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    size.initialize(to: 0)
    defer {
        buffer.deallocate()
        size.deallocate()
    }
    guard let stream = open_memstream(buffer, size) else { return nil }
    write(stream)
    let closed = fclose(stream)
    guard let bytes = buffer.pointee else { return nil }
    defer { free(bytes) }
    guard closed == 0 else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: bytes, count: size.pointee), as: UTF8.self)
}
