import HTTPWire
import NIOCore
import NIOHPACK
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

/// Sends JSON-RPC bodies to one upstream over pooled keep-alive HTTP/1.1 connections, or as
/// streams of one HTTP/2 connection per event loop (`http2`).
///
/// Each event loop of the group has its own pool of idle connections, touched only on
/// that loop, so the hot path takes no locks; a request is sent on the loop it is
/// submitted to. Connections are reused until the upstream closes them; a request that
/// fails on a reused connection before any answer arrived is retried once on a new one
/// (the upstream closed an idle connection under us).
///
/// With pipelining (`pipelineDepth` > 1) the requests sent during one turn of a loop share a
/// connection and go out in one write at the end of the turn; answers come back in order. An
/// answer that closes the connection, or a request that stalls past its deadline, sends the
/// requests waiting behind it again, alone on new connections, within their own deadlines.
public final class UpstreamTransport: Sendable {
    public struct Configuration: Sendable {
        /// Idle connections kept per event loop.
        public var maxIdleConnectionsPerLoop = 64
        /// Requests in flight on one connection (HTTP/1.1 pipelining); 1: one at a time.
        /// Requests sent during one turn of an event loop share a connection and one write.
        public var pipelineDepth = 1
        public var connectTimeout: Duration = .seconds(3)
        /// Largest answer accepted (eth_getLogs can be large).
        public var maxResponseBytes = 64 * 1024 * 1024
        /// Extra request headers, e.g. `Authorization`.
        public var headers: [(String, String)] = []
        /// HTTP/2 instead of HTTP/1.1: ALPN `h2` over TLS, prior knowledge (h2c) over plain TCP.
        /// Every request from one event loop is a stream of that loop's one connection.
        public var http2 = false

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
            var tls = TLSConfiguration.makeClientConfiguration()
            if configuration.http2 { tls.applicationProtocols = ["h2"] }
            do { sslContext = try NIOSSLContext(configuration: tls) } catch {
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
        await readPools(otherwise: 0) { $0.idleCount }.reduce(0, +)
    }

    /// Total connections opened so far (for tests and status).
    public func connectionsOpened() async -> Int {
        await readPools(otherwise: 0) { $0.opened }.reduce(0, +)
    }

    /// Requests in flight per connection on each event loop (below the configured depth where the
    /// upstream turned out not to keep connections open for pipelined requests).
    public func pipelineDepths() async -> [Int] {
        await readPools(otherwise: 0) { $0.pipelineDepth }
    }

    /// `read` of each loop's pool, on its loop (`otherwise` for a loop that has shut down).
    private func readPools<Value: Sendable>(otherwise: Value, _ read: @escaping @Sendable (LoopPool) -> Value) async -> [Value] {
        var values: [Value] = []
        for pool in pools.values {
            values.append((try? await pool.eventLoop.submit { read(pool) }.get()) ?? otherwise)
        }
        return values
    }

    /// Closes every idle connection; in-flight requests finish on theirs.
    public func shutdown() async {
        for pool in pools.values {
            try? await pool.eventLoop.flatSubmit { pool.closeIdle() }.get()
        }
    }
}

/// The connections of one event loop.
/// `@unchecked Sendable`: every mutable field is touched only on `eventLoop` (asserted).
final class LoopPool: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let endpoint: UpstreamEndpoint
    private let sslContext: NIOSSLContext?
    /// The request line and headers every request to this upstream starts with, up to `Content-Length: `.
    private let requestPrefix: ByteBuffer
    private let configuration: UpstreamTransport.Configuration
    /// Connections with nothing in flight.
    private var idle: [UpstreamConnection] = []
    var idleCount: Int { idle.count }
    var opened = 0
    /// Pipelining: the connection taking the requests sent during this turn of the event loop,
    /// and the connections written to and not flushed yet. One flush at the end of the turn
    /// sends each connection's requests in one write (and the upstream answers them in few).
    private var collecting: UpstreamConnection?
    private var unflushed: [UpstreamConnection] = []
    private var turnEndScheduled = false
    /// Requests in flight per connection: the configured depth, or 1 once the upstream has
    /// closed `closesBeforeFallback` connections in a row at their first answer with requests
    /// waiting behind it (it does not keep connections open; each such close costs resends). An
    /// upstream that closes a connection after many answers (nginx's `keepalive_requests`) is
    /// only rotating it.
    private(set) var pipelineDepth: Int
    private var closesAtFirstAnswer = 0
    static let closesBeforeFallback = 3
    /// Connections waiting for answers, and one timer at the earliest deadline among them. A
    /// request's deadline is almost always later than the one armed, so no timer is scheduled or
    /// cancelled per request, and an idle loop is not woken to find nothing late (a repeating
    /// check cost a wake-up per call at low rates).
    private var waiting: [UpstreamConnection] = []
    private var deadlineCheck: Scheduled<Void>?
    private var deadlineCheckAt = NIODeadline.distantFuture
    /// With `http2`: this loop's connection, carrying every request as a stream.
    private var http2: HTTP2Connection?
    private let http2Headers: HPACKHeaders

