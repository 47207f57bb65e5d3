import Foundation
import LocalServers
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One of the project's executables, run as a real child process with its output captured.
final class ServiceProcess: Sendable {
    let name: String
    private let process: Process
    private let output = OutputBuffer()
    /// Set once the process has been reaped here (Foundation then never learns of the exit).
    private let exitCode = Mutex<Int32?>(nil)

    /// Where `swift build` put the executables: beside the test bundle.
    static let binDirectory: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while !directory.path.hasSuffix("/debug") && !directory.path.hasSuffix("/release") && directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    /// - Parameter executable: the program to run; default: the project's executable `name`.
    init(_ name: String, arguments: [String], environment: [String: String] = [:], executable: URL? = nil) throws {
        let executable = executable ?? Self.binDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw ServiceProcessError("\(executable.path) not found; build it first with `swift build`")
        }
        self.name = name
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(LocalBroker.serviceEnvironment) { $1 }
            .merging(LocalKeys.shared.environment(forExecutable: name, arguments: arguments, environment: environment)) { $1 }.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Blocking reads on a thread of their own see every byte and a definite end of file.
        let reader = pipe.fileHandleForReading
        let output = self.output
        Thread {
            while true {
                let data = reader.availableData
                output.append(data)
                if data.isEmpty { break }
            }
        }.start()
    }

    /// Starts a program that handles signals itself (a shell script, Python) with a clean signal
    /// mask: Foundation's Process hands its blocked signal mask to the child, and such a program
    /// cannot unblock SIGTERM or SIGINT itself (in the image, tini does it).
    static func withCleanSignalMask(_ name: String, executable: URL, arguments: [String], environment: [String: String] = [:]) throws -> ServiceProcess {
        try ServiceProcess(name, arguments: [
            "-MPOSIX", "-e", "sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die; exec @ARGV or die", "--", executable.path,
        ] + arguments, environment: environment, executable: URL(fileURLWithPath: "/usr/bin/perl"))
    }

    var text: String { output.text }
    var pid: Int32 { process.processIdentifier }

    /// Waits until the output contains `pattern`.
    func waitForOutput(_ pattern: String, timeout: Duration = .seconds(30)) async throws {
        try await poll(timeout: timeout, "\(name) did not print \"\(pattern)\"") {
            if output.text.contains(pattern) { return true }
            if output.isClosed { throw ServiceProcessError("\(name) exited without printing \"\(pattern)\". Output:\n\(text)") }
            return false
        }
    }

    /// Sends `signal` and waits for the process to exit; returns its exit code (128 + n if signal n ended it).
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(20)) async throws -> Int32 {
        if exitCode.withLock({ $0 == nil }) && process.isRunning { kill(process.processIdentifier, signal) }
        return try await waitForExit(timeout: timeout)
    }

    /// Waits for the process to exit and its output to be read to the end.
    ///
    /// Foundation's Process can miss a child's exit when many children end at once, leaving
    /// `isRunning` true, so the child is reaped here if Foundation has not noticed.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32 {
        if let code = exitCode.withLock({ $0 }) { return code }
        do {
            try await poll(timeout: timeout, "\(name) did not exit") {
                guard process.isRunning else { return true }
                var raw: Int32 = 0
                guard waitpid(process.processIdentifier, &raw, WNOHANG) == process.processIdentifier else { return false }
                exitCode.withLock { $0 = Process.exitCode(waitStatus: raw) }
                return true
            }
        } catch {
            kill(process.processIdentifier, SIGKILL)
            throw error
        }
        // The output ends with the process, unless a program that a parallel test started at
        // that moment inherited the pipe; that one is not waited for.
        try? await poll(timeout: .seconds(2), "\(name)'s output did not end") { output.isClosed }
        return exitCode.withLock { code in
            if code == nil { code = process.waitForExit() }
            return code!
        }
    }

    /// Re-checks `condition` every few milliseconds until it holds or `timeout` passes.
    private func poll(timeout: Duration, _ failure: String, _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            guard ContinuousClock.now < deadline else {
                throw ServiceProcessError("\(failure) within \(timeout). Output:\n\(text)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    deinit {
        if exitCode.withLock({ $0 == nil }) && process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitForExit()
        }
    }
}

/// A child's combined stdout and stderr.
private final class OutputBuffer: Sendable {
    private let state = Mutex((text: "", closed: false))

    var text: String { state.withLock { $0.text } }
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Appends output; empty data means the child closed its output.
    func append(_ data: Data) {
        state.withLock { state in
            if data.isEmpty { state.closed = true } else { state.text += String(decoding: data, as: UTF8.self) }
        }
    }
}

struct ServiceProcessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
