import Foundation

/// The Zeek script every node loads (`Resources/zeek-mgmt-node.zeek`, compiled into the
/// executable so that a supervisor needs no files beside it).
///
/// It answers `Management::Node::API::node_dispatch_request` through `lookup_ID` and
/// `to_json`, says hello to the relay that connects, serves Zeek's WebSocket API on
/// 127.0.0.1 for it, and keeps logs (rotated ones too) in the node's directory.
public enum ZeekNodeScript {
    public static let fileName = "zeek-mgmt-node.zeek"

    public static var text: String { String(decoding: PackageResources.zeek_mgmt_node_zeek, as: UTF8.self) }

    /// The script's declarations of the Management Node API (made only where Zeek has none):
    /// what a Zeek process must know to pass the relay's requests and the nodes' answers on
    /// without being a node itself (the host's WebSocket carrier).
    public static var apiDeclarations: String {
        let text = self.text
        guard let start = text.firstRange(of: "@ifndef ( Management::Node::API::node_dispatch_request )"),
              let end = text[start.upperBound...].firstRange(of: "\n@endif") else { return "" }
        return String(text[start.lowerBound..<end.upperBound]) + "\n"
    }

    /// Topic the relay sends this node's requests to (the script subscribes to it).
    public static func requestTopic(node: String) -> String { "zeek-mgmt/node/\(node)/request" }
    /// Topic the relay subscribes to for the node's responses and hello.
    public static func relayTopic(node: String) -> String { "zeek-mgmt/node/\(node)/relay" }

    /// Writes the script into `directory` (created if needed) and returns its path.
    public static func install(in directory: URL) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent(fileName)
        try Data(PackageResources.zeek_mgmt_node_zeek).write(to: file, options: .atomic)
        return file.path
    }
}
