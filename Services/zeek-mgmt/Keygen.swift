import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import MessageSigning

/// Makes an Ed25519 key for an operator, a controller or a host, and prints the line that
/// trusts it.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an Ed25519 key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes) and print its trust-file line.",
        discussion: """
            Writes PATH (mode 600) and PATH.pub. If PATH exists (a key made with openssl, say), \
            it is left as it is and only its trust-file line is printed. Add that line to the \
            trust file of every process that should believe this key (README, Security).
            """
    )

    @Argument(help: "Where the private key goes.")
    var path: String

    @Option(help: "What the key is: deploy or read (an operator), controller, or host.")
    var kind: String = "deploy"

    @Option(help: "The principal's name: the operator's, the controller's, or the host's instance name (default: the file name).")
    var name: String?

    func run() throws {
        guard let kind = Principal.Kind(rawValue: kind) else {
            throw ValidationError("unknown kind \"\(kind)\"; use one of \(Principal.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let key: SigningKey
        do {
            if FileManager.default.fileExists(atPath: path) {
                key = try SigningKey(file: path)
            } else {
                key = SigningKey.generate()
                guard FileManager.default.createFile(atPath: path, contents: Data(key.pem.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(path)")
                }
                guard FileManager.default.createFile(atPath: path + ".pub", contents: Data(key.publicKey.pem.utf8), attributes: [.posixPermissions: 0o644]) else {
                    throw ValidationError("cannot write \(path).pub")
                }
            }
        } catch let error as KeyError {
            throw ValidationError(error.description)
        }
        let principal = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        print("\(kind.rawValue) \(principal) \(key.publicKey.line)")
    }
}
