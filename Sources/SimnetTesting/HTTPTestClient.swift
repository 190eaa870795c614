import EthereumKit
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for tests: one request per connection, with a deadline,
/// so that tests can observe refused connections, stalls and status codes exactly.
public enum HTTPTestClient {
    public struct Response: Sendable {
        public var status: HTTPResponseStatus
        public var headers: HTTPHeaders
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public enum Failure: Error, Equatable {
        /// Nothing listens on the port.
        case connectionRefused
        /// The server accepted but did not answer before the deadline.
        case timedOut
        case other(String)
    }

    /// Sends `body` to `url` (`http://127.0.0.1:PORT/path`) and waits up to `timeout` for the answer.
    public static func request(
        _ method: HTTPMethod = .POST, _ url: String, body: String = "", headers: [(String, String)] = [],
        timeout: Duration = .seconds(5)
    ) async throws(Failure) -> Response {
        guard let (host, port, path) = parse(url) else { throw .other("bad URL \(url)") }
        let channel: Channel
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = eventLoop.makePromise(of: Response.self)
        do {
            let responsePromise = promise
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(.seconds(2))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: responsePromise))
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch let error as ChannelError where error == .connectTimeout(.seconds(2)) {
            promise.fail(error)
            throw .timedOut
        } catch {
            promise.fail(error)
            if "\(error)".contains("refused") || "\(error)".contains("ECONNREFUSED") { throw .connectionRefused }
            throw .other("\(error)")
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }
        var buffer = channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            promise.fail(Failure.timedOut)
            channel.close(promise: nil)
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await promise.futureResult.get()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .other("\(error)")
        }
    }

    private static func parse(_ url: String) -> (String, Int, String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let hostPort = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(hostPort.count)
        guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
        return (String(hostPort[..<colon]), port, path.isEmpty ? "/" : String(path))
    }
}

private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<HTTPTestClient.Response>
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    init(promise: EventLoopPromise<HTTPTestClient.Response>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body(let buffer): body.append(contentsOf: buffer.readableBytesView)
        case .end:
            if let head {
                promise.succeed(HTTPTestClient.Response(status: head.status, headers: head.headers, body: body))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTPTestClient.Failure.other("connection closed before a full response"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(HTTPTestClient.Failure.other("\(error)"))
        context.close(promise: nil)
    }
}

/// A JSON-RPC error answer.
public struct JSONRPCError: Error, Equatable {
    public let code: Int
    public let message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }
}

extension HTTPTestClient {
    /// Calls `method` and returns its `result`; throws `JSONRPCError` for an error answer.
    public static func call(_ url: String, _ method: String, _ params: [JSONValue] = [], timeout: Duration = .seconds(5)) async throws -> JSONValue {
        let request = JSONValue.object(["jsonrpc": .string("2.0"), "id": .number(1), "method": .string(method), "params": .array(params)])
        let response = try await self.request(.POST, url, body: request.serialized(), timeout: timeout)
        let json = try JSONValue.parse(response.body)
        if let error = json["error"]?.objectValue {
            guard case .number(let code)? = error["code"] else { throw JSONRPCError(code: 0, message: "malformed error") }
            throw JSONRPCError(code: Int(code), message: error["message"]?.stringValue ?? "")
        }
        guard let result = json["result"] else { throw JSONRPCError(code: 0, message: "no result in \(response.text)") }
        return result
    }
}