    /// A request on its way: what is needed to answer it, or to send it again.
    struct Request {
        let body: ByteBuffer
        let deadline: NIODeadline
        /// Retried once on a new connection if its (reused) connection turns out closed.
        let retry: Bool
        let then: UpstreamTransport.Completion

        /// This request on a connection opened for it: not retried again.
        var onNewConnection: Request { Request(body: body, deadline: deadline, retry: false, then: then) }
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
        http2Headers = HTTP2Connection.requestHeaders(endpoint: endpoint, headers: headers)
        self.configuration = configuration
        pipelineDepth = max(1, configuration.pipelineDepth)
    }

    /// The upstream closed a connection with pipelined requests waiting behind its `answers`th answer.
    func closedUnderPipeline(answers: Int) {
        closesAtFirstAnswer = answers <= 1 ? closesAtFirstAnswer + 1 : 0
        if closesAtFirstAnswer >= Self.closesBeforeFallback { pipelineDepth = 1 }
    }

    /// Sends on a pooled connection, or a new one; `then` runs once, on this loop.
    func execute(_ body: ByteBuffer, deadline: NIODeadline, allowRetry: Bool, then: @escaping UpstreamTransport.Completion) {
        eventLoop.assertInEventLoop()
        // A reused connection the upstream closed just as it was taken is retried once on a new one.
        let request = Request(body: body, deadline: deadline, retry: allowRetry, then: then)
        if configuration.http2 { return sendOverHTTP2(request) }
        if let connection = collecting {
            if connection.accepting && connection.inFlight < pipelineDepth {
                guard connection.isOpen else {
                    let fresh = request.onNewConnection
                    enqueue(fresh, on: connection)
                    return append(fresh, to: &connection.outgoing)
                }
                return send(request, on: connection)
            }
            collecting = nil
        }
        while let connection = idle.popLast() {
            guard connection.accepting else { continue }
            if pipelineDepth > 1 { collect(on: connection) }
            return send(request, on: connection)
        }
        // While it is being opened, a new connection takes this turn's next requests too.
        sendOnNewConnection(request.onNewConnection, collecting: pipelineDepth > 1)
    }

    /// A stream on this loop's HTTP/2 connection, opened first when there is none taking streams.
    private func sendOverHTTP2(_ request: Request) {
        if let connection = http2, connection.accepting { return connection.send(request) }
        guard let timeout = connectTimeout(before: request.deadline) else {
            return request.then(.failure(UpstreamTransportError(.timeout, "no time left to connect")))
        }
        let connection = HTTP2Connection(eventLoop: eventLoop, pool: self, requestHeaders: http2Headers,
                                         maxResponseBytes: configuration.maxResponseBytes)
        http2 = connection
        connection.send(request)
        let bound = NIOLoopBound(connection, eventLoop: eventLoop)
        let overTLS = sslContext != nil
        openChannel(timeout: timeout) { channel in try bound.value.configure(channel) }
            .whenComplete { bound.value.connected($0.map { _ in () }, overTLS: overTLS) }
    }

    /// A stream ended. One that failed before the upstream answered anything, on a connection
    /// that went away (closed, GOAWAY, reset), goes once more on a new connection while time is left.
    func http2Finished(_ request: Request, _ result: Result<UpstreamHTTPResponse, UpstreamTransportError>, on connection: HTTP2Connection,
                       answered: Bool) {
        if request.retry, !answered, case .failure(let failure) = result, failure.kind == .connectionClosed, NIODeadline.now() < request.deadline {
            return sendOverHTTP2(request.onNewConnection)
        }
        request.then(result)
    }

