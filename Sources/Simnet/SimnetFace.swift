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
    private let rpc: SimnetRPC
    let server: LoopbackHTTPServer

    init(_ face: SimnetConfiguration.Face, chain: SimulatedChain, host: String, port: Int) {
        id = face.id
        provider = face.provider
        cloud = face.cloud
        region = face.region
        let cell = FaultCell(face.fault)
        currentFault = cell
        let rpc = SimnetRPC(chain: chain)
        self.rpc = rpc
        server = LoopbackHTTPServer(host: host, port: port) { request in
            SimnetFace.reply(to: request, fault: cell.value.withLock { $0 }, rpc: rpc)
        }
    }

    public var fault: Fault { currentFault.value.withLock { $0 } }

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
        }
        guard let body = rpc.respond(to: request.body, view: view) else {
            return .respond(status: .ok, body: "", delay: delay)
        }
        return .respond(status: .ok, headers: [("Content-Type", "application/json")], body: body, delay: delay)
    }
}
