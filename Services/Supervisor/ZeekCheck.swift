import Foundation
import Logging
import ManagementMessaging

/// Runs Zeek's own parser over what a node would load, as zeekctl's `check` does.
enum ZeekCheck {
    /// Output lines of a failed check kept in its answer; Zeek names the first error first.
    static let reportedLines = 20

    /// `""` if Zeek parsed everything, else Zeek's messages (or why it could not run).
    static func run(_ spec: LaunchSpec, node: String, timeout: Duration, clock: any ManagementClock, logger: Logger) async -> String {
        let started = clock.now
        let process: ChildProcess
        do {
            process = try await ChildProcess.start(spec)
        } catch {
            return "cannot run \(spec.executable) to check node '\(node)': \(error)"
        }
        let outcome = await withTaskGroup(of: (lines: [String], status: ExitStatus)?.self) { group in
            group.addTask {
                var lines: [String] = []
                var status = ExitStatus(raw: 0)
                for await event in process.events {
                    switch event {
                    case .stdout(let line), .stderr(let line): lines.append(line)
                    case .exited(let exit): status = exit
                    }
                }
                return (lines, status)
            }
            group.addTask {
                try? await clock.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil { process.signal(SIGKILL) }
            group.cancelAll()
            return first
        }
        guard let outcome else {
            return "zeek --parse-only did not finish within \(timeout) for node '\(node)'"
        }
        logger.debug("checked node \(node) in \(clock.now - started): \(outcome.status)")
        guard outcome.status.code != 0 else { return "" }
        let relevant = outcome.lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let text = relevant.prefix(reportedLines).joined(separator: "\n")
        return text.isEmpty ? "zeek --parse-only \(outcome.status) for node '\(node)'" : text
    }
}
