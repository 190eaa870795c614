import EthereumKit
import NIOCore
import NIOPosix
import Simnet
import Synchronization
import Testing
@testable import Upstreams

/// HTTP/1.1 pipelining to an upstream: the requests sent during one turn of an event loop go
/// out together on one connection, each answer reaches its own sender, and a connection that
/// fails under pipelined requests does not take the innocent ones with it.
@Suite struct PipeliningTests {
    /// An upstream that answers each call with its own id as the result, after `reply` had its say.
    final class EchoUpstream: Sendable {
        final class Counter: Sendable {
            let value = Atomic<Int>(0)
        }

        let server: LoopbackHTTPServer
        private let requests = Counter()

        init(reply: @escaping @Sendable (_ id: Int) -> HTTPReply? = { _ in nil }) {
            let requests = self.requests
            server = LoopbackHTTPServer(port: 0) { request in
                requests.value.add(1, ordering: .relaxed)
                guard let call = try? JSONValue.parse(request.body), case .number(let id)? = call["id"] else {
                    return .json(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no id"}}"#)
                }
                let number = Int(id)
                return reply(number) ?? .json(EchoUpstream.answer(number))
            }
        }

        static func answer(_ id: Int) -> String { #"{"jsonrpc":"2.0","id":\#(id),"result":"\#(id)"}"# }

        /// The answer with `Connection: close`: the upstream closes the connection after it.
        static func closing(_ id: Int) -> HTTPReply {
            .respond(status: .ok, headers: [("Content-Type", "application/json"), ("Connection", "close")], body: answer(id))
        }

        var requestCount: Int { requests.value.load(ordering: .relaxed) }
        var url: String { "http://127.0.0.1:\(server.port)/" }
    }

    static func call(_ id: Int) -> ByteBuffer {
        ByteBuffer(string: #"{"jsonrpc":"2.0","id":\#(id),"method":"eth_blockNumber","params":[]}"#)
    }

    /// Sends every call during one turn of the transport's (only) event loop; the results in the calls' order.
    static func sendInOneTurn(_ transport: UpstreamTransport, ids: [Int],
                              timeout: (Int) -> Duration = { _ in .seconds(5) }) async -> [Result<Int, UpstreamTransportError>] {
        let loop = transport.group.next()
        let answers = ids.map { _ in loop.makePromise(of: UpstreamHTTPResponse.self) }
        let timeouts = ids.map(timeout)
        loop.execute {
            for (index, id) in ids.enumerated() {
                transport.send(call(id), timeout: timeouts[index]) { answers[index].completeWith($0.mapError { $0 }) }
            }
        }
        var results: [Result<Int, UpstreamTransportError>] = []
        for answer in answers {
            do {
                let response = try await answer.futureResult.get()
                let result = try JSONValue.parse(Array(response.body.readableBytesView))["result"]
                guard case .string(let text)? = result, let id = Int(text) else {
                    results.append(.failure(UpstreamTransportError(.invalidResponse, "no id in the answer")))
                    continue
                }
                results.append(.success(id))
            } catch let error as UpstreamTransportError {
                results.append(.failure(error))
            } catch {
                results.append(.failure(UpstreamTransportError(.invalidResponse, "\(error)")))
            }
        }
        return results
    }

    static func transport(_ url: String, depth: Int, group: MultiThreadedEventLoopGroup) throws -> UpstreamTransport {
        var configuration = UpstreamTransport.Configuration()
        configuration.pipelineDepth = depth
        return try UpstreamTransport(url: url, configuration: configuration, group: group)
    }

    /// Starts `upstream`, runs `body` with a transport pipelining 8 deep to it on a one-loop group
    /// (the group too, for more transports), then stops them all.
    static func withPipelinedTransport(to upstream: EchoUpstream,
                                       _ body: (UpstreamTransport, MultiThreadedEventLoopGroup) async throws -> Void) async throws {
        try await upstream.server.start()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let transport = try Self.transport(upstream.url, depth: 8, group: group)
        var failure: (any Error)?
        do { try await body(transport, group) } catch { failure = error }
        await transport.shutdown()
        await upstream.server.stop()
        try await group.shutdownGracefully()
        if let failure { throw failure }
    }

    @Test func callsOfOneTurnShareAConnectionAndEachGetsItsOwnAnswer() async throws {
        let upstream = EchoUpstream()
        try await Self.withPipelinedTransport(to: upstream) { transport, group in
            // A connection being opened takes the turn's calls too: eight calls, one connection.
            let first = await Self.sendInOneTurn(transport, ids: Array(1...8))
            #expect(first.map { try? $0.get() } == Array(1...8))
            #expect(await transport.connectionsOpened() == 1)

            // Twelve: eight on the pooled connection (its limit), four on a new one.
            let second = await Self.sendInOneTurn(transport, ids: Array(101...112))
            #expect(second.map { try? $0.get() } == Array(101...112))
            #expect(await transport.connectionsOpened() == 2)
            #expect(upstream.requestCount == 20)

            // Without pipelining each call of the turn has a connection of its own.
            let unpipelined = try Self.transport(upstream.url, depth: 1, group: group)
            let third = await Self.sendInOneTurn(unpipelined, ids: Array(201...206))
            #expect(third.map { try? $0.get() } == Array(201...206))
            #expect(await unpipelined.connectionsOpened() == 6)

            await unpipelined.shutdown()
        }
    }

    /// An answer that closes the connection (`Connection: close`) ends the pipeline: the calls
    /// written behind it are sent again on a new connection, and every caller gets its answer.
    @Test func callsBehindAClosingAnswerAreSentAgain() async throws {
        let upstream = EchoUpstream { id in
            id == 2 ? EchoUpstream.closing(id) : nil
        }
        try await Self.withPipelinedTransport(to: upstream) { transport, _ in
            #expect(await Self.sendInOneTurn(transport, ids: [0]).map { try? $0.get() } == [0])

            let results = await Self.sendInOneTurn(transport, ids: [1, 2, 3, 4])
            #expect(results.map { try? $0.get() } == [1, 2, 3, 4])
            #expect(await transport.connectionsOpened() >= 2, "the calls behind the closing answer went on new connections")
        }
    }

    /// An upstream that closes the connection after every answer does not take pipelined
    /// requests: the calls behind each answer are sent again alone, every caller gets its answer,
    /// and after three connections in a row closed so the pool sends one request per connection.
    @Test func anUpstreamThatClosesEveryConnectionEndsPipelining() async throws {
        let upstream = EchoUpstream { id in EchoUpstream.closing(id) }
        try await Self.withPipelinedTransport(to: upstream) { transport, _ in
            #expect(await transport.pipelineDepths() == [8])
            for turn in 0..<4 {
                let ids = (0..<4).map { turn * 10 + $0 }
                #expect(await Self.sendInOneTurn(transport, ids: ids).map { try? $0.get() } == ids)
            }
            #expect(await transport.pipelineDepths() == [1])
        }
    }

    /// An upstream that closes a connection after a few answers (rotating it, as nginx does after
    /// `keepalive_requests`) keeps getting pipelined requests.
    @Test func anUpstreamThatRotatesConnectionsKeepsPipelining() async throws {
        let upstream = EchoUpstream { id in
            id % 10 == 2 ? EchoUpstream.closing(id) : nil
        }
        try await Self.withPipelinedTransport(to: upstream) { transport, _ in
            for turn in 0..<5 {
                let ids = (0..<4).map { turn * 10 + $0 }
                #expect(await Self.sendInOneTurn(transport, ids: ids).map { try? $0.get() } == ids)
            }
            #expect(await transport.pipelineDepths() == [8])
        }
    }

    /// A call that gets no answer holds up the ones pipelined behind it (the upstream answers in
    /// order): when it times out, they are sent again on a new connection within their own deadlines.
    @Test func aStalledCallDoesNotTakeTheCallsBehindItDown() async throws {
        let upstream = EchoUpstream { id in id == 1 ? .stall : nil }
        try await Self.withPipelinedTransport(to: upstream) { transport, _ in
            #expect(await Self.sendInOneTurn(transport, ids: [0]).map { try? $0.get() } == [0])

            let clock = ContinuousClock()
            let start = clock.now
            let results = await Self.sendInOneTurn(transport, ids: [1, 2, 3]) { $0 == 1 ? .milliseconds(300) : .seconds(10) }
            #expect(throws: UpstreamTransportError(.timeout, "no answer before the deadline")) { try results[0].get() }
            #expect(results[1...].map { try? $0.get() } == [2, 3])
            #expect(clock.now - start < .seconds(5), "the calls behind were sent again when the stalled one timed out")
        }
    }
}