    /// `connection` takes no more streams: the next request opens a new one.
    func http2GoingAway(_ connection: HTTP2Connection) {
        if http2 === connection { http2 = nil }
    }

    private func sendOnNewConnection(_ request: Request, collecting: Bool) {
        let connection = UpstreamConnection(maxResponseBytes: configuration.maxResponseBytes)
        if collecting { collect(on: connection) }
        enqueue(request, on: connection)
        append(request, to: &connection.outgoing)
        connect(connection, deadline: request.deadline)
    }

    /// `connection` takes the requests sent until the end of this turn of the loop.
    private func collect(on connection: UpstreamConnection) {
        if !turnEndScheduled {
            turnEndScheduled = true
            eventLoop.execute { self.endTurn() }
        }
        collecting = connection
    }

    /// End of the loop's turn: every open connection written to sends what it was given.
    private func endTurn() {
        for connection in unflushed {
            connection.awaitingFlush = false
            connection.sendOutgoing()
        }
        unflushed.removeAll(keepingCapacity: true)
        collecting = nil
        turnEndScheduled = false
    }

    private func enqueue(_ request: Request, on connection: UpstreamConnection) {
        if connection.inFlight == 0 { track(connection) }
        connection.enqueue(request, pool: self)
        checkDeadlines(at: request.deadline)
    }

    /// Adds `request` to `connection`'s outgoing bytes, sent at once, or at the end of the turn
    /// when the connection is collecting this turn's requests (one write for all of them).
    private func send(_ request: Request, on connection: UpstreamConnection) {
        enqueue(request, on: connection)
        append(request, to: &connection.outgoing)
        if connection === collecting {
            if !connection.awaitingFlush {
                connection.awaitingFlush = true
                unflushed.append(connection)
            }
        } else {
            connection.sendOutgoing()
        }
    }

    private func append(_ request: Request, to bytes: inout ByteBuffer) {
        bytes.reserveCapacity(minimumWritableBytes: requestPrefix.readableBytes + 24 + request.body.readableBytes)
        bytes.writeImmutableBuffer(requestPrefix)
        bytes.writeDecimalDigits(request.body.readableBytes)
        bytes.writeStaticString("\r\n\r\n")
        bytes.writeImmutableBuffer(request.body)
    }

    /// Opens `connection`'s channel and writes the requests it took meanwhile; they fail with
    /// the reason when it cannot be opened.
    private func connect(_ connection: UpstreamConnection, deadline: NIODeadline) {
        guard let timeout = connectTimeout(before: deadline) else {
            return connection.failAll { _ in UpstreamTransportError(.timeout, "no time left to connect") }
        }
        let handler = NIOLoopBound(connection, eventLoop: eventLoop)
        openChannel(timeout: timeout) { channel in try channel.pipeline.syncOperations.addHandler(handler.value) }
            .whenComplete { connected in
                let connection = handler.value
                switch connected {
                case .success:
                    // Gave up on meanwhile (every request it took timed out).
                    guard connection.accepting, connection.inFlight > 0 else { return connection.close() }
                    connection.isOpen = true
                    connection.sendOutgoing()
                case .failure(let error):
                    let failure = Self.classifyConnectError(error)
                    connection.failAll { _ in failure }
                }
            }
    }

    /// How long a new connection may take to open for a request due by `deadline`; nil: no time left.
    private func connectTimeout(before deadline: NIODeadline) -> TimeAmount? {
        let timeout = min(TimeAmount(configuration.connectTimeout), deadline - .now())
        return timeout > .zero ? timeout : nil
    }

    /// Opens a channel to the upstream from this loop (no Nagle; TLS first for https), with the
    /// protocol's handlers added by `configure` behind it.
    private func openChannel(timeout: TimeAmount, configure: @escaping @Sendable (Channel) throws -> Void) -> EventLoopFuture<Channel> {
        opened += 1
        let endpoint = self.endpoint
        let sslContext = self.sslContext
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: endpoint.host.contains(":") ? nil : endpoint.host)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try configure(channel)
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
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

