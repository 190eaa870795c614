import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An upstream's HTTP answer.
public struct UpstreamHTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Sends JSON-RPC bodies to one upstream over pooled keep-alive HTTP/1.1 connections.
///
/// Each event loop of the group has its own pool of idle connections, touched only on
/// that loop, so the hot path takes no locks; a request is sent on the loop it is
/// submitted to. Connections are reused until the upstream closes them; a request that
/// fails on a reused connection before any answer arrived is retried once on a new one
/// (the upstream closed an idle connection under us).
public final class UpstreamTransport: Sendable {
    public struct Configuration: Sendable {
        /// Idle connections kept per event loop.
        public var maxIdleConnectionsPerLoop = 64
        public var connectTimeout: Duration = .seconds(3)
        /// Largest answer accepted (eth_getLogs can be large).
        public var maxResponseBytes = 64 * 1024 * 1024
        /// Extra request headers, e.g. `Authorization`.
        public var headers: [(String, String)] = []

        public init() {}
    }

    public let endpoint: UpstreamEndpoint
    private let group: any EventLoopGroup
    private let pools: [ObjectIdentifier: LoopPool]

    public init(url: String, configuration: Configuration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(UpstreamTransportError) {
        endpoint = try UpstreamEndpoint(url: url)
        self.group = group
        var sslContext: NIOSSLContext?
        if endpoint.isTLS {
            do { sslContext = try NIOSSLContext(configuration: .makeClientConfiguration()) } catch {
                throw UpstreamTransportError(.tls, "cannot create a TLS context: \(error)")
            }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.hostHeader)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: "bulwark/0.1")
        for (name, value) in configuration.headers { headers.replaceOrAdd(name: name, value: value) }
        var pools: [ObjectIdentifier: LoopPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = LoopPool(
                eventLoop: loop, endpoint: endpoint, sslContext: sslContext, headers: headers, configuration: configuration
            )
        }
        self.pools = pools
    }

    /// POSTs `body` and waits for the answer, at most `timeout` in all. Cancelling the
    /// calling task abandons the wait at once (a losing hedge); the connection finishes
    /// or times out on its own and is not reused unless it completed cleanly.
    public func post(_ body: ByteBuffer, timeout: Duration) async throws(UpstreamTransportError) -> UpstreamHTTPResponse {
        let loop = group.any()
        guard let pool = pools[ObjectIdentifier(loop)] else { throw UpstreamTransportError(.shutdown, "no pool for this event loop") }
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let deadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        let answer = loop.makePromise(of: UpstreamHTTPResponse.self)
        loop.execute { pool.execute(body, deadline: deadline, allowRetry: true).cascade(to: answer) }
        do {
            return try await withTaskCancellationHandler {
                try await answer.futureResult.get()
            } onCancel: {
                answer.fail(UpstreamTransportError(.cancelled, "abandoned: another attempt answered first"))
            }
        } catch let error as UpstreamTransportError {
            throw error
        } catch {
            throw UpstreamTransportError(.invalidResponse, "\(error)")
        }
    }

    /// Number of connections currently idle in the pools (for tests and status).
    public func idleConnectionCount() async -> Int {
        var total = 0
        for pool in pools.values {
            total += (try? await pool.eventLoop.submit { pool.idle.count }.get()) ?? 0
        }
        return total
    }

    /// Total connections opened so far (for tests and status).
    public func connectionsOpened() async -> Int {
        var total = 0
        for pool in pools.values {
            total += (try? await pool.eventLoop.submit { pool.opened }.get()) ?? 0
        }
        return total
    }

    /// Closes every idle connection; in-flight requests finish on theirs.
    public func shutdown() async {
        for pool in pools.values {
            try? await pool.eventLoop.flatSubmit { pool.closeIdle() }.get()
        }
    }
}

