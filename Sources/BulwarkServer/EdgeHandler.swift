import HTTPWire
import NIOCore
import NIOHTTP1
import Prometheus

/// One client connection of the gateway's HTTP edge. Requests are read with `HTTP1Parser` and
/// answered one at a time, in order: pipelined requests stay unparsed in the parser's buffer
/// until the one before is answered, and reading pauses while more than a request's worth of
/// bytes waits there. The body is kept as slices of the bytes read and handed to the gateway
/// without a copy. A JSON-RPC call that is only forwarded runs as futures on this connection's
/// loop; one that needs more (a cache store, verification, a batch) as a task that, with the
/// event loops as Swift's executor, stays on this thread too. Everything else is answered here.
final class EdgeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Sent through the pipeline when the server shuts down gracefully: close once idle.
    struct Quiesce {}

    private let gateway: Gateway
    private let metricsRegistry: PrometheusCollectorRegistry?

    /// One request as read from the connection.
    private struct Request {
        var head: HTTP1Parser.RequestHead
        var route: EdgeRoute
        var body: ByteBuffer?
        var bodyTooLarge = false
    }

    private var parser: HTTP1Parser
    /// The request being read (its head has arrived).
    private var incoming: Request?
    /// A request is being answered (its response not yet written).
    private var answering = false
    /// `readRequests` is on the stack (an answer written from inside it must not re-enter it).
    private var readingRequests = false
    private var quiescing = false
    /// The request being answered is a HEAD request: its answer has no body.
    private var answeringHEAD = false
    /// Reading is paused while pipelined bytes beyond `maxWaitingBytes` wait.
    private var paused = false
    private let maxWaitingBytes: Int
    /// Read and idle timeouts, checked by `checker`.
    private var timeouts: ConnectionGuard
    private var checker: RepeatedTask?
    /// Where an answer's body is written before its head (reused: no allocation per answer).
    private var bodyScratch = ByteBuffer()
    /// Where the whole answer is put together and sent from; written out at once in the common
    /// case, so the next answer reuses its storage (NIO keeps it only while a write is pending).
    private var outgoing = ByteBuffer()
    /// A body larger than this is written on its own after the head, not copied behind it
    /// (and the scratch buffer does not keep its size).
    static let largeBody = 16_384
    /// The route of the last request: a client usually sends the same method and target again.
    private var lastRoute: (method: String, target: String, route: EdgeRoute)?

    init(gateway: Gateway, metricsRegistry: PrometheusCollectorRegistry?) {
        self.gateway = gateway
        self.metricsRegistry = metricsRegistry
        parser = HTTP1Parser(kind: .request, maxHeadBytes: gateway.limits.maxHeaderBytes)
        maxWaitingBytes = gateway.limits.maxBodyBytes + gateway.limits.maxHeaderBytes
        timeouts = ConnectionGuard(readTimeout: gateway.limits.readTimeout, idleTimeout: gateway.limits.idleTimeout, now: .now())
    }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        checker = context.eventLoop.scheduleRepeatedTask(initialDelay: timeouts.tick, delay: timeouts.tick) { _ in
            bound.value.handler.checkTimeouts(context: bound.value.context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        checker?.cancel()
        checker = nil
        context.fireChannelInactive()
    }

    private func checkTimeouts(context: ChannelHandlerContext) {
        switch timeouts.check(now: .now()) {
        case .carryOn:
            return
        case .close:
            checker?.cancel()
            context.close(promise: nil)
        case .requestTimeout:
            checker?.cancel()
            var buffer = context.channel.allocator.buffer(capacity: 80)
            buffer.writeStaticString("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timeouts.bytesRead(now: .now())
        parser.append(unwrapInboundIn(data))
        if answering {
            // Pipelined requests wait unparsed; beyond a request's worth of bytes, the socket holds the rest.
            if !paused && parser.bufferedBytes > maxWaitingBytes {
                paused = true
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
            return
        }
        readRequests(context: context)
    }

    /// Parses what has been read until a request is whole (and answers it) or more bytes are needed.
    private func readRequests(context: ChannelHandlerContext) {
        guard !readingRequests else { return }
        readingRequests = true
        defer { readingRequests = false }
        while !answering {
            let event: HTTP1Parser.Event?
            do { event = try parser.next() } catch { return refuse(error, context: context) }
            switch event {
            case nil:
                return
            case .request(let head):
                incoming = Request(head: head, route: route(head))
                if head.expectsContinue {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
                }
            case .body(var part):
                guard incoming != nil, let limit = incoming!.route.bodyLimit(rpc: gateway.limits.maxBodyBytes), !incoming!.bodyTooLarge else { continue }
                if (incoming!.body?.readableBytes ?? 0) + part.readableBytes > limit {
                    incoming!.bodyTooLarge = true
                    incoming!.body = nil
                    // Answered now, not after reading the rest (the connection ends with the answer).
                    let request = incoming!
                    incoming = nil
                    answering = true
                    respond(to: request, context: context)
                } else if incoming!.body == nil {
                    incoming!.body = part
                } else {
                    incoming!.body!.writeBuffer(&part)
                }
            case .end:
                guard let request = incoming else { continue }
                incoming = nil
                timeouts.requestReceived()
                answering = true
                respond(to: request, context: context)
            case .response:
                continue
            }
        }
    }

    private func route(_ head: HTTP1Parser.RequestHead) -> EdgeRoute {
        if let lastRoute, lastRoute.method == head.method, lastRoute.target == head.target { return lastRoute.route }
        let route = EdgeRoute(method: head.method, target: head.target)
        lastRoute = (head.method, head.target, route)
        return route
    }

    private func respond(to request: Request, context: ChannelHandlerContext) {
        let head = request.head
        let route = request.route
        let keepAlive = head.keepAlive
        answeringHEAD = head.method == "HEAD"
        if request.bodyTooLarge {
            let limit = route.bodyLimit(rpc: gateway.limits.maxBodyBytes) ?? 0
            let response = Gateway.error(.init(code: -32600, httpStatus: 413, message: "request too large",
                                               data: .string("this gateway accepts bodies of at most \(limit) bytes")))
            // The rest of an oversized body is not read: the connection ends with this answer.
            return write(response, version: head.version, keepAlive: false, context: context)
        }
        switch route {
        case .rpc(let chain, let pathKey):
            guard let client = gateway.client(apiKey: pathKey ?? head.apiKey) else {
                return write(EdgeResponse(status: 401, headers: [("Content-Type", "application/json")],
                                          body: #"{"error":"missing or unknown API key: send it in X-Api-Key or as the last path segment"}"#),
                             version: head.version, keepAlive: keepAlive, context: context)
            }
            let pending: Gateway.PendingRequest
            switch gateway.prepare(route: chain, body: request.body ?? ByteBuffer(), client: client) {
            case .respond(let response): return write(response, version: head.version, keepAlive: keepAlive, context: context)
            case .execute(let request): pending = request
            }
            let loop = context.eventLoop
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
            gateway.finish(pending) { response in
                // On the connection's loop already (the usual case): no hop through its task queue.
                if loop.inEventLoop {
                    bound.value.handler.write(response, version: head.version, keepAlive: keepAlive, context: bound.value.context)
                } else {
                    loop.execute { bound.value.handler.write(response, version: head.version, keepAlive: keepAlive, context: bound.value.context) }
                }
            }
        case .health:
            write(.text(200, "ok\n"), version: head.version, keepAlive: keepAlive, context: context)
        case .readiness:
            let (ready, reason) = gateway.readiness()
            write(.text(ready ? 200 : 503, reason + "\n"), version: head.version, keepAlive: keepAlive, context: context)
        case .status:
            write(EdgeResponse(status: 200, headers: [("Content-Type", "application/json")], body: gateway.statusJSON().serialized()),
                  version: head.version, keepAlive: keepAlive, context: context)
        case .metrics:
            var text: [UInt8] = []
            metricsRegistry?.emit(into: &text)
            write(EdgeResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: String(decoding: text, as: UTF8.self)),
                  version: head.version, keepAlive: keepAlive, context: context)
        case .startDrill, .endDrill:
            let response: EdgeResponse
            if !gateway.isAdmin(apiKey: Self.adminKey(head)) {
                response = Gateway.adminError(401, "admin endpoints need the admin key")
            } else if route == .startDrill {
                response = gateway.startDrill(body: Array((request.body ?? ByteBuffer()).readableBytesView))
            } else {
                response = gateway.endDrill()
            }
            write(response, version: head.version, keepAlive: keepAlive, context: context)
        case .notFound:
            write(EdgeResponse(status: 404, headers: [("Content-Type", "application/json")],
                               body: #"{"error":"no such endpoint: see /status, /metrics, /healthz, /readyz, or POST JSON-RPC to /{chain}"}"#),
                  version: head.version, keepAlive: keepAlive, context: context)
        }
    }

    /// The admin key from `X-Api-Key` or `Authorization: Bearer`.
    static func adminKey(_ head: HTTP1Parser.RequestHead) -> String? {
        if let key = head.apiKey { return key }
        guard let authorization = head.authorization, authorization.hasPrefix("Bearer ") else { return nil }
        return String(authorization.dropFirst(7))
    }

    /// Writes the answer of the request being answered, then starts on the next one waiting.
    /// The response is serialised here into one reused buffer, one write: the gateway's headers
    /// are its own (no validation pass needed) and an encoder handler would cost more than this.
    private func write(_ response: EdgeResponse, version: HTTP1Parser.Version, keepAlive: Bool, context: ChannelHandlerContext) {
        answering = false
        let keepAlive = keepAlive && !(quiescing && parser.bufferedBytes == 0)
        // The body first, into this connection's scratch buffer (its length goes in the head).
        bodyScratch.clear()
        response.writeBody(into: &bodyScratch)
        let bodyLength = bodyScratch.readableBytes
        // A small body is copied behind the head (one write); a large one is sent as it is, after it.
        let bodyApart = bodyLength > Self.largeBody && !answeringHEAD
        outgoing.clear()
        outgoing.reserveCapacity(minimumWritableBytes: 160 + (bodyApart ? 0 : bodyLength))
        writeHead(of: response, version: version, keepAlive: keepAlive, bodyLength: bodyLength, into: &outgoing)
        let buffer: ByteBuffer
        if bodyApart {
            context.write(wrapOutboundOut(outgoing), promise: nil)
            buffer = bodyScratch
            bodyScratch = ByteBuffer()
        } else {
            // A HEAD request gets the head only.
            if !answeringHEAD { outgoing.writeImmutableBuffer(bodyScratch) }
            buffer = outgoing
        }
        if bodyScratch.capacity > Self.largeBody { bodyScratch = ByteBuffer() }
        if outgoing.capacity > Self.largeBody { outgoing = ByteBuffer() }
        answeringHEAD = false
        guard keepAlive else {
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        timeouts.answered(reading: !(parser.isBetweenMessages && incoming == nil), now: .now())
        if paused && parser.bufferedBytes <= maxWaitingBytes {
            paused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        // The next pipelined request, if it has arrived (from inside `readRequests`, its loop goes on).
        readRequests(context: context)
    }

    private func writeHead(of response: EdgeResponse, version: HTTP1Parser.Version, keepAlive: Bool, bodyLength: Int,
                           into buffer: inout ByteBuffer) {
        buffer.writeStaticString(version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        if response.status == 200 {
            buffer.writeStaticString("200 OK\r\n")
        } else {
            buffer.writeDecimalDigits(response.status)
            buffer.writeStaticString(" ")
            buffer.writeString(HTTPResponseStatus(statusCode: response.status).reasonPhrase)
            buffer.writeStaticString("\r\n")
        }
        switch response.head {
        case .lines(let lines):
            for (name, value) in lines {
                buffer.writeString(name)
                buffer.writeStaticString(": ")
                Self.writeHeaderValue(value, into: &buffer)
                buffer.writeStaticString("\r\n")
            }
        case .answer(let answer):
            // Every answer's headers, from static text where it can be (the usual answer has three).
            buffer.writeStaticString("Content-Type: application/json\r\nX-Bulwark-Cache: ")
            switch answer.cache {
            case .hit: buffer.writeStaticString("hit\r\n")
            case .miss: buffer.writeStaticString("miss\r\n")
            case .stale(let age):
                buffer.writeStaticString("stale\r\nX-Bulwark-Stale-Age: ")
                buffer.writeDecimalDigits(Int(age.components.seconds))
                buffer.writeStaticString("\r\n")
            }
            if let upstream = answer.upstream, !upstream.isEmpty {
                buffer.writeStaticString("X-Bulwark-Upstream: ")
                Self.writeHeaderValue(upstream, into: &buffer)
                buffer.writeStaticString("\r\n")
            }
            if let verified = answer.verified {
                buffer.writeStaticString(verified ? "X-Bulwark-Verified: true\r\n" : "X-Bulwark-Verified: false\r\n")
            }
            if let retryAfter = answer.retryAfter {
                buffer.writeStaticString("Retry-After: ")
                Self.writeHeaderValue(retryAfter, into: &buffer)
                buffer.writeStaticString("\r\n")
            }
        }
        if response.status != 204 && response.status != 304 {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeDecimalDigits(bodyLength)
            buffer.writeStaticString("\r\n")
        }
        if !keepAlive {
            buffer.writeStaticString("Connection: close\r\n")
        } else if version == .http1_0 {
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// Header values are the gateway's own; a line break would still split the response.
    private static func writeHeaderValue(_ value: String, into buffer: inout ByteBuffer) {
        if value.utf8.contains(where: { $0 == 10 || $0 == 13 }) {
            buffer.writeString(String(value.unicodeScalars.filter { $0 != "\n" && $0 != "\r" }))
        } else {
            buffer.writeString(value)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is Quiesce else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        if !answering && incoming == nil && parser.isBetweenMessages { context.close(promise: nil) }
    }

    /// A connection error (reset by the client, say): nothing more can be answered on it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// A request that is not HTTP/1.1 gets 400 (431 when its head is too large, 501 for a transfer
    /// coding other than chunked), and the connection ends.
    private func refuse(_ error: HTTP1Parser.Failure, context: ChannelHandlerContext) {
        let response: EdgeResponse = switch error.reason {
        case .headTooLarge: .text(431, "the request line and headers are larger than \(gateway.limits.maxHeaderBytes) bytes\n")
        case .unsupportedTransferCoding: .text(501, "\(error.description)\n")
        case .malformed: .text(400, "not a valid HTTP/1.1 request: \(error.description)\n")
        }
        incoming = nil
        guard !answering else { return context.close(promise: nil) }
        answering = true
        write(response, version: .http1_1, keepAlive: false, context: context)
    }
}

extension EdgeResponse {
    static func text(_ status: Int, _ text: String) -> EdgeResponse {
        EdgeResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: text)
    }
}
