import NIOCore

/// Times a client connection out: one idle too long between requests is closed, and one whose
/// request does not arrive whole within the read timeout from its first byte (a slow client, one
/// byte a second) gets 408 and is closed. Sees the bytes before `EdgeHandler` parses them, so it sees the first byte
/// of a request before any header is complete; `EdgeHandler` tells it, with outbound user events,
/// when a request is complete and when the connection is idle again.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Event {
        /// A request arrived whole; it is being answered.
        case requestReceived
        /// Answered; nothing more has been read of a next request.
        case idle
        /// Answered; a next request is being read.
        case reading
    }

    private let readTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    /// How often the deadline is checked: a fraction of the shorter timeout, so per request only
    /// a deadline is set (no timer is scheduled or cancelled on the hot path).
    private let tick: TimeAmount
    private var checker: RepeatedTask?
    /// When the connection is closed unless something happens first; nil while a request is answered.
    private var deadline: NIODeadline?
    /// Whether `deadline` is a read timeout (answered 408) rather than an idle one (closed quietly).
    private var deadlineIsRead = false
    /// Idle: the next byte starts a request (and its read timeout).
    private var awaitingRequest = true

    init(readTimeout: Duration, idleTimeout: Duration) {
        self.readTimeout = TimeAmount(readTimeout)
        self.idleTimeout = TimeAmount(idleTimeout)
        tick = .nanoseconds(max(10_000_000, min(1_000_000_000, min(self.readTimeout, self.idleTimeout).nanoseconds / 4)))
    }

    func channelActive(context: ChannelHandlerContext) {
        deadline = .now() + idleTimeout
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        checker = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            bound.value.handler.check(context: bound.value.context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        checker?.cancel()
        checker = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if awaitingRequest {
            awaitingRequest = false
            deadline = .now() + readTimeout
            deadlineIsRead = true
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? Event else { return context.triggerUserOutboundEvent(event, promise: promise) }
        switch event {
        case .requestReceived:
            awaitingRequest = false
            deadline = nil
        case .idle:
            awaitingRequest = true
            deadline = .now() + idleTimeout
            deadlineIsRead = false
        case .reading:
            awaitingRequest = false
            deadline = .now() + readTimeout
            deadlineIsRead = true
        }
        promise?.succeed()
    }

    private func check(context: ChannelHandlerContext) {
        guard let deadline, deadline <= .now() else { return }
        self.deadline = nil
        checker?.cancel()
        guard deadlineIsRead else { return context.close(promise: nil) }
        var buffer = context.channel.allocator.buffer(capacity: 80)
        buffer.writeStaticString("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }
}