    /// `connection` has nothing in flight any more: back to the idle list while it can take
    /// requests, else closed.
    fileprivate func drained(_ connection: UpstreamConnection) {
        untrack(connection)
        if connection === collecting { collecting = nil }
        if connection.accepting && idle.count < configuration.maxIdleConnectionsPerLoop {
            idle.append(connection)
        } else {
            connection.close()
        }
    }

    /// A request that was waiting behind one that failed goes once more, alone on a new
    /// connection, while time is left.
    func resend(_ request: Request) {
        guard NIODeadline.now() < request.deadline else {
            return request.then(.failure(UpstreamTransportError(.timeout, "no answer before the deadline")))
        }
        sendOnNewConnection(request.onNewConnection, collecting: false)
    }

    /// A request ended: the answer goes to the sender, or the request is sent once more on a new
    /// connection when its connection closed under it and time is left.
    func finished(_ request: Request, _ result: Result<UpstreamHTTPResponse, UpstreamTransportError>) {
        if request.retry, case .failure(let failure) = result, failure.kind == .connectionClosed, NIODeadline.now() < request.deadline {
            return sendOnNewConnection(request.onNewConnection, collecting: false)
        }
        request.then(result)
    }

    private func track(_ connection: UpstreamConnection) {
        connection.waitingIndex = waiting.count
        waiting.append(connection)
    }

    /// Makes sure the deadlines are checked by `deadline`.
    private func checkDeadlines(at deadline: NIODeadline) {
        guard deadline < deadlineCheckAt else { return }
        deadlineCheck?.cancel()
        deadlineCheckAt = deadline
        deadlineCheck = eventLoop.scheduleTask(deadline: deadline) { self.timeOutLateRequests() }
    }

    private func untrack(_ connection: UpstreamConnection) {
        guard let index = connection.waitingIndex else { return }
        connection.waitingIndex = nil
        let last = waiting.removeLast()
        if index < waiting.count {
            waiting[index] = last
            last.waitingIndex = index
        }
    }

    /// Times out the requests past their deadline, then waits for the next deadline of those still waiting.
    private func timeOutLateRequests() {
        deadlineCheck = nil
        deadlineCheckAt = .distantFuture
        let now = NIODeadline.now()
        for connection in waiting.filter({ $0.deadline <= now }) { connection.timeOut(now: now) }
        if let next = waiting.lazy.map(\.deadline).min() { checkDeadlines(at: next) }
    }

    func closeIdle() -> EventLoopFuture<Void> {
        // (One the upstream closed while idle is out of its pipeline already.)
        let channels = idle.compactMap(\.channel)
        idle = []
        if let http2, http2.inFlight == 0 {
            http2.close()
            self.http2 = nil
        }
        let closes = channels.map { $0.close() }
        return EventLoopFuture.andAllComplete(closes, on: eventLoop)
    }
}

