import EthereumKit
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Prometheus
import Routing

extension Gateway {
    /// The Hummingbird application serving the gateway on `host:port` (port 0: ephemeral).
    /// `onServerRunning` receives the bound port.
    public func application(
        host: String, port: Int, metricsRegistry: PrometheusCollectorRegistry? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        let gateway = self
        let maxBody = limits.maxBodyBytes
        router.get("healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("readyz") { _, _ in
            let (ready, reason) = gateway.readiness()
            return Response(status: ready ? .ok : .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: reason + "\n")))
        }
        router.get("status") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: gateway.statusJSON().serialized())))
        }
        router.get("metrics") { _, _ in
            var buffer: [UInt8] = []
            metricsRegistry?.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let admin: @Sendable (Request) -> Response? = { request in
            let key = request.headers[HTTPField.Name("X-Api-Key")!]
                ?? request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            return gateway.isAdmin(apiKey: key) ? nil : Self.response(Gateway.adminError(401, "admin endpoints need the admin key"))
        }
        router.post("admin/drill") { request, _ in
            if let denied = admin(request) { return denied }
            let body = try await request.body.collect(upTo: 65_536)
            return Self.response(gateway.startDrill(body: Array(body.readableBytesView)))
        }
        router.delete("admin/drill") { request, _ in
            if let denied = admin(request) { return denied }
            return Self.response(gateway.endDrill())
        }
        let rpc: @Sendable (Request, String?, String?) async throws -> Response = { request, route, pathKey in
            let key = pathKey ?? request.headers[HTTPField.Name("X-Api-Key")!]
            guard gateway.isClientAllowed(apiKey: key) else {
                return Self.response(EdgeResponse(status: 401, headers: [("Content-Type", "application/json")],
                                                  body: #"{"error":"missing or unknown API key: send it in X-Api-Key or as the last path segment"}"#))
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxBody)
            } catch {
                return Self.response(Gateway.error(.init(code: -32600, httpStatus: 413, message: "request too large",
                                                          data: .string("this gateway accepts bodies of at most \(maxBody) bytes"))))
            }
            return Self.response(await gateway.handle(route: route, body: Array(body.readableBytesView)))
        }
        router.post("/") { request, _ in try await rpc(request, nil, nil) }
        router.post(":chain") { request, context in try await rpc(request, context.parameters.get("chain"), nil) }
        router.post(":chain/:key") { request, context in
            try await rpc(request, context.parameters.get("chain"), context.parameters.get("key"))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "bulwark"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    static func response(_ edge: EdgeResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in edge.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        return Response(status: .init(code: edge.status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: edge.body)))
    }
}
