import HTTPWire
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import NIOTLS

/// One HTTP/2 connection of a loop's pool: every request to the upstream from this loop is a
/// stream on it, so calls in flight share one TCP (and TLS) connection without waiting on each
/// other, as providers behind HTTP/2 load balancers expect. Requests taken while it connects go
/// out as streams once it is open. The upstream's `SETTINGS_MAX_CONCURRENT_STREAMS` is kept by
/// NIOHTTP2, which holds back streams beyond it until others finish.
///
/// Over TLS it offers only `h2` by ALPN and fails when the upstream does not pick it; over
/// plain TCP it speaks HTTP/2 by prior knowledge (h2c).
///
/// `@unchecked Sendable`: every mutable field is touched only on `eventLoop` (asserted).
final class HTTP2Connection: @unchecked Sendable {
    private enum State {
        case connecting(waiting: [LoopPool.Request])
        case open(NIOHTTP2Handler.StreamMultiplexer)
        case closed
    }

    let eventLoop: any EventLoop
    private var state: State = .connecting(waiting: [])
    /// Set up by `configure`; the streams are opened on it once the connection is open.
    private var channel: Channel?
    private var multiplexer: NIOHTTP2Handler.StreamMultiplexer?
    /// Streams opened and not finished.
    private(set) var inFlight = 0
    /// Takes new streams: not closed, and no GOAWAY from the upstream.
    private(set) var accepting = true
    private let requestHeaders: HPACKHeaders
    private let maxResponseBytes: Int
    private weak var pool: LoopPool?

    init(eventLoop: any EventLoop, pool: LoopPool, requestHeaders: HPACKHeaders, maxResponseBytes: Int) {
        self.eventLoop = eventLoop
        self.pool = pool
        self.requestHeaders = requestHeaders
        self.maxResponseBytes = maxResponseBytes
    }

    /// The request headers of every stream: pseudo-headers first, then the configured ones
    /// lowercased, without those HTTP/2 forbids (`Host` becomes `:authority`).
    static func requestHeaders(endpoint: UpstreamEndpoint, headers: [(String, String)]) -> HPACKHeaders {
        var fields: [(String, String)] = [
            (":method", "POST"), (":scheme", endpoint.isTLS ? "https" : "http"), (":path", endpoint.path),
        ]
        let authority = headers.last { $0.0.lowercased() == "host" }?.1 ?? endpoint.hostHeader
        fields.append((":authority", authority))
        let connectionSpecific: Set<String> = ["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length"]
        for (name, value) in headers where !connectionSpecific.contains(name.lowercased()) {
            fields.append((name.lowercased(), value))
        }
        return HPACKHeaders(fields)
    }

    /// Sends `request` as a stream now, or once the connection is open.
    func send(_ request: LoopPool.Request) {
        eventLoop.assertInEventLoop()
        inFlight += 1
        switch state {
        case .connecting(var waiting):
            waiting.append(request)
            state = .connecting(waiting: waiting)
        case .open(let multiplexer):
            open(request, on: multiplexer)
        case .closed:
            inFlight -= 1
            pool?.http2Finished(request, .failure(UpstreamTransportError(.connectionClosed, "connection closed before the request was sent")),
                                on: self, answered: false)
        }
    }

    private func open(_ request: LoopPool.Request, on multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        let call = HTTP2Call(request: request, connection: self, headers: requestHeaders, maxResponseBytes: maxResponseBytes, eventLoop: eventLoop)
        let stream = NIOLoopBound(call, eventLoop: eventLoop)
        let created = eventLoop.makePromise(of: Channel.self)
        created.futureResult.whenFailure { error in
            stream.value.streamNotOpened(UpstreamTransportError(.connectionClosed, "no HTTP/2 stream could be opened: \(type(of: error))"))
        }
        multiplexer.createStreamChannel(promise: created) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(stream.value) }
        }
    }

    /// A stream ended with `result` (`answered`: the upstream sent at least the head of an answer).
    func finished(_ request: LoopPool.Request, _ result: Result<UpstreamHTTPResponse, UpstreamTransportError>, answered: Bool) {
        inFlight -= 1
        pool?.http2Finished(request, result, on: self, answered: answered)
    }

    /// Sets up HTTP/2 on `channel` (behind TLS, if any), as it is being opened.
    func configure(_ channel: Channel) throws {
        multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
        ) { inbound in inbound.close() }  // an upstream does not open streams of its own
        try channel.pipeline.syncOperations.addHandler(HTTP2ConnectionWatcher(connection: self))
        self.channel = channel
    }

    /// The channel opened, or could not be. Over TLS the streams go out once ALPN picked h2 (`tlsAgreed`).
    func connected(_ result: Result<Void, any Error>, overTLS: Bool) {
        switch result {
        case .success: if !overTLS { opened() }
        case .failure(let error): fail(LoopPool.classifyConnectError(error))
        }
    }

    /// Connected (and, over TLS, HTTP/2 agreed): the waiting requests go out.
    func opened() {
        guard case .connecting(let waiting) = state, let multiplexer else { return }
        state = .open(multiplexer)
        for request in waiting { open(request, on: multiplexer) }
    }

    /// The TLS handshake ended with `negotiated` as the application protocol.
    func tlsAgreed(on negotiated: String?) {
        guard negotiated == "h2" else {
            return fail(UpstreamTransportError(.tls, "the upstream did not agree to HTTP/2 (ALPN: \(negotiated ?? "none")); set protocol: http1 for it"))
        }
        opened()
    }

    /// The upstream sent GOAWAY: streams under way finish, new ones go to a new connection.
    func goingAway() {
        accepting = false
        pool?.http2GoingAway(self)
    }

    /// The connection could not be made, or ended: the requests still waiting to be sent fail
    /// (streams under way fail on their own, as their channels close).
    func fail(_ error: UpstreamTransportError) {
        accepting = false
        let waiting: [LoopPool.Request]
        if case .connecting(let queued) = state { waiting = queued } else { waiting = [] }
        state = .closed
        pool?.http2GoingAway(self)
        for request in waiting {
            inFlight -= 1
            pool?.http2Finished(request, .failure(error), on: self, answered: false)
        }
        channel?.close(promise: nil)
    }

    func close() {
        accepting = false
        channel?.close(promise: nil)
    }
}

