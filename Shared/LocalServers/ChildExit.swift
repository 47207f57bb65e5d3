import Foundation

extension Process {
    /// Waits until the child has exited and returns its exit code (128 + the signal number if a
    /// signal ended it; -1 if it was reaped before without Foundation knowing).
    ///
    /// Foundation learns of exits through its SIGCHLD handling, which can miss one when many
    /// children end at once; `waitUntilExit()` then spins forever on a zombie. This reaps the
    /// child directly whenever Foundation has not noticed yet.
    @discardableResult
    public func waitForExit() -> Int32 {
        while isRunning {
            var raw: Int32 = 0
            let result = waitpid(processIdentifier, &raw, WNOHANG)
            if result == processIdentifier { return Self.exitCode(waitStatus: raw) }
            if result < 0 && errno == ECHILD {
                // Reaped elsewhere: by Foundation, whose `isRunning` follows at once, or by an
                // earlier direct wait, of which Foundation never learns (status unknown: -1).
                usleep(50_000)
                return isRunning ? -1 : reportedExitCode
            }
            usleep(2_000)
        }
        return reportedExitCode
    }

    /// The exit code as Foundation saw it, in the same form.
    private var reportedExitCode: Int32 {
        terminationReason == .uncaughtSignal ? 128 + terminationStatus : terminationStatus
    }

    /// The exit code a `waitpid` status stands for, as a shell reports it (128 + n for signal n).
    public static func exitCode(waitStatus raw: Int32) -> Int32 {
        (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }
}
