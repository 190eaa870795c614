import EthereumKit
import NIOCore
import NIOHTTP1
import Synchronization

/// One provider's endpoint over the shared chain: its own HTTP listener, labels, and fault.
public final class SimnetFace: Sendable {
    public let id: String
    public let provider: String
    public let cloud: String
    public let region: String
    /// Shared with the listener's request handler, which reads it on every request.
    private final class FaultCell: Sendable {
        let value: Mutex<Fault>
        init(_ fault: Fault) { value = Mutex(fault) }
    }

    private let currentFault: FaultCell
    private let counters: RequestCounter
    private let rpc: SimnetRPC
    let server: LoopbackHTTPServer

    init(_ face: SimnetConfiguration.Face, chain: SimulatedChain, host: String, port: Int) {
        id = face.id
        provider = face.provider
        cloud = face.cloud
        region = face.region
        let cell = FaultCell(face.fault)
        currentFault = cell
        let counters = RequestCounter()
        self.counters = counters
        let rpc = SimnetRPC(chain: chain)
        self.rpc = rpc
        server = LoopbackHTTPServer(host: host, port: port) { request in
            counters.count(request.body, http2: request.isHTTP2)
            return SimnetFace.reply(to: request, fault: cell.value.withLock { $0 }, rpc: rpc)
        }
    }

    public var fault: Fault { currentFault.value.withLock { $0 } }

    /// HTTP requests this face received (whatever its fault did with them).
    public var requestsReceived: Int { counters.total.withLock { $0 } }

    /// JSON-RPC calls received: one per request, or one per element of a batch (the `"method"`
    /// members counted by a byte search).
    public var callsReceived: Int { counters.calls.withLock { $0 } }

    /// Requests received as HTTP/2 streams (h2c) rather than HTTP/1.1.
    public var http2RequestsReceived: Int { counters.http2.withLock { $0 } }

    /// Requests received that carried `eth_sendRawTransaction` (single or in a batch).
    public var transactionsReceived: Int { counters.transactions.withLock { $0 } }

    public var url: String { "http://\(server.host):\(server.port)" }

    /// Changes the fault; `down` closes the listener and its connections, leaving `down` rebinds the same port.
    public func setFault(_ fault: Fault) async throws {
        let previous = currentFault.value.withLock { current in
            defer { current = fault }
            return current
        }
        if fault == .down && previous != .down {
            await server.stop()
        } else if fault != .down && previous == .down {
            try await server.start()
        }
    }

    /// Counts requests cheaply: a byte search, not a parse, so the hot path stays fast.
    private final class RequestCounter: Sendable {
        let total = Mutex(0)
        let transactions = Mutex(0)
        let calls = Mutex(0)
        let http2 = Mutex(0)
        private static let marker = Array("eth_sendRawTransaction".utf8)
        private static let methodKey = Array(#""method""#.utf8)

        func count(_ body: [UInt8], http2: Bool) {
            total.withLock { $0 += 1 }
            if http2 { self.http2.withLock { $0 += 1 } }
            var methods = 0
            var rest = body[...]
            while let found = rest.firstRange(of: Self.methodKey) {
                methods += 1
                rest = rest[found.upperBound...]
            }
            calls.withLock { $0 += max(methods, 1) }
            if body.count > 100 && body.firstRange(of: Self.marker) != nil {
                transactions.withLock { $0 += 1 }
            }
        }
    }

    static func reply(to request: HTTPRequest, fault: Fault, rpc: SimnetRPC) -> HTTPReply {
        guard request.method == .POST else {
            return .json(SimnetRPC.errorResponse(id: .null, RPCError(code: -32600, message: "JSON-RPC requests must be POSTed")), status: .methodNotAllowed)
        }
        var view = FaceView()
        var delay = TimeAmount.zero
        switch fault {
        case .none, .down:
            break
        case .stall:
            return .stall
        case .slow(let milliseconds):
            delay = .milliseconds(Int64(milliseconds))
        case .lag(let blocks):
            view.lagBlocks = blocks
        case .lie:
            view.lies = true
        case .wrongchain:
            view.wrongChain = true
        case .ratelimit:
            return .respond(
                status: .tooManyRequests, headers: [("Content-Type", "application/json"), ("Retry-After", "1")],
                body: SimnetRPC.errorResponse(id: .null, RPCError(code: -32005, message: "rate limit exceeded"))
            )
        case .garbage:
            return .respond(status: .ok, headers: [("Content-Type", "application/json")], body: "{\"jsonrpc\":\"2.0\",\"result\":\u{1}\u{2}garbage<html>")
        case .flaky(let probability):
            if Double.random(in: 0..<1) < probability {
                return .respond(status: .serviceUnavailable, headers: [("Content-Type", "text/plain")], body: "upstream temporarily unavailable")
            }
        case .cutoff, .reset:
            let body = rpc.respond(to: request.body, view: view) ?? "{}"
            return .cutMidBody(body: body, reset: fault == .reset)
        }
        guard let body = rpc.respond(to: request.body, view: view) else {
            return .respond(status: .ok, body: "", delay: delay)
        }
        return .respond(status: .ok, headers: [("Content-Type", "application/json")], body: body, delay: delay)
    }
}
