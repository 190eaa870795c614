import EthereumKit
import NIOCore
import NIOPosix
import Simnet
import Synchronization
import Testing
@testable import Upstreams

/// HTTP/2 to an upstream (`protocol: http2`, here h2c by prior knowledge): calls in flight are
/// streams of one connection per event loop, each answer reaches its own sender, and an upstream
/// that resets, stalls or does not speak HTTP/2 fails the calls clearly instead of hanging them.
@Suite struct HTTP2TransportTests {
    typealias EchoUpstream = PipeliningTests.EchoUpstream

    static func transport(_ url: String, group: MultiThreadedEventLoopGroup, maxResponseBytes: Int? = nil) throws -> UpstreamTransport {
        var configuration = UpstreamTransport.Configuration()
        configuration.http2 = true
        configuration.headers = [("Authorization", "Bearer secret")]
        if let maxResponseBytes { configuration.maxResponseBytes = maxResponseBytes }
        return try UpstreamTransport(url: url, configuration: configuration, group: group)
    }

    /// An upstream answering each call with its id as the result, unless `reply` has another answer for it.
    static func echoServer(_ reply: @escaping @Sendable (_ id: Int) -> HTTPReply? = { _ in nil }) -> LoopbackHTTPServer {
        LoopbackHTTPServer(port: 0) { request in
            guard let call = try? JSONValue.parse(request.body), case .number(let id)? = call["id"] else { return .json("{}", status: .badRequest) }
            return reply(Int(id)) ?? .json(EchoUpstream.answer(Int(id)))
        }
    }

    @Test func concurrentCallsAreStreamsOfOneConnection() async throws {
        let seen = Mutex<(http2: Int, http1: Int, authorized: Int)>((0, 0, 0))
        let server = LoopbackHTTPServer(port: 0) { request in
            seen.withLock {
                if request.isHTTP2 { $0.http2 += 1 } else { $0.http1 += 1 }
                if request.headers["authorization"].first == "Bearer secret" { $0.authorized += 1 }
            }
            guard let call = try? JSONValue.parse(request.body), case .number(let id)? = call["id"] else { return .json("{}", status: .badRequest) }
            return .json(EchoUpstream.answer(Int(id)))
        }
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group)

