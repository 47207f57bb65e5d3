import CSpawn
import Foundation
import ManagementMessaging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What happens to a child, in order: its output lines, then its end.
enum ChildEvent: Sendable {
    case stdout(String)
    case stderr(String)
    /// The raw `waitpid` status, reported after the output has been read to its end.
    case exited(ExitStatus)
}

/// How a process ended.
struct ExitStatus: Sendable, Hashable, CustomStringConvertible {
    let raw: Int32

    var signal: Int32? { raw & 0x7f != 0 ? raw & 0x7f : nil }
    var code: Int32? { signal == nil ? (raw >> 8) & 0xff : nil }

    var description: String {
        if let signal { return "killed by signal \(signal)" }
        return "exited with status \(code ?? -1)"
    }
}

/// Everything needed to start a process.
struct LaunchSpec: Sendable {
    var executable: String
    var arguments: [String]
    var environment: [String: String]
    var directory: String?
    var cpu: Int?
    /// The user the process runs as, with the capabilities it keeps; nil: the supervisor's.
    var credentials: NodeCredentials? = nil
    /// The process's file mode creation mask; nil: the supervisor's.
    var umask: Int32? = nil
    /// How the process is held to its node's limits.
    var confinement = ProcessConfinement()
}

/// The limits one process starts with (see ``NodeConfinement``).
struct ProcessConfinement: Sendable, Hashable {
    /// Its nice level; nil: the supervisor's.
    var nice: Int32?
    /// Its `RLIMIT_DATA` in bytes; nil: unlimited (or held by a cgroup instead).
    var dataLimit: UInt64?
    /// The CPUs it may run on; `cpu` then pins it to one of them.
    var cpus: [Int]?
    /// The cgroup it joins before it execs.
    var cgroup: URL?
}

struct SpawnError: Error, CustomStringConvertible {
    var description: String
}

/// A running child with its output piped back to us.
///
/// Two threads read its stdout and stderr line by line and a third waits for it to end; all
/// three feed ``events``, which ends after ``ChildEvent/exited(_:)``.
final class ChildProcess: Sendable {
    let pid: Int32
    let events: AsyncStream<ChildEvent>
    private let exit = Mutex<(status: ExitStatus?, waiters: [CheckedContinuation<ExitStatus, Never>])>((nil, []))

    /// Longer lines are split, so a node that never writes a newline cannot exhaust memory.
    static let maximumLineLength = 65_536

    static func start(_ spec: LaunchSpec) async throws -> ChildProcess {
        var stdoutPipe: [Int32] = [0, 0]
        var stderrPipe: [Int32] = [0, 0]
        guard zm_pipe_cloexec(&stdoutPipe) == 0, zm_pipe_cloexec(&stderrPipe) == 0 else {
            throw SpawnError(description: "cannot create pipes: \(String(cString: strerror(errno)))")
        }
        let pid: Int32
        do {
            pid = try await Spawner.shared.spawn(spec, stdout: stdoutPipe[1], stderr: stderrPipe[1])
        } catch {
            [stdoutPipe[0], stdoutPipe[1], stderrPipe[0], stderrPipe[1]].forEach { close($0) }
            throw error
        }
        close(stdoutPipe[1])
        close(stderrPipe[1])
        return ChildProcess(pid: pid, stdout: stdoutPipe[0], stderr: stderrPipe[0])
    }

    private init(pid: Int32, stdout: Int32, stderr: Int32) {
        self.pid = pid
        let (events, continuation) = AsyncStream<ChildEvent>.makeStream(bufferingPolicy: .unbounded)
        self.events = events
        let readersDone = DispatchGroup()
        for (fd, wrap) in [(stdout, ChildEvent.stdout), (stderr, ChildEvent.stderr)] {
            readersDone.enter()
            Thread {
                Self.readLines(from: fd) { continuation.yield(wrap($0)) }
                close(fd)
                readersDone.leave()
            }.start()
        }
        Thread { [self] in
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            // Output still in the pipes belongs before the exit; a grandchild holding a pipe
            // open must not hold the exit back for long.
            _ = readersDone.wait(timeout: .now() + .milliseconds(500))
            let status = ExitStatus(raw: raw)
            continuation.yield(.exited(status))
            continuation.finish()
            let waiters = exit.withLock { state in
                state.status = status
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume(returning: status) }
        }.start()
    }

    var hasExited: Bool { exit.withLock { $0.status != nil } }

    /// Signals the child's whole process group (the node and anything it started), or the
    /// child alone if it has not made its group yet.
    func signal(_ signal: Int32) {
        guard !hasExited else { return }
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }

