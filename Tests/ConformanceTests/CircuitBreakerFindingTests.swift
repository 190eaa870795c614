import EthereumKit
import SimnetTesting
import Testing

/// Found by the replay and fixed: a request that every upstream answers with an error that
/// usually means an upstream fault (geth's "header not found" for a block beyond the head)
/// used to be retried over every upstream and counted against each, so a couple of such
/// client calls opened every circuit and the next ordinary call failed with -32010. Now an
/// error that every upstream gives is the request's: it goes to the client and blames no one.
@Suite("Client-caused upstream errors do not open circuits")
struct CircuitBreakerFindingTests {
    @Test func futureBlockCallsLeaveEveryUpstreamHealthy() async throws {
        let book = try ReplayBook(Recordings.all, head: Recordings.head)
        // The default head-poll interval (1 s), so polls do not reset failure counts in between.
        let gateway = try await ReplayGateway.start(books: [book, book, book], headPollInterval: .seconds(1))
        let futureBlock = try #require(Recordings.all.first { $0.file == "eth_simulateV1/ethSimulate-make-call-with-future-block.io" })
        let balance = try #require(Recordings.all.first { $0.file == "eth_getBalance/get-balance.io" })
        for _ in 0..<10 {
            let response = try await HTTPTestClient.request(.POST, gateway.url, body: futureBlock.requestText, timeout: .seconds(15))
            let answer = try JSONValue.parse(response.body)
            #expect(answer["error"]?["code"] == futureBlock.response["error"]?["code"], "geth's error passes through: \(answer.serialized().prefix(200))")
            #expect(answer["error"]?["message"] == futureBlock.response["error"]?["message"])
        }
        let response = try await HTTPTestClient.request(.POST, gateway.url, body: balance.requestText, timeout: .seconds(15))
        let answer = try JSONValue.parse(response.body)
        let states = gateway.router.status().upstreams.map(\.state)
        await gateway.stop()
        #expect(answer["result"] == balance.response["result"], "\(answer.serialized().prefix(200))")
        #expect(states.allSatisfy { $0 == "healthy" }, "\(states)")
    }
}
