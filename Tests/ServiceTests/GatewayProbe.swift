import Foundation

/// A WebSocket client for what zeek-client cannot do (send a browser's Origin, a bearer token,
/// an oversized frame, hold a connection silently): websocket-client, the library zeek-client
/// itself uses, from the venv scripts/setup makes, driven by a short Python script.
///
/// Its output is one line per thing that happened: `REFUSED <status> <body>` (handshake
/// answered with an HTTP error), `FAILED <error>` (no connection: TLS refused, closed at once),
/// `CONNECTED`, `ACK <frame>`, `RECV <frame>`, `CLOSED <code> <reason>`, `GONE <error>`.
struct GatewayProbe {
    var url: String
    var certificate: String?
    var key: String?
    var ca: String?
    var origin: String?
    /// The `Host` header, when not the URL's.
    var host: String?
    var headers: [String] = []
    /// Broker JSON messages to send after the subscription (an Int sends that many bytes of junk).
    var send: [Any] = []
    var delay: Double = 0
    /// Seconds to sleep without reading after sending (a client that stopped reading).
    var silent: Double = 0
    var listen: Double = 2

    static let script = """
        import json, ssl, sys, time, websocket
        a = json.loads(sys.argv[1])
        def out(*parts): print(*parts, flush=True)
        sslopt = None
        if a["url"].startswith("wss"):
            sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": a["ca"], "check_hostname": False}
            if a.get("cert"):
                sslopt.update(certfile=a["cert"], keyfile=a["key"])
        ws = websocket.WebSocket(sslopt=sslopt)
        options = {"header": a["headers"]}
        if a.get("host"):
            options["host"] = a["host"]
        if a.get("origin"):
            options["origin"] = a["origin"]
        else:
            options["suppress_origin"] = True
        try:
            ws.connect(a["url"], timeout=10, **options)
        except websocket.WebSocketBadStatusException as e:
            out("REFUSED", e.status_code, (e.resp_body or b"").decode(errors="replace").strip())
            sys.exit(0)
        except Exception as e:
            out("FAILED", repr(e))
            sys.exit(0)
        out("CONNECTED")
        try:
            ws.send(json.dumps(["zeek/management/controller"]))
            out("ACK", ws.recv())
            time.sleep(a["delay"])
            for m in a["send"]:
                ws.send("x" * m if isinstance(m, int) else json.dumps(m))
        except Exception as e:
            out("GONE", repr(e))
        time.sleep(a["silent"])
        ws.settimeout(0.2)
        deadline = time.time() + a["listen"]
        while time.time() < deadline:
            try:
                op, data = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:
                out("GONE", repr(e))
                break
            if op == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                out("CLOSED", code, data[2:].decode(errors="replace"))
                break
            out("RECV", data.decode(errors="replace"))
        """

    /// Runs the probe; its output lines.
    func run() async throws -> [String] {
        let arguments: [String: Any] = [
            "url": url, "cert": certificate ?? "", "key": key ?? "", "ca": ca ?? "", "origin": origin ?? "", "host": host ?? "",
            "headers": headers, "send": send, "delay": delay, "silent": silent, "listen": listen,
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: arguments), as: UTF8.self)
        let python = ComposeTopologyTests.root.appendingPathComponent(".venv/bin/python")
        let result = try await CLIResult.run(executable: python, arguments: ["-c", Self.script, json],
                                             environment: ZeekClientTests.environment, timeout: .seconds(60))
        guard result.status == 0 else { throw ServiceProcessError("probe failed with \(result.status): \(result.stdout)\(result.stderr)") }
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// A request as zeek-client sends it: a Broker data message holding the event.
    static func request(_ event: String, reqid: String, _ arguments: [[String: Any]] = []) -> [String: Any] {
        let args: [[String: Any]] = [["@data-type": "string", "data": reqid]] + arguments
        return [
            "type": "data-message", "topic": "zeek/management/controller", "@data-type": "vector",
            "data": [
                ["@data-type": "count", "data": 1], ["@data-type": "count", "data": 1],
                ["@data-type": "vector", "data": [
                    ["@data-type": "string", "data": "Management::Controller::API::\(event)"],
                    ["@data-type": "vector", "data": args],
                ] as [Any]],
            ] as [Any],
        ]
    }
}
