import NIOCore
import NIOHTTP1
import Prometheus

/// One client connection of the gateway's HTTP edge. Requests are answered one at a time, in
/// order (pipelined ones wait here, read but not started, and reading pauses until they are
/// answered); the body is kept
/// as the `ByteBuffer` it arrived in and handed to the gateway without a copy. JSON-RPC calls
/// run as a task that, with the event loops as Swift's executor, stays on this connection's
/// thread; every other route is answered right here.
final class EdgeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    /// Sent through the pipeline when the server shuts down gracefully: close once idle.
    struct Quiesce {}

    private let gateway: Gateway
    private let metricsRegistry: PrometheusCollectorRegistry?

    /// One request as read from the connection.
    private struct Request {
        var head: HTTPRequestHead
        var route: EdgeRoute
        var body: ByteBuffer?
        var bodyTooLarge = false
    }

    /// The request being read.
    private var incoming: Request?
    /// Requests read while an earlier one is being answered (HTTP/1.1 pipelining), answered in order.
    private var waiting = CircularBuffer<Request>(initialCapacity: 2)
    /// A request is being answered (its response not yet written).
    private var answering = false
    private var quiescing = false
    /// Reading is paused while pipelined requests wait.
    private var pipelining = false
    /// More pipelined requests than this (or more than `maxBodyBytes` of their bodies) waiting at
    /// once close the connection.
    static let maxWaitingRequests = 128

    init(gateway: Gateway, metricsRegistry: PrometheusCollectorRegistry?) {
        self.gateway = gateway
        self.metricsRegistry = metricsRegistry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            incoming = Request(head: head, route: EdgeRoute(method: head.method, uri: head.uri))
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            }
        case .body(var part):
            guard incoming != nil, let limit = incoming!.route.bodyLimit(rpc: gateway.limits.maxBodyBytes), !incoming!.bodyTooLarge else { return }
            if (incoming!.body?.readableBytes ?? 0) + part.readableBytes > limit {
                incoming!.bodyTooLarge = true
                incoming!.body = nil
                // Answered now, not after reading the rest (the connection ends with the answer).
                if !answering, let request = incoming {
                    incoming = nil
                    answering = true
                    respond(to: request, context: context)
                }
            } else if incoming!.body == nil {
                incoming!.body = part
            } else {
                incoming!.body!.writeBuffer(&part)
            }
        case .end:
            guard let request = incoming else { return }
            incoming = nil
            context.triggerUserOutboundEvent(ConnectionGuard.Event.requestReceived, promise: nil)
            if answering {
                let bytes = waiting.reduce(request.body?.readableBytes ?? 0) { $0 + ($1.body?.readableBytes ?? 0) }
                guard waiting.count < Self.maxWaitingRequests, bytes <= gateway.limits.maxBodyBytes else { return context.close(promise: nil) }
                waiting.append(request)
                // Read no further until the queue is answered: pipelined bodies cannot pile up in memory.
                if !pipelining {
                    pipelining = true
                    context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
                }
            } else {
                answering = true
                respond(to: request, context: context)
            }
        }
    }

    private func respond(to request: Request, context: ChannelHandlerContext) {
        let head = request.head
        let route = request.route
        let keepAlive = head.isKeepAlive
        if request.bodyTooLarge {
            let limit = route.bodyLimit(rpc: gateway.limits.maxBodyBytes) ?? 0
            let response = Gateway.error(.init(code: -32600, httpStatus: 413, message: "request too large",
                                               data: .string("this gateway accepts bodies of at most \(limit) bytes")))
            // The rest of an oversized body is not read: the connection ends with this answer.
            return write(response, version: head.version, keepAlive: false, context: context)
        }
        switch route {
        case .rpc(let chain, let pathKey):
            guard let client = gateway.client(apiKey: pathKey ?? head.headers.first(name: "x-api-key")) else {
                return write(EdgeResponse(status: 401, headers: [("Content-Type", "application/json")],
                                          body: #"{"error":"missing or unknown API key: send it in X-Api-Key or as the last path segment"}"#),
                             version: head.version, keepAlive: keepAlive, context: context)
            }
            let pending: Gateway.PendingRequest
            switch gateway.prepare(route: chain, body: request.body ?? ByteBuffer(), client: client) {
            case .respond(let response): return write(response, version: head.version, keepAlive: keepAlive, context: context)
            case .execute(let request): pending = request
            }
            let gateway = self.gateway
            let loop = context.eventLoop
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
            Task {
                let response = await gateway.finish(pending)
                let answer: @Sendable () -> Void = {
                    bound.value.handler.write(response, version: head.version, keepAlive: keepAlive, context: bound.value.context)
                }
                // On the connection's loop already (the usual case): no hop through its task queue.
                if loop.inEventLoop { answer() } else { loop.execute(answer) }
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
            if !gateway.isAdmin(apiKey: Self.adminKey(head.headers)) {
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
    static func adminKey(_ headers: HTTPHeaders) -> String? {
        if let key = headers.first(name: "x-api-key") { return key }
        guard let authorization = headers.first(name: "authorization"), authorization.hasPrefix("Bearer ") else { return nil }
        return String(authorization.dropFirst(7))
    }

    /// Writes the answer of the request being answered, then starts on the next one waiting.
    /// The response is serialised here into one buffer, one write: the gateway's headers are
    /// its own (no validation pass needed) and an encoder handler would cost more than this.
    private func write(_ response: EdgeResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        answering = false
        let keepAlive = keepAlive && !(quiescing && waiting.isEmpty)
        let bodyLength = response.body.utf8.count
        var buffer = context.channel.allocator.buffer(capacity: 160 + bodyLength)
        buffer.writeStaticString(version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(response.status))
        buffer.writeStaticString(" ")
        buffer.writeString(HTTPResponseStatus(statusCode: response.status).reasonPhrase)
        buffer.writeStaticString("\r\n")
        for (name, value) in response.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            // Header values are the gateway's own; a line break would still split the response.
            if value.utf8.contains(where: { $0 == 10 || $0 == 13 }) {
                buffer.writeString(String(value.unicodeScalars.filter { $0 != "\n" && $0 != "\r" }))
            } else {
                buffer.writeString(value)
            }
            buffer.writeStaticString("\r\n")
        }
        if response.status != 204 && response.status != 304 {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(bodyLength))
            buffer.writeStaticString("\r\n")
        }
        if !keepAlive {
            buffer.writeStaticString("Connection: close\r\n")
        } else if version == .http1_0 {
            buffer.writeStaticString("Connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
        buffer.writeString(response.body)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            if let next = waiting.popFirst() {
                answering = true
                respond(to: next, context: context)
            } else {
                context.triggerUserOutboundEvent(incoming == nil ? ConnectionGuard.Event.idle : .reading, promise: nil)
                if !pipelining { return }
                pipelining = false
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            }
        } else {
            waiting.removeAll()
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is Quiesce else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        if !answering && incoming == nil { context.close(promise: nil) }
    }

    /// A request that is not HTTP gets 400, one whose headers are too large 431 (unless an answer
    /// is under way), and the connection ends.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else { return context.close(promise: nil) }
        // The decoder counts the request target with the headers.
        refuse(error == .headerOverflow ? .text(431, "the request line and headers are larger than \(gateway.limits.maxHeaderBytes) bytes\n")
                                        : .text(400, "not a valid HTTP/1.1 request\n"), context: context)
    }

    /// Answers a request that cannot be read and ends the connection (at once if an answer is under way).
    private func refuse(_ response: EdgeResponse, context: ChannelHandlerContext) {
        incoming = nil
        waiting.removeAll()
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