/// Watches the connection itself: TLS agreement, GOAWAY and its end.
private final class HTTP2ConnectionWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    private let connection: HTTP2Connection

    init(connection: HTTP2Connection) {
        self.connection = connection
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event { connection.tlsAgreed(on: negotiated) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { connection.goingAway() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.fail(UpstreamTransportError(.connectionClosed, "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = error is NIOSSLError
            ? UpstreamTransportError(.tls, "TLS error")
            : UpstreamTransportError(.connectionClosed, "HTTP/2 connection error: \(type(of: error))")
        connection.fail(failure)
    }
}

/// One request as an HTTP/2 stream: its headers and body go out when the stream opens, the
/// answer's head and data are collected until the upstream ends the stream.
private final class HTTP2Call: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let request: LoopPool.Request
    private let connection: HTTP2Connection
    private let headers: HPACKHeaders
    private let maxResponseBytes: Int
    private var status: Int?
    private var responseHeaders: [(name: String, value: String)] = []
    private var body: ByteBuffer?
    private var done = false
    private var timeout: Scheduled<Void>?
    /// The stream's place in its channel's pipeline, once it has one.
    private var context: ChannelHandlerContext?

    /// The call's deadline runs from now, whether or not its stream opens.
    init(request: LoopPool.Request, connection: HTTP2Connection, headers: HPACKHeaders, maxResponseBytes: Int, eventLoop: any EventLoop) {
        self.request = request
        self.connection = connection
        self.headers = headers
        self.maxResponseBytes = maxResponseBytes
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        timeout = eventLoop.scheduleTask(deadline: request.deadline) {
            bound.value.end(.failure(UpstreamTransportError(.timeout, "no answer before the deadline")))
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The stream could not be opened (the connection closed or went away meanwhile).
    func streamNotOpened(_ error: UpstreamTransportError) {
        end(.failure(error))
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = self.headers
        headers.add(name: "content-length", value: String(request.body.readableBytes))
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(request.body), endStream: true))), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            if status == nil {
                guard let text = frame.headers.first(name: ":status"), let code = Int(text) else {
                    return end(.failure(UpstreamTransportError(.invalidResponse, "an HTTP/2 answer without a :status")))
                }
                // 1xx heads are informational; the answer's own head follows.
                if code >= 200 {
                    status = code
                    for (name, value, _) in frame.headers where !name.hasPrefix(":") { responseHeaders.append((name, value)) }
                }
            }
            if frame.endStream { complete() }
        case .data(let frame):
            guard status != nil, case .byteBuffer(var part) = frame.data else {
                return end(.failure(UpstreamTransportError(.invalidResponse, "HTTP/2 data before the answer's head")))
            }
            if (body?.readableBytes ?? 0) + part.readableBytes > maxResponseBytes {
                return end(.failure(UpstreamTransportError(.responseTooLarge, "answer larger than \(maxResponseBytes) bytes")))
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
            if frame.endStream { complete() }
        case .rstStream(let code):
            end(.failure(UpstreamTransportError(.connectionClosed, "the upstream reset the stream (\(code))")))
        default:
            break
        }
    }

    private func complete() {
        guard let status else {
            return end(.failure(UpstreamTransportError(.invalidResponse, "the stream ended without an answer")))
        }
        end(.success(UpstreamHTTPResponse(status: status, headers: HTTPHeaderLines(responseHeaders), body: body ?? ByteBuffer())))
    }

    /// Hands the result over once; the stream is closed unless the upstream ended it.
    private func end(_ result: Result<UpstreamHTTPResponse, UpstreamTransportError>) {
        guard !done else { return }
        done = true
        timeout?.cancel()
        timeout = nil
        if case .failure = result { context?.close(promise: nil) }
        connection.finished(request, result, answered: status != nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(.failure(UpstreamTransportError(.connectionClosed, status == nil ? "stream closed before an answer" : "stream closed during the answer")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(.failure(UpstreamTransportError(.connectionClosed, "HTTP/2 stream error: \(type(of: error))")))
    }
}
