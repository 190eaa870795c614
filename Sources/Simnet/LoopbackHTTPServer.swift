import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Synchronization

/// One HTTP request, fully read.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var path: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// It came as a stream of an HTTP/2 connection (h2c), not as HTTP/1.1.
    public var isHTTP2 = false
}

/// What to do with a request.
public enum HTTPReply: Sendable {
    /// Send a response, after `delay`.
    case respond(status: HTTPResponseStatus, headers: [(String, String)] = [], body: String, delay: TimeAmount = .zero)
    /// Never answer; keep the connection open until the client gives up.
    case stall
    /// Work that needs to await (e.g. rebinding a listener); its reply is sent when done.
    case deferred(@Sendable () async -> HTTPReply)
    /// Sends the head (announcing the whole body) and half of `body`, then closes the
    /// connection — with a TCP reset when `reset`.
    case cutMidBody(body: String, reset: Bool)

    public static func json(_ body: String, status: HTTPResponseStatus = .ok) -> HTTPReply {
        .respond(status: status, headers: [("Content-Type", "application/json")], body: body)
    }
}

/// A small HTTP server on a loopback address, built directly on SwiftNIO so that it is fast
/// (the simulator must not be what a benchmark measures) and so that it can stop listening and
/// drop its connections on demand (the `down` fault). A connection speaks HTTP/1.1, or HTTP/2
/// when it opens with the HTTP/2 preface (prior knowledge, h2c), as nginx and geth's
/// front-ends can.
public final class LoopbackHTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPReply

    private struct State {
        var listener: Channel?
        var connections: [ObjectIdentifier: Channel] = [:]
        var accepted = 0
        var port: Int
    }

    public let host: String
    private let group: any EventLoopGroup
    private let handler: Handler
    private let state: Mutex<State>
    /// Largest request body accepted (geth's limit is 5 MiB).
    static let maxBodyBytes = 5 * 1024 * 1024

    public init(host: String = "127.0.0.1", port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, handler: @escaping Handler) {
        self.host = host
        self.group = group
        self.handler = handler
        self.state = Mutex(State(port: port))
    }

    /// The bound port (after `start`), or the requested one.
    public var port: Int { state.withLock { $0.port } }

    public var isListening: Bool { state.withLock { $0.listener != nil } }

    /// TCP connections accepted since it was made.
    public var connectionsAccepted: Int { state.withLock { $0.accepted } }

    /// Starts listening; on the port it had before when restarted. Returns the port.
    @discardableResult
    public func start() async throws -> Int {
        let port = state.withLock { $0.port }
        let handler = self.handler
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [weak self] channel in
                self?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProtocolSniffer(handler: handler))
                }
            }
            .bind(host: host, port: port)
            .get()
        let bound = listener.localAddress?.port ?? port
        state.withLock {
            $0.listener = listener
            $0.port = bound
        }
        return bound
    }

    /// Stops listening and closes every open connection; the port is kept for a restart.
    public func stop() async {
        let (listener, connections) = state.withLock { state -> (Channel?, [Channel]) in
            defer {
                state.listener = nil
                state.connections = [:]
            }
            return (state.listener, Array(state.connections.values))
        }
        try? await listener?.close()
        for connection in connections { try? await connection.close() }
    }

    private func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock {
            $0.connections[id] = channel
            $0.accepted += 1
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { _ = $0.connections.removeValue(forKey: id) }
        }
    }
}

/// Looks at a connection's first bytes: the HTTP/2 preface sets it up for HTTP/2 (each stream
/// turned into HTTP/1-style parts for `RequestHandler`), anything else for HTTP/1.1.
private final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0".utf8)
    private let handler: LoopbackHTTPServer.Handler
    private var buffered: ByteBuffer?

    init(handler: @escaping LoopbackHTTPServer.Handler) {
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var earlier = buffered {
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        let start = bytes.readableBytesView.prefix(Self.preface.count)
        let isPrefacePrefix = start.elementsEqual(Self.preface.prefix(start.count))
        if isPrefacePrefix && start.count < Self.preface.count {
            buffered = bytes
            return
        }
        let handler = self.handler
        do {
            let pipeline = context.pipeline.syncOperations
            if isPrefacePrefix {
                _ = try pipeline.configureHTTP2Pipeline(mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                        try stream.pipeline.syncOperations.addHandler(RequestHandler(handler: handler, http2: true))
                    }
                }
            } else {
                try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                try pipeline.addHandler(RequestHandler(handler: handler, http2: false))
            }
        } catch {
            return context.close(promise: nil)
        }
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Reads one request at a time (the pipeline's pipelining helper queues the next) and writes the reply.
private final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: LoopbackHTTPServer.Handler
    /// On an HTTP/2 stream: no `Connection` header, and closing ends only the stream.
    private let http2: Bool
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(handler: @escaping LoopbackHTTPServer.Handler, http2: Bool) {
        self.handler = handler
        self.http2 = http2
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case .body(let buffer):
            if body.count + buffer.readableBytes > LoopbackHTTPServer.maxBodyBytes {
                tooLarge = true
            } else {
                body.append(contentsOf: buffer.readableBytesView)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive || http2
            if tooLarge {
                write(.respond(status: .payloadTooLarge, body: "request body too large"), keepAlive: false, context: context)
                return
            }
            let request = HTTPRequest(method: head.method, path: head.uri, headers: head.headers, body: body, isHTTP2: http2)
            write(handler(request), keepAlive: keepAlive, context: context)
        }
    }

    private func write(_ reply: HTTPReply, keepAlive: Bool, context: ChannelHandlerContext) {
        switch reply {
        case .stall:
            return
        case .cutMidBody(let body, let reset):
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(String(body.prefix(body.count / 2)))
            var headers = HTTPHeaders([("Content-Type", "application/json")])
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer)))).whenComplete { _ in
                // Linger 0: close() sends RST instead of FIN.
                guard reset, let provider = channel as? any SocketOptionProvider else {
                    channel.close(promise: nil)
                    return
                }
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            }
        case .deferred(let work):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            Task {
                let reply = await work()
                eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.write(reply, keepAlive: keepAlive, context: context)
                }
            }
        case .respond(let status, let headers, let body, let delay):
            if delay > .zero {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: delay) {
                    let (handler, context) = bound.value
                    handler.send(status: status, headers: headers, body: body, keepAlive: keepAlive, context: context)
                }
            } else {
                send(status: status, headers: headers, body: body, keepAlive: keepAlive, context: context)
            }
        }
    }

    private func send(status: HTTPResponseStatus, headers: [(String, String)], body: String, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var responseHeaders = HTTPHeaders(headers)
        responseHeaders.replaceOrAdd(name: "Content-Length", value: String(buffer.readableBytes))
        if !keepAlive && !http2 { responseHeaders.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: responseHeaders))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlushPromise()
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

private extension ChannelHandlerContext {
    func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise() }
}
