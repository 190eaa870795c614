import HTTPWire
import NIOCore
import NIOPosix
import NIOSSL

/// An upstream's HTTP answer.
public struct UpstreamHTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaderLines
    public var body: ByteBuffer

    public init(status: Int, headers: HTTPHeaderLines = .init(), body: ByteBuffer) {
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
    /// The event loops its connections live on.
    public let group: any EventLoopGroup
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
        var headers = [("Host", endpoint.hostHeader), ("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", "bulwark/0.1")]
        for (name, value) in configuration.headers {
            headers.removeAll { $0.0.lowercased() == name.lowercased() }
            headers.append((name, value))
        }
        var pools: [ObjectIdentifier: LoopPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = LoopPool(
                eventLoop: loop, endpoint: endpoint, sslContext: sslContext, headers: headers, configuration: configuration
            )
        }
        self.pools = pools
    }

    /// How a request ended, handed to the sender on the loop it was sent on.
    public typealias Completion = @Sendable (Result<UpstreamHTTPResponse, UpstreamTransportError>) -> Void

    /// POSTs `body` and waits for the answer, at most `timeout` in all. Cancelling the
    /// calling task abandons the wait at once (a losing hedge); the connection finishes
    /// or times out on its own and is not reused unless it completed cleanly.
    public func post(_ body: ByteBuffer, timeout: Duration) async throws(UpstreamTransportError) -> UpstreamHTTPResponse {
        let answer = group.any().makePromise(of: UpstreamHTTPResponse.self)
        send(body, timeout: timeout) { answer.completeWith($0.mapError { $0 }) }
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

    /// POSTs `body` on the calling thread's event loop (any loop when called from elsewhere)
    /// and hands the answer to `then` on that loop: a failure after `timeout` at the latest.
    /// No future, no promise: the forwarding path pays for one callback per request.
    public func send(_ body: ByteBuffer, timeout: Duration, then: @escaping Completion) {
        let loop = group.any()
        guard let pool = pools[ObjectIdentifier(loop)] else {
            return then(.failure(UpstreamTransportError(.shutdown, "no pool for this event loop")))
        }
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        if loop.inEventLoop { return pool.execute(body, deadline: deadline, allowRetry: true, then: then) }
        loop.execute { pool.execute(body, deadline: deadline, allowRetry: true, then: then) }
    }

    /// Number of connections currently idle in the pools (for tests and status).
    public func idleConnectionCount() async -> Int {
        var total = 0
        for pool in pools.values {
            total += (try? await pool.eventLoop.submit { pool.idleCount }.get()) ?? 0
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
    /// The request line and headers every request to this upstream starts with, up to `Content-Length: `.
    private let requestPrefix: ByteBuffer
    private let configuration: UpstreamTransport.Configuration
    /// Idle connections with their response handlers (no pipeline lookup per request).
    private var idle: [(channel: Channel, handler: UpstreamResponseHandler)] = []
    var idleCount: Int { idle.count }
    var opened = 0
    /// Requests waiting for their answer. Their deadlines are checked every `sweepInterval` by
    /// one repeating task while any is waiting, instead of a timer scheduled and cancelled per request.
    private var waiting: [UpstreamResponseHandler] = []
    private var sweeper: RepeatedTask?
    static let sweepInterval = TimeAmount.milliseconds(10)

    /// A request on its way: what is needed to answer it, or to send it again.
    struct Request {
        let body: ByteBuffer
        let deadline: NIODeadline
        /// Retried once on a new connection if its (reused) connection turns out closed.
        let retry: Bool
        let then: UpstreamTransport.Completion
    }

    init(eventLoop: any EventLoop, endpoint: UpstreamEndpoint, sslContext: NIOSSLContext?, headers: [(String, String)],
         configuration: UpstreamTransport.Configuration) {
        self.eventLoop = eventLoop
        self.endpoint = endpoint
        self.sslContext = sslContext
        var prefix = ByteBuffer(string: "POST \(endpoint.path) HTTP/1.1\r\n")
        for (name, value) in headers { prefix.writeString("\(name): \(value)\r\n") }
        prefix.writeString("Content-Length: ")
        requestPrefix = prefix
        self.configuration = configuration
    }

    /// Sends on an idle connection, or a new one; `then` runs once, on this loop.
    func execute(_ body: ByteBuffer, deadline: NIODeadline, allowRetry: Bool, then: @escaping UpstreamTransport.Completion) {
        eventLoop.assertInEventLoop()
        while let (channel, handler) = idle.popLast() {
            guard channel.isActive else { continue }
            // A reused connection the upstream closed just as it was taken is retried once on a new one.
            return send(Request(body: body, deadline: deadline, retry: allowRetry, then: then), on: channel, handler: handler)
        }
        connect(body, deadline: deadline, then: then)
    }

    private func connect(_ body: ByteBuffer, deadline: NIODeadline, then: @escaping UpstreamTransport.Completion) {
        connect(deadline: deadline).whenComplete { connected in
            switch connected {
            case .success(let channel):
                guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamResponseHandler.self) else {
                    channel.close(promise: nil)
                    return then(.failure(UpstreamTransportError(.connectionClosed, "connection is not usable")))
                }
                self.send(Request(body: body, deadline: deadline, retry: false, then: then), on: channel, handler: handler)
            case .failure(let error):
                then(.failure(error as? UpstreamTransportError ?? UpstreamTransportError(.connectionRefused, "cannot connect: \(type(of: error))")))
            }
        }
    }

    private func connect(deadline: NIODeadline) -> EventLoopFuture<Channel> {
        let endpoint = self.endpoint
        let sslContext = self.sslContext
        let maxResponseBytes = configuration.maxResponseBytes
        let timeout = min(
            TimeAmount(configuration.connectTimeout),
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

    private func send(_ request: Request, on channel: Channel, handler: UpstreamResponseHandler) {
        track(handler)
        handler.begin(request, channel: channel, pool: self)
        var bytes = channel.allocator.buffer(capacity: requestPrefix.readableBytes + 24 + request.body.readableBytes)
        bytes.writeImmutableBuffer(requestPrefix)
        bytes.writeDecimalDigits(request.body.readableBytes)
        bytes.writeStaticString("\r\n\r\n")
        bytes.writeImmutableBuffer(request.body)
        channel.writeAndFlush(bytes, promise: nil)
    }

    /// The request on `handler`'s connection ended: the connection goes back to the idle list
    /// (or is closed), and the answer to the sender (or the request is retried once).
    func finished(_ request: Request, _ result: Result<UpstreamHTTPResponse, UpstreamTransportError>,
                  handler: UpstreamResponseHandler, channel: Channel) {
        untrack(handler)
        if handler.reusable && channel.isActive && idle.count < configuration.maxIdleConnectionsPerLoop {
            idle.append((channel, handler))
        } else {
            channel.close(promise: nil)
        }
        if request.retry, case .failure(let failure) = result, failure.kind == .connectionClosed, NIODeadline.now() < request.deadline {
            return connect(request.body, deadline: request.deadline, then: request.then)
        }
        request.then(result)
    }

    private func track(_ handler: UpstreamResponseHandler) {
        handler.waitingIndex = waiting.count
        waiting.append(handler)
        guard sweeper == nil else { return }
        sweeper = eventLoop.scheduleRepeatedTask(initialDelay: Self.sweepInterval, delay: Self.sweepInterval) { _ in self.sweep() }
    }

    private func untrack(_ handler: UpstreamResponseHandler) {
        guard let index = handler.waitingIndex else { return }
        handler.waitingIndex = nil
        let last = waiting.removeLast()
        if index < waiting.count {
            waiting[index] = last
            last.waitingIndex = index
        }
    }

    /// Times out the requests past their deadline; stops when none is waiting.
    private func sweep() {
        guard !waiting.isEmpty else {
            sweeper?.cancel()
            sweeper = nil
            return
        }
        let now = NIODeadline.now()
        for handler in waiting.filter({ $0.deadline <= now }) { handler.timeOut() }
    }

    func closeIdle() -> EventLoopFuture<Void> {
        let channels = idle.map(\.channel)
        idle = []
        let closes = channels.map { $0.close() }
        return EventLoopFuture.andAllComplete(closes, on: eventLoop)
    }
}

/// Reads the answer to the request in flight on its connection (one at a time).
private final class UpstreamResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let maxResponseBytes: Int
    /// The request in flight and the pool it goes back to.
    private var request: LoopPool.Request?
    private var pool: LoopPool?
    private var parser = HTTP1Parser(kind: .response, maxHeadBytes: 65_536)
    private var head: HTTP1Parser.ResponseHead?
    private var body: ByteBuffer?
    private var channel: Channel?
    /// When the answer must have arrived (checked by the pool's sweep).
    private(set) var deadline = NIODeadline.distantFuture
    /// Its place in the pool's list of requests waiting for an answer.
    var waitingIndex: Int?
    /// Whether the connection may carry another request after this answer.
    private(set) var reusable = false

    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    /// Starts waiting for the answer of a request about to be written; `pool.finished` is told once.
    func begin(_ request: LoopPool.Request, channel: Channel, pool: LoopPool) {
        self.request = request
        self.pool = pool
        deadline = request.deadline
        self.channel = channel
        head = nil
        body = nil
        reusable = false
    }

    /// The deadline passed: the request fails and its connection is closed (an answer may still be on its way).
    func timeOut() {
        let channel = self.channel
        fail(UpstreamTransportError(.timeout, "no answer before the deadline"))
        channel?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard request != nil else {
            // Bytes nobody asked for: the connection cannot be trusted with another request.
            return context.close(promise: nil)
        }
        parser.append(unwrapInboundIn(data))
        while request != nil {
            let event: HTTP1Parser.Event?
            do { event = try parser.next() } catch {
                fail(UpstreamTransportError(.invalidResponse, "not a valid HTTP response: \(error.description)"))
                return context.close(promise: nil)
            }
            guard let event else { return }
            if !handle(event, context: context) { return context.close(promise: nil) }
        }
    }

    /// False when the connection must be closed.
    private func handle(_ event: HTTP1Parser.Event, context: ChannelHandlerContext) -> Bool {
        switch event {
        case .response(let head):
            self.head = head
        case .body(var part):
            guard head != nil else { return true }
            if (body?.readableBytes ?? 0) + part.readableBytes > maxResponseBytes {
                fail(UpstreamTransportError(.responseTooLarge, "answer larger than \(maxResponseBytes) bytes"))
                return false
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard let head, request != nil else { return true }
            // Bytes beyond the answer: the upstream and this gateway disagree on the framing.
            reusable = head.keepAlive && parser.bufferedBytes == 0
            complete(.success(UpstreamHTTPResponse(status: head.status, headers: head.headers, body: body ?? ByteBuffer())))
        case .request:
            break
        }
        return true
    }

    func channelInactive(context: ChannelHandlerContext) {
        // An answer without a length ends with the connection.
        if let end = parser.connectionClosed() { _ = handle(end, context: context) }
        fail(UpstreamTransportError(.connectionClosed, head == nil ? "connection closed before an answer" : "connection closed during the answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError {
            fail(UpstreamTransportError(.tls, "TLS error"))
        } else {
            fail(UpstreamTransportError(.connectionClosed, "connection error: \(type(of: error))"))
        }
        context.close(promise: nil)
    }

    private func fail(_ error: UpstreamTransportError) {
        reusable = false
        complete(.failure(error))
    }

    private func complete(_ result: Result<UpstreamHTTPResponse, UpstreamTransportError>) {
        guard let request, let pool, let channel else { return }
        self.request = nil
        self.pool = nil
        self.channel = nil
        pool.finished(request, result, handler: self, channel: channel)
    }
}
