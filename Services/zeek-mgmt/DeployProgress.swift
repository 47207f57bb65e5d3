import Foundation
import ManagementMessaging
import ManagementTypes
import Synchronization

/// On a terminal, shows what a deploy is doing while the operator waits: the node state
/// changes agents report, and the time spent. Silent when stderr is not a terminal.
final class DeployProgress: Sendable {
    static let shared = DeployProgress()

    private let started = Mutex<ContinuousClock.Instant?>(nil)
    private let ticker = Mutex<Task<Void, Never>?>(nil)

    func start() {
        guard Console.stderrIsTerminal else { return }
        started.withLock { $0 = .now }
        ticker.withLock { ticker in
            ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    guard let since = self.started.withLock({ $0 }) else { return }
                    let seconds = (ContinuousClock.now - since).components.seconds
                    self.write("\r\u{1B}[Kdeploying... \(seconds) s")
                }
            }
        }
    }

    func observe(_ message: InboundMessage) {
        guard started.withLock({ $0 }) != nil, let change = try? message.decode(AgentAPI.NotifyChange.self).event else { return }
        write("\r\u{1B}[K\(change.instance): \(change.n.name) \(change.old.rawValue) -> \(change.new.rawValue)\n")
    }

    func finish() {
        guard started.withLock({ $0 }) != nil else { return }
        started.withLock { $0 = nil }
        ticker.withLock { $0?.cancel() }
        write("\r\u{1B}[K")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
