import Foundation

/// A capture file with one complete TCP connection (handshake, a request and its answer,
/// FIN in both directions), with correct checksums, for Zeek to read with `-r`.
enum Pcap {
    static func tcpConnection(client: (UInt32, UInt16) = (0x0A00_0001, 43210), server: (UInt32, UInt16) = (0x0A00_0002, 80)) -> Data {
        var file = Data()
        file.append(le32(0xA1B2_C3D4)); file.append(le16(2)); file.append(le16(4))
        file.append(le32(0)); file.append(le32(0)); file.append(le32(65535)); file.append(le32(1)) // Ethernet
        let request = Array("GET / HTTP/1.1\r\nHost: example\r\n\r\n".utf8)
        let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        var clientSeq: UInt32 = 1000, serverSeq: UInt32 = 5000
        var packets: [(fromClient: Bool, flags: UInt8, seq: UInt32, ack: UInt32, payload: [UInt8])] = []
        packets.append((true, 0x02, clientSeq, 0, [])); clientSeq += 1                       // SYN
        packets.append((false, 0x12, serverSeq, clientSeq, [])); serverSeq += 1              // SYN-ACK
        packets.append((true, 0x10, clientSeq, serverSeq, []))                               // ACK
        packets.append((true, 0x18, clientSeq, serverSeq, request)); clientSeq += UInt32(request.count)
        packets.append((false, 0x18, serverSeq, clientSeq, answer)); serverSeq += UInt32(answer.count)
        packets.append((true, 0x11, clientSeq, serverSeq, [])); clientSeq += 1               // FIN
        packets.append((false, 0x11, serverSeq, clientSeq, [])); serverSeq += 1              // FIN
        packets.append((true, 0x10, clientSeq, serverSeq, []))                               // ACK
        // A last, unrelated SYN a minute later: a Zeek reading a trace holds its last packets
        // back while the node keeps running (as a cluster node does), and this moves network
        // time past the connection's close.
        let other = (client.0 + 10, UInt16(40000))
        var timed = packets.enumerated().map { (seconds: UInt32(0), micros: UInt32($0.offset * 10_000), client: client, server: server, packet: $0.element) }
        timed.append((60, 0, other, server, (true, 0x02, 1, 0, [])))
        let start: UInt32 = 1_700_000_000
        for entry in timed {
            let packet = entry.packet
            let (source, destination) = packet.fromClient ? (entry.client, entry.server) : (entry.server, entry.client)
            let frame = ethernet(ipv4(source: source.0, destination: destination.0,
                                      tcp(source: source, destination: destination, seq: packet.seq, ack: packet.ack, flags: packet.flags, payload: packet.payload)))
            file.append(le32(start + entry.seconds)); file.append(le32(entry.micros))
            file.append(le32(UInt32(frame.count))); file.append(le32(UInt32(frame.count)))
            file.append(contentsOf: frame)
        }
        return file
    }

    private static func ethernet(_ payload: [UInt8]) -> [UInt8] {
        [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00] + payload
    }

    private static func ipv4(source: UInt32, destination: UInt32, _ payload: [UInt8]) -> [UInt8] {
        var header: [UInt8] = [0x45, 0] + be16(UInt16(20 + payload.count)) + [0, 1, 0x40, 0, 64, 6, 0, 0] + be32(source) + be32(destination)
        let sum = checksum(header)
        header[10] = UInt8(sum >> 8); header[11] = UInt8(sum & 0xff)
        return header + payload
    }

    private static func tcp(source: (UInt32, UInt16), destination: (UInt32, UInt16), seq: UInt32, ack: UInt32, flags: UInt8, payload: [UInt8]) -> [UInt8] {
        var segment: [UInt8] = be16(source.1) + be16(destination.1) + be32(seq) + be32(ack) + [0x50, flags] + be16(65535) + [0, 0, 0, 0] + payload
        let pseudo = be32(source.0) + be32(destination.0) + [0, 6] + be16(UInt16(segment.count))
        let sum = checksum(pseudo + segment)
        segment[16] = UInt8(sum >> 8); segment[17] = UInt8(sum & 0xff)
        return segment
    }

    private static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            let high = UInt32(bytes[index]) << 8
            let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            sum += high | low
            index += 2
        }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
    private static func be32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)] }
    private static func le16(_ value: UInt16) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
    private static func le32(_ value: UInt32) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
}
