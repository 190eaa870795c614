import EthereumKit
import SimnetTesting
import Testing

/// `eth_sendRawTransaction` against the recorded geth: the recordings only hold accepted
/// transactions, so a rejection is made from geth's own "nonce too low" answer to check
/// Bulwark's rule: a rejection passes through unchanged only when no upstream accepted.
@Suite("Transaction broadcast against recorded geth", .serialized)
struct TransactionBroadcastTests {
    static var legacy: RecordedExchange {
        Recordings.all.first { $0.file == "eth_sendRawTransaction/send-legacy-transaction.io" }!
    }

    /// geth's answer to a transaction whose nonce was already used (core/txpool `ErrNonceTooLow`).
    static let rejection = #"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"nonce too low: next nonce 1, tx nonce 0"}}"#

    /// The recordings, with the legacy transaction rejected instead of accepted.
    static func rejectingBook() throws -> ReplayBook {
        let rejected = try Recordings.parse(file: legacy.file, text: ">> \(legacy.requestText)\n<< \(rejection)\n")
        return try ReplayBook(Recordings.all.filter { $0.file != legacy.file } + rejected, head: Recordings.head)
    }

    static func send(_ exchange: RecordedExchange, books: [ReplayBook]) async throws -> JSONValue {
        let gateway = try await ReplayGateway.start(books: books)
        let response: HTTPTestClient.Response
        do {
            response = try await HTTPTestClient.request(.POST, gateway.url, body: exchange.requestText, timeout: .seconds(15))
        } catch {
            await gateway.stop()
            throw error
        }
        await gateway.stop()
        return try JSONValue.parse(response.body)
    }

    /// One domain rejects, two accept: the client gets the transaction hash geth recorded.
    @Test func oneRejectionAmongAcceptancesIsAnAcceptance() async throws {
        let recorded = try ReplayBook(Recordings.all, head: Recordings.head)
        let answer = try await Self.send(Self.legacy, books: [try Self.rejectingBook(), recorded, recorded])
        #expect(answer["result"] == Self.legacy.response["result"], "\(answer.serialized())")
    }

    /// Every upstream rejects: geth's rejection reaches the client unchanged (code and message).
    @Test func rejectionByEveryUpstreamPassesThrough() async throws {
        let rejecting = try Self.rejectingBook()
        let answer = try await Self.send(Self.legacy, books: [rejecting, rejecting, rejecting])
        let expected = try JSONValue.parse(Array(Self.rejection.utf8))["error"]
        #expect(answer["error"]?["code"] == expected?["code"], "\(answer.serialized())")
        #expect(answer["error"]?["message"] == expected?["message"], "\(answer.serialized())")
        #expect(answer["id"] == Self.legacy.id)
    }

    /// Why the gateway hashes blob transactions specially: geth's recorded answer is
    /// keccak256(0x03 || rlp(tx)) of the transaction inside the network wrapper, not keccak256
    /// of the raw bytes sent (the replay runs check the gateway gives geth's answer).
    @Test func blobTransactionHashIsTheHashOfTheInnerTransaction() throws {
        let exchange = try #require(Recordings.all.first { $0.file == "eth_sendRawTransaction/send-blob-tx.io" })
        let raw = try Hex.decode(try #require(exchange.request["params"]?.arrayValue?.first?.stringValue))
        #expect(raw.first == 0x03)
        let wrapper = try #require(try RLP.decode(Array(raw.dropFirst())).listItems)
        // EIP-4844 network form [tx, blobs, commitments, proofs]; EIP-7594 adds a wrapper version after tx.
        #expect(wrapper.count == 4 || wrapper.count == 5, "network form: [tx, (version,) blobs, commitments, proofs]")
        let transactionHash = Keccak256.hash([0x03] + RLP.encode(wrapper[0])).description
        #expect(exchange.response["result"] == .string(transactionHash))
        #expect(Keccak256.hash(raw).description != transactionHash)
    }
}