    func waitForExit() async -> ExitStatus {
        await withCheckedContinuation { continuation in
            let status = exit.withLock { state in
                if state.status == nil { state.waiters.append(continuation) }
                return state.status
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    /// Stops the child: SIGTERM, repeated every `interval`, then SIGKILL once `killAfter` passed
    /// on `clock`.
    @discardableResult
    func stop(interval: Duration, killAfter: Duration, clock: any ManagementClock) async -> ExitStatus {
        let deadline = clock.now + killAfter
        signal(SIGTERM)
        return await withTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { await self.waitForExit() }
            group.addTask {
                while clock.now < deadline {
                    try? await clock.sleep(for: min(interval, deadline - clock.now))
                    if Task.isCancelled { return nil }
                    self.signal(clock.now < deadline ? SIGTERM : SIGKILL)
                }
                self.signal(SIGKILL)
                return nil
            }
            var status: ExitStatus?
            while status == nil, let next = await group.next() { status = next }
            group.cancelAll()
            return status!
        }
    }

    private static func readLines(from fd: Int32, _ emit: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        func flush(_ bytes: ArraySlice<UInt8>) {
            guard !bytes.isEmpty else { return } // Zeek drops empty lines as well
            emit(String(decoding: bytes.last == 13 ? bytes.dropLast() : bytes, as: UTF8.self))
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending.append(contentsOf: buffer[0..<count])
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: 10) {
                flush(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
            while pending.count >= maximumLineLength {
                flush(pending[..<maximumLineLength])
                pending.removeSubrange(..<maximumLineLength)
            }
        }
        flush(pending[...])
    }
}

/// Forks children from a few threads that live as long as the process, because the
/// parent-death signal (which guarantees no node outlives a killed supervisor) fires when the
/// *thread* that forked exits, and Swift's worker threads may come and go.
///
/// A fork waits until its child has exec'd, and on a host busy starting nodes the child waits
/// for a CPU first; with several spawner threads those waits overlap instead of adding up.
final class Spawner: Sendable {
    static let shared = Spawner(threads: 4)

    private struct Job: @unchecked Sendable {
        // The continuation is resumed exactly once, on the spawner thread that took the job.
        let spec: LaunchSpec
        let stdout: Int32
        let stderr: Int32
        let continuation: CheckedContinuation<Int32, any Error>
    }

    private let condition = NSCondition()
    private let jobs = Mutex<[Job]>([])

    private init(threads: Int) {
        for index in 1...threads {
            let thread = Thread { [self] in
                while true {
                    condition.lock()
                    var next = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    while next == nil {
                        condition.wait()
                        next = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    }
                    condition.unlock()
                    if let job = next { job.continuation.resume(with: Result { try Self.spawn(job.spec, stdout: job.stdout, stderr: job.stderr) }) }
                }
            }
            thread.name = "node-spawner-\(index)"
            thread.start()
        }
    }

    func spawn(_ spec: LaunchSpec, stdout: Int32, stderr: Int32) async throws -> Int32 {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            jobs.withLock { $0.append(Job(spec: spec, stdout: stdout, stderr: stderr, continuation: continuation)) }
            condition.signal()
            condition.unlock()
        }
    }

    private static func spawn(_ spec: LaunchSpec, stdout: Int32, stderr: Int32) throws -> Int32 {
        let argv = ([spec.executable] + spec.arguments).map { strdup($0) } + [nil]
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let limits = spec.confinement
        var cgroupProcs: Int32 = -1
        if let cgroup = limits.cgroup {
            cgroupProcs = open(cgroup.appendingPathComponent("cgroup.procs").path, O_WRONLY | O_CLOEXEC)
            guard cgroupProcs >= 0 else {
                throw SpawnError(description: "cannot join the cgroup \(cgroup.path): \(String(cString: strerror(errno)))")
            }
        }
        defer { if cgroupProcs >= 0 { close(cgroupProcs) } }
        let cpus = (limits.cpus ?? []).map { Int32($0) }
        var pid: pid_t = 0
        var step: UnsafePointer<CChar>?
        let error: Int32 = argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envpBuffer in
                cpus.withUnsafeBufferPointer { cpuBuffer in
                    spec.executable.withCString { path in
                        withOptionalCString(spec.directory) { directory in
                            var options = zm_spawn_options(
                                path: path, argv: argvBuffer.baseAddress, envp: envpBuffer.baseAddress,
                                directory: directory, stdout_fd: stdout, stderr_fd: stderr, cpu: Int32(spec.cpu ?? -1),
                                umask: spec.umask ?? -1, switch_user: spec.credentials == nil ? 0 : 1,
                                uid: spec.credentials?.uid ?? 0, gid: spec.credentials?.gid ?? 0,
                                capabilities: spec.credentials?.capabilities ?? 0,
                                set_nice: limits.nice == nil ? 0 : 1, nice: limits.nice ?? 0,
                                memory_max: limits.dataLimit ?? 0,
                                cpus: limits.cpus == nil ? nil : cpuBuffer.baseAddress, cpu_count: Int32(cpus.count),
                                cgroup_procs_fd: cgroupProcs
                            )
                            return zm_spawn(&options, &pid, &step)
                        }
                    }
                }
            }
        }
        guard error == 0 else {
            throw SpawnError(description: "\(step.map { String(cString: $0) } ?? "spawn") \(spec.executable): \(String(cString: strerror(error)))")
        }
        return pid
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString(body)
}
