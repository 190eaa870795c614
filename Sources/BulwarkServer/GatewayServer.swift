import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The gateway's HTTP/1.1 server (SPEC section 3) on SwiftNIO's event loops, with no web
/// framework between the socket and the gateway: the forwarding path is the product, and a
/// framework's per-request machinery cost more than the forwarding itself.
///
/// A graceful shutdown stops accepting, lets requests in flight be answered (closing each
/// connection after its answer), and closes what is left after the request timeout;
/// cancelling `run` closes everything at once.
public final class GatewayServer: Service, Sendable {
    public let gateway: Gateway
    let host: String
    let port: Int
    let metricsRegistry: PrometheusCollectorRegistry?
    let onServerRunning: @Sendable (Int) async -> Void
    private let group: MultiThreadedEventLoopGroup
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])

    public init(gateway: Gateway, host: String, port: Int, metricsRegistry: PrometheusCollectorRegistry? = nil,
                group: MultiThreadedEventLoopGroup = .singleton, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.gateway = gateway
        self.host = host
        self.port = port
        self.metricsRegistry = metricsRegistry
        self.group = group
        self.onServerRunning = onServerRunning
    }

    /// Open client connections.
    public var connectionCount: Int { connections.withLock { $0.count } }

    public func run() async throws {
        let gateway = self.gateway
        let limits = gateway.limits
        let metricsRegistry = self.metricsRegistry
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard self.track(channel, limit: limits.maxConnections) else {
                        // Over the limit: said in one line, then closed, before any byte is read.
                        let refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        channel.writeAndFlush(ByteBuffer(string: refusal)).whenComplete { _ in channel.close(promise: nil) }
                        return
                    }
                    try channel.pipeline.syncOperations.addHandler(EdgeHandler(gateway: gateway, metricsRegistry: metricsRegistry))
                }
            }
            .bind(host: host, port: port)
            .get()
        await onServerRunning(listener.localAddress?.port ?? port)
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await listener.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            listener.close(promise: nil)
        }
        if Task.isCancelled {
            closeAll()
        } else {
            await drain(within: gateway.limits.requestTimeout + .seconds(1))
        }
    }

    /// Counts a new connection in; false (and not counted) when `limit` are open already.
    private func track(_ channel: any Channel, limit: Int) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = connections.withLock { connections in
            guard connections.count < limit else { return false }
            connections[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [weak self] _ in self?.connections.withLock { _ = $0.removeValue(forKey: id) } }
        return true
    }

    /// Asks every connection to close once its request in flight is answered, and waits for them (at most `limit`).
    private func drain(within limit: Duration) async {
        for channel in connections.withLock({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(EdgeHandler.Quiesce())
        }
        let deadline = ContinuousClock.now + limit
        while connectionCount > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        closeAll()
    }

    private func closeAll() {
        for channel in connections.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

extension Gateway {
    /// The HTTP server for this gateway on `host:port` (port 0: ephemeral); `onServerRunning` receives the bound port.
    public func server(host: String, port: Int, metricsRegistry: PrometheusCollectorRegistry? = nil,
                       onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> GatewayServer {
        GatewayServer(gateway: self, host: host, port: port, metricsRegistry: metricsRegistry, onServerRunning: onServerRunning)
    }
}