/// The idle connections of one event loop.
/// `@unchecked Sendable`: every mutable field is touched only on `eventLoop` (asserted).
private final class LoopPool: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let endpoint: UpstreamEndpoint
    private let sslContext: NIOSSLContext?
    private let headers: HTTPHeaders
    private let configuration: UpstreamTransport.Configuration
    var idle: [Channel] = []
    var opened = 0

    init(eventLoop: any EventLoop, endpoint: UpstreamEndpoint, sslContext: NIOSSLContext?, headers: HTTPHeaders,
         configuration: UpstreamTransport.Configuration) {
        self.eventLoop = eventLoop
        self.endpoint = endpoint
        self.sslContext = sslContext
        self.headers = headers
        self.configuration = configuration
    }

    func execute(_ body: ByteBuffer, deadline: NIODeadline, allowRetry: Bool) -> EventLoopFuture<UpstreamHTTPResponse> {
        eventLoop.assertInEventLoop()
        while let channel = idle.popLast() {
            guard channel.isActive else { continue }
            return send(body, on: channel, deadline: deadline).flatMapError { error in
                // The upstream may have closed this idle connection just as we reused it.
                if allowRetry, let failure = error as? UpstreamTransportError, failure.kind == .connectionClosed, NIODeadline.now() < deadline {
                    return self.execute(body, deadline: deadline, allowRetry: false)
                }
                return self.eventLoop.makeFailedFuture(error)
            }
        }
        return connect(deadline: deadline).flatMap { channel in
            self.send(body, on: channel, deadline: deadline)
        }
    }

    private func connect(deadline: NIODeadline) -> EventLoopFuture<Channel> {
        let endpoint = self.endpoint
        let sslContext = self.sslContext
        let maxResponseBytes = configuration.maxResponseBytes
        let timeout = min(
            TimeAmount.nanoseconds(configuration.connectTimeout.components.seconds * 1_000_000_000 + configuration.connectTimeout.components.attoseconds / 1_000_000_000),
            deadline - .now()
        )
        guard timeout > .zero else {
            return eventLoop.makeFailedFuture(UpstreamTransportError(.timeout, "no time left to connect"))
        }
        opened += 1
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: endpoint.host.contains(":") ? nil : endpoint.host)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(UpstreamResponseHandler(maxResponseBytes: maxResponseBytes))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMapErrorThrowing { error in
                throw Self.classifyConnectError(error)
            }
    }

    static func classifyConnectError(_ error: any Error) -> UpstreamTransportError {
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return UpstreamTransportError(.connectTimeout, "connect timed out")
        }
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") || text.contains("unreachable") {
            return UpstreamTransportError(.connectionRefused, "connection refused")
        }
        if error is NIOSSLError { return UpstreamTransportError(.tls, "TLS handshake failed") }
        return UpstreamTransportError(.connectionRefused, "cannot connect: \(type(of: error))")
    }

    private func send(_ body: ByteBuffer, on channel: Channel, deadline: NIODeadline) -> EventLoopFuture<UpstreamHTTPResponse> {
        let promise = eventLoop.makePromise(of: UpstreamHTTPResponse.self)
        let handler: UpstreamResponseHandler
        do { handler = try channel.pipeline.syncOperations.handler(type: UpstreamResponseHandler.self) } catch {
            channel.close(promise: nil)
            return eventLoop.makeFailedFuture(UpstreamTransportError(.connectionClosed, "connection is not usable"))
        }
        handler.begin(promise: promise, deadline: deadline, channel: channel)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: endpoint.path, headers: headers)
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let boundHandler = NIOLoopBound(handler, eventLoop: eventLoop)
        return promise.futureResult.map { response in
            if boundHandler.value.reusable && channel.isActive && self.idle.count < self.configuration.maxIdleConnectionsPerLoop {
                self.idle.append(channel)
            } else {
                channel.close(promise: nil)
            }
            return response
        }
    }

    func closeIdle() -> EventLoopFuture<Void> {
        let channels = idle
        idle = []
        let closes = channels.map { $0.close() }
        return EventLoopFuture.andAllComplete(closes, on: eventLoop)
    }
}

/// Collects one response at a time for the request in flight on its connection.
private final class UpstreamResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let maxResponseBytes: Int
    private var promise: EventLoopPromise<UpstreamHTTPResponse>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var timeout: Scheduled<Void>?
    /// Whether the connection may carry another request after this answer.
    private(set) var reusable = false

    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    func begin(promise: EventLoopPromise<UpstreamHTTPResponse>, deadline: NIODeadline, channel: Channel) {
        self.promise = promise
        head = nil
        body = nil
        reusable = false
        let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        timeout = channel.eventLoop.scheduleTask(deadline: deadline) {
            bound.value.fail(UpstreamTransportError(.timeout, "no answer before the deadline"))
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = context.channel.allocator.buffer(capacity: 0)
        case .body(var part):
            guard body != nil else { return }
            if body!.readableBytes + part.readableBytes > maxResponseBytes {
                fail(UpstreamTransportError(.responseTooLarge, "answer larger than \(maxResponseBytes) bytes"))
                context.close(promise: nil)
                return
            }
            body!.writeBuffer(&part)
        case .end:
            guard let head, let promise else { return }
            reusable = head.isKeepAlive
            timeout?.cancel()
            self.promise = nil
            promise.succeed(UpstreamHTTPResponse(status: Int(head.status.code), headers: head.headers, body: body ?? context.channel.allocator.buffer(capacity: 0)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(UpstreamTransportError(.connectionClosed, head == nil ? "connection closed before an answer" : "connection closed during the answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError {
            fail(UpstreamTransportError(.tls, "TLS error"))
        } else if error is HTTPParserError {
            fail(UpstreamTransportError(.invalidResponse, "not a valid HTTP response"))
        } else {
            fail(UpstreamTransportError(.connectionClosed, "connection error: \(type(of: error))"))
        }
        context.close(promise: nil)
    }

    private func fail(_ error: UpstreamTransportError) {
        timeout?.cancel()
        reusable = false
        guard let promise else { return }
        self.promise = nil
        promise.fail(error)
    }
}