        let ids = Array(1...200)
        let results = await PipeliningTests.sendInOneTurn(transport, ids: ids)
        #expect(results.map { try? $0.get() } == ids.map { $0 }, "each caller gets its own answer")
        // And once more, after the first burst: the same connection carries the next calls.
        let again = await PipeliningTests.sendInOneTurn(transport, ids: [7, 8, 9])
        #expect(again.map { try? $0.get() } == [7, 8, 9])
        #expect(server.connectionsAccepted == 1, "203 calls, one connection")
        #expect(await transport.connectionsOpened() == 1)
        let counts = seen.withLock { $0 }
        #expect(counts.http2 == 203 && counts.http1 == 0 && counts.authorized == 203, "\(counts)")
    }

    @Test func statusHeadersAndBodyOfAnAnswerArriveAsSent() async throws {
        let server = LoopbackHTTPServer(port: 0) { _ in
            .respond(status: .tooManyRequests, headers: [("Content-Type", "application/json"), ("Retry-After", "3")],
                     body: #"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"slow down"}}"#)
        }
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group)
        let response = try await transport.post(PipeliningTests.call(1), timeout: .seconds(5))
        #expect(response.status == 429)
        #expect(response.headers["Retry-After"] == "3")
        #expect(String(buffer: response.body).contains("slow down"))
    }

    @Test func aStalledStreamTimesOutAndTheConnectionGoesOn() async throws {
        let server = Self.echoServer { $0 == 1 ? .stall : nil }
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group)
        let start = ContinuousClock.now
        let results = await PipeliningTests.sendInOneTurn(transport, ids: [1, 2, 3]) { $0 == 1 ? .milliseconds(300) : .seconds(5) }
        #expect(ContinuousClock.now - start < .seconds(3), "the stalled call does not hold up the others")
        if case .failure(let error) = results[0] { #expect(error.kind == .timeout) } else { Issue.record("the stalled call answered: \(results[0])") }
        #expect(results[1...].map { try? $0.get() } == [2, 3])
        let later = await PipeliningTests.sendInOneTurn(transport, ids: [4])
        #expect(later.map { try? $0.get() } == [4])
        #expect(server.connectionsAccepted == 1, "a stream timing out does not cost the connection")
    }

    @Test func anAnswerCutShortFailsOnlyItsOwnCall() async throws {
        let server = Self.echoServer { $0 == 2 ? .cutMidBody(body: EchoUpstream.answer(2), reset: false) : nil }
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group)
        let results = await PipeliningTests.sendInOneTurn(transport, ids: [1, 2, 3])
        #expect(try results[0].get() == 1 && results[2].get() == 3)
        if case .failure(let error) = results[1] {
            #expect(error.kind == .connectionClosed || error.kind == .invalidResponse, "\(error)")
        } else {
            Issue.record("half an answer was taken for a whole one: \(results[1])")
        }
    }

    @Test func anAnswerOverTheLimitIsRefused() async throws {
        let big = #"{"jsonrpc":"2.0","id":1,"result":""# + String(repeating: "a", count: 100_000) + #""}"#
        let server = LoopbackHTTPServer(port: 0) { _ in .json(big) }
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group, maxResponseBytes: 10_000)
        await #expect(throws: UpstreamTransportError(.responseTooLarge, "answer larger than 10000 bytes")) {
            try await transport.post(PipeliningTests.call(1), timeout: .seconds(5))
        }
    }

    /// An upstream that only speaks HTTP/1.1 answers the HTTP/2 preface with an error and closes:
    /// the call fails at once, with the reason, and the next call tries a new connection.
    @Test func anUpstreamWithoutHTTP2FailsTheCallClearly() async throws {
        let http1Only = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTP1OnlyResponder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { Task { try? await http1Only.close() } }
        let port = try #require(http1Only.localAddress?.port)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group)
        let start = ContinuousClock.now
        do {
            _ = try await transport.post(PipeliningTests.call(1), timeout: .seconds(10))
            Issue.record("an HTTP/1.1 answer was read as HTTP/2")
        } catch {
            #expect(error.kind == .connectionClosed || error.kind == .invalidResponse, "\(error)")
        }
        #expect(ContinuousClock.now - start < .seconds(3), "failed at once, not at the deadline")
    }

    /// The upstream restarts (its connections close): the next call opens a new connection and is answered.
    @Test func anUpstreamRestartCostsNoCall() async throws {
        let server = Self.echoServer()
        let port = try await server.start()
        defer { Task { await server.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:\(port)/", group: group)
        #expect(await PipeliningTests.sendInOneTurn(transport, ids: [1]).map { try? $0.get() } == [1])
        await server.stop()
        try await server.start()
        try await Task.sleep(for: .milliseconds(50))
        #expect(await PipeliningTests.sendInOneTurn(transport, ids: [2, 3]).map { try? $0.get() } == [2, 3])
        #expect(await transport.connectionsOpened() == 2 && server.connectionsAccepted == 2)
    }

    @Test func nothingListeningIsRefused() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Task { try? await group.shutdownGracefully() } }
        let transport = try Self.transport("http://127.0.0.1:1/", group: group)
        do {
            _ = try await transport.post(PipeliningTests.call(1), timeout: .seconds(5))
            Issue.record("answered with nothing listening")
        } catch {
            #expect(error.kind == .connectionRefused, "\(error)")
        }
    }

    @Test func requestHeadersFollowHTTP2Rules() throws {
        let endpoint = try UpstreamEndpoint(url: "https://rpc.example.com/v3/key")
        let headers = HTTP2Connection.requestHeaders(endpoint: endpoint, headers: [
            ("Host", "rpc.example.com"), ("Content-Type", "application/json"), ("Connection", "keep-alive"), ("X-Api-Key", "k"),
        ])
        let fields = headers.map { ($0.name, $0.value) }
        #expect(fields.prefix(4).map(\.0) == [":method", ":scheme", ":path", ":authority"])
        #expect(fields.prefix(4).map(\.1) == ["POST", "https", "/v3/key", "rpc.example.com"])
        #expect(fields.dropFirst(4).map(\.0) == ["content-type", "x-api-key"], "lowercase, and no connection-specific headers")
    }
}

/// Answers whatever arrives with an HTTP/1.1 400 and closes, as an HTTP/1.1-only server does with the HTTP/2 preface.
private final class HTTP1OnlyResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let answer = ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        context.writeAndFlush(wrapOutboundOut(answer)).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
    }
}