/// One connection to the upstream and the requests in flight on it, answered in the order
/// they were written (HTTP/1.1; more than one only when pipelining).
private final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let maxResponseBytes: Int
    /// Its place in the pipeline, while it is in it.
    private var context: ChannelHandlerContext?
    /// Its channel, while it is in the channel's pipeline.
    var channel: Channel? { context?.channel }
    /// The pool, held while requests are in flight (an idle connection does not keep it alive).
    private var pool: LoopPool?
    /// Answers read so far.
    private var answers = 0
    /// Requests taken and not answered yet, oldest first.
    private var requests = CircularBuffer<LoopPool.Request>(initialCapacity: 1)
    var inFlight: Int { requests.count }
    /// Connected, and the requests taken while connecting written.
    var isOpen = false
    /// Written to during this turn of the loop and not flushed yet.
    var awaitingFlush = false
    /// Requests written and not sent yet; the buffer is reused from one write to the next.
    var outgoing = ByteBuffer()
    private var parser = HTTP1Parser(kind: .response, maxHeadBytes: 65_536)
    private var head: HTTP1Parser.ResponseHead?
    private var body: ByteBuffer?
    /// The earliest deadline of the requests in flight (checked by the pool's timer).
    private(set) var deadline = NIODeadline.distantFuture
    /// Its place in the pool's list of connections waiting for answers.
    var waitingIndex: Int?
    /// Whether the connection may carry more requests: open, and every answer so far framed
    /// as expected and keeping the connection alive.
    private(set) var accepting = true

    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// A request about to be written: its answer is the one after those already awaited.
    func enqueue(_ request: LoopPool.Request, pool: LoopPool) {
        self.pool = pool
        requests.append(request)
        deadline = min(deadline, request.deadline)
    }

    /// Sends the outgoing bytes in one write.
    func sendOutgoing() {
        // From this handler's place in the pipeline (after TLS, if any), not from its tail.
        context?.writeAndFlush(NIOAny(outgoing), promise: nil)
        // Written at once in the common case, so the storage is ours again; a large one is not kept.
        if outgoing.capacity > 65_536 { outgoing = ByteBuffer() } else { outgoing.clear() }
    }

    func close() {
        accepting = false
        channel?.close(promise: nil)
    }

    /// A deadline passed: the requests past theirs fail with a timeout, the others (waiting
    /// behind them) are sent again on a new connection; this one is closed (answers may still be on their way).
    func timeOut(now: NIODeadline) {
        failAll { $0.deadline <= now ? UpstreamTransportError(.timeout, "no answer before the deadline") : nil }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !requests.isEmpty else {
            // Bytes nobody asked for: the connection cannot be trusted with another request.
            accepting = false
            return context.close(promise: nil)
        }
        parser.append(unwrapInboundIn(data))
        while !requests.isEmpty {
            let event: HTTP1Parser.Event?
            do { event = try parser.next() } catch {
                let failure = UpstreamTransportError(.invalidResponse, "not a valid HTTP response: \(error.description)")
                return failAll { _ in failure }
            }
            guard let event else { return }
            handle(event)
        }
    }

    private func handle(_ event: HTTP1Parser.Event) {
        switch event {
        case .response(let head):
            self.head = head
        case .body(var part):
            guard head != nil else { return }
            if (body?.readableBytes ?? 0) + part.readableBytes > maxResponseBytes {
                let failure = UpstreamTransportError(.responseTooLarge, "answer larger than \(maxResponseBytes) bytes")
                return failAll { _ in failure }
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard let head else { return }
            // Bytes beyond the last awaited answer: the upstream and this gateway disagree on the framing.
            if !head.keepAlive || (requests.count == 1 && parser.bufferedBytes > 0) { accepting = false }
            let answer = UpstreamHTTPResponse(status: head.status, headers: head.headers, body: body ?? ByteBuffer())
            self.head = nil
            body = nil
            answered(.success(answer))
        case .request:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        accepting = false
        // An answer without a length ends with the connection.
        if let end = parser.connectionClosed() { handle(end) }
        let failure = UpstreamTransportError(.connectionClosed, head == nil ? "connection closed before an answer" : "connection closed during the answer")
        failAll { _ in failure }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = error is NIOSSLError
            ? UpstreamTransportError(.tls, "TLS error")
            : UpstreamTransportError(.connectionClosed, "connection error: \(type(of: error))")
        failAll { _ in failure }
    }

    /// The oldest request is answered. The connection goes back to the pool (or is closed)
    /// before the sender hears, so a request sent from its callback can reuse it.
    private func answered(_ result: Result<UpstreamHTTPResponse, UpstreamTransportError>) {
        guard let pool else { return }
        answers += 1
        let request = requests.removeFirst()
        if requests.isEmpty {
            deadline = .distantFuture
            self.pool = nil
            pool.drained(self)
        } else {
            deadline = requests.reduce(NIODeadline.distantFuture) { min($0, $1.deadline) }
            if !accepting {
                // The upstream closes after this answer: those behind it go again on a new connection.
                pool.closedUnderPipeline(answers: answers)
                pool.finished(request, result)
                return failAll { _ in nil }
            }
        }
        pool.finished(request, result)
    }

    /// The connection cannot go on: it is closed and every request in flight fails with the
    /// error `failure` gives it, or is sent again on a new connection when it gives none (a
    /// request that was only waiting behind the one that failed).
    func failAll(_ failure: (LoopPool.Request) -> UpstreamTransportError?) {
        accepting = false
        guard let pool, !requests.isEmpty else { return close() }
        let failed = requests
        requests.removeAll()
        deadline = .distantFuture
        head = nil
        body = nil
        self.pool = nil
        pool.drained(self)
        for request in failed {
            if let error = failure(request) {
                pool.finished(request, .failure(error))
            } else {
                pool.resend(request)
            }
        }
    }
}
