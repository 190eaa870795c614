import Foundation
import Testing
@testable import EthereumKit

/// The chain behind execution-apis/tests: chain.rlp holds blocks 1…54 (genesis is not in it).
struct RecordedChain {
    struct Block {
        let header: BlockHeader
        let rawHeader: [UInt8]
        let item: RLPItem
    }

    let blocks: [Block]
    let genesisHash: Bytes32

    static func load() throws -> RecordedChain {
        let bytes = [UInt8](try Fixtures.data("execution-apis/tests/chain.rlp"))
        var blocks: [Block] = []
        var offset = 0
        while offset < bytes.count {
            let header = try RLP.readHeader(bytes, at: offset, end: bytes.count)
            let item = try RLP.decode(bytes, from: offset, to: header.payloadEnd)
            let headerItem = try #require(item.listItems?.first)
            blocks.append(Block(header: try BlockHeader(rlp: headerItem), rawHeader: RLP.encode(headerItem), item: item))
            offset = header.payloadEnd
        }
        let genesis = try Fixtures.exchange("eth_getBlockByNumber/get-genesis.io").result as! [String: Any]
        return RecordedChain(blocks: blocks, genesisHash: Bytes32([UInt8](hex: genesis["hash"] as! String))!)
    }

    func header(number: UInt64) -> BlockHeader? {
        blocks.first { $0.header.blockNumber == number }?.header
    }

    func header(hash: Bytes32) -> BlockHeader? {
        blocks.first { $0.header.hash == hash }?.header
    }
}

@Suite struct ExecutionAPIsConformanceTests {
    let chain: RecordedChain

    init() throws {
        chain = try RecordedChain.load()
    }

    /// All 54 headers of chain.rlp re-encode byte for byte and hash into an unbroken chain
    /// from the genesis of eth_getBlockByNumber/get-genesis.io to the head of get-latest.io.
    @Test func chainHeadersHashCorrectly() throws {
        #expect(chain.blocks.count == 54)
        var parent = chain.genesisHash
        for (i, block) in chain.blocks.enumerated() {
            #expect(block.header.blockNumber == UInt64(i + 1))
            #expect(block.header.encoded == block.rawHeader, "block \(i + 1) re-encodes")
            #expect(block.header.parentHash == parent, "block \(i + 1) links to its parent")
            parent = block.header.hash
        }
        let latest = try Fixtures.exchange("eth_getBlockByNumber/get-latest.io").result as! [String: Any]
        #expect(parent.description == latest["hash"] as? String)
        // Every header layout from Frontier to Prague occurs in the chain.
        let layouts = Set(chain.blocks.map(\.header.layout))
        #expect(layouts.isSuperset(of: ["pre-London (Frontier to Berlin)", "London", "Paris", "Shanghai", "Cancun", "Prague"]))
    }

    /// Each block's transactions and withdrawals in chain.rlp rebuild its transactionsRoot and withdrawalsRoot.
    @Test func chainBodiesRebuildRoots() throws {
        for block in chain.blocks {
            let parts = try #require(block.item.listItems)
            let transactions = try #require(parts[1].listItems).map { tx -> [UInt8] in
                // Legacy transactions are RLP lists; typed ones are byte strings `type || payload`.
                if case .bytes(let typed) = tx { return typed }
                return RLP.encode(tx)
            }
            #expect(MerklePatriciaTrie.indexedRoot(transactions) == block.header.transactionsRoot, "block \(block.header.blockNumber)")
            if let root = block.header.withdrawalsRoot {
                let withdrawals = try #require(parts[3].listItems).map(RLP.encode)
                #expect(MerklePatriciaTrie.indexedRoot(withdrawals) == root)
            }
        }
    }

    /// Every block in eth_getBlockByNumber/*.io and eth_getBlockByHash/*.io hashes to its `hash`,
    /// and the chain.rlp header of the same number is the same header.
    @Test func recordedBlocksVerify() throws {
        var verified = 0
        for file in try Fixtures.files(in: "eth_getBlockByNumber") + Fixtures.files(in: "eth_getBlockByHash") {
            let exchange = try Fixtures.exchange(file)
            guard exchange.result is [String: Any] else { continue }
            let json = try JSONValue.parse(exchange.resultJSON)
            let report = try BlockVerifier.verify(block: json)
            #expect(report.checks.first?.name == "block hash", "\(file)")
            let header = try BlockHeader(json: json)
            if header.blockNumber > 0 {
                #expect(chain.header(number: header.blockNumber) == header, "\(file)")
            }
            verified += 1
        }
        #expect(verified == 10)
    }

    /// Full-transaction blocks rebuild transactionsRoot from the JSON transaction objects.
    @Test func fullTransactionBlocksRebuildTransactionsRoot() throws {
        for file in ["eth_getBlockByNumber/get-latest.io", "eth_getBlockByHash/get-block-by-hash.io"] {
            let report = try BlockVerifier.verify(block: JSONValue.parse(Fixtures.exchange(file).resultJSON))
            let check = try #require(report.checks.first { $0.name == "transactionsRoot" })
            #expect(check.performed, "\(file): \(check.detail)")
        }
        let hashesOnly = try BlockVerifier.verify(block: JSONValue.parse(Fixtures.exchange("eth_getBlockByNumber/get-block-prague-fork.io").resultJSON))
        #expect(hashesOnly.checks.contains { $0.name == "transactionsRoot" && !$0.performed })
    }

    /// Transactions of every type in eth_getTransactionByHash/*.io encode to bytes that hash to their `hash`.
    @Test func transactionsOfEveryTypeHashCorrectly() throws {
        var types: Set<String> = []
        for file in try Fixtures.files(in: "eth_getTransactionByHash") {
            let exchange = try Fixtures.exchange(file)
            guard let tx = exchange.result as? [String: Any] else { continue }
            let encoded = try TransactionEncoding.encode(json: JSONValue.parse(exchange.resultJSON), path: file)
            #expect(Keccak256.hash(encoded).description == tx["hash"] as? String, "\(file)")
            types.insert(tx["type"] as! String)
        }
        #expect(types.isSuperset(of: ["0x0", "0x1", "0x2", "0x3", "0x4"]))
    }

    /// eth_getProof/*.io: every proof verifies against the stateRoot of block 0x36, where they were taken.
    @Test func recordedProofsVerify() throws {
        let head = try #require(chain.blocks.last?.header)
        let files = try Fixtures.files(in: "eth_getProof")
        #expect(files.count == 4)
        var storageSlots = 0
        for file in files {
            let proof = try AccountProof(json: JSONValue.parse(Fixtures.exchange(file).resultJSON))
            let report = try proof.verify(stateRoot: head.stateRoot)
            #expect(report.checks.first?.detail.contains("exists with balance 0x76") == true, "\(file)")
            storageSlots += proof.storageProofs.count
        }
        #expect(storageSlots == 1)
    }

    /// eth_getBlockReceipts/*.io: the receipts of each block rebuild that block's receiptsRoot.
    @Test func recordedBlockReceiptsRebuildRoot() throws {
        var rebuilt = 0
        for file in try Fixtures.files(in: "eth_getBlockReceipts") {
            let exchange = try Fixtures.exchange(file)
            guard let receipts = exchange.result as? [[String: Any]], let first = receipts.first else { continue }
            let header = try #require(chain.header(hash: Bytes32([UInt8](hex: first["blockHash"] as! String))!))
            try ReceiptsVerifier.verify(receipts: JSONValue.parse(exchange.resultJSON), receiptsRoot: header.receiptsRoot)
            rebuilt += 1
        }
        #expect(rebuilt == 3)
    }

    /// Typed receipts of every type (eth_getTransactionReceipt/*.io) encode as
    /// `type || rlp([status, cumulativeGasUsed, logsBloom, logs])`. (The recorded chain has no
    /// block whose every receipt is recorded and typed, so these cannot rebuild a root here;
    /// the legacy and pre-Byzantium forms above do.)
    @Test func typedReceiptsEncodeWithTypePrefix() throws {
        var types: Set<UInt8> = []
        for file in try Fixtures.files(in: "eth_getTransactionReceipt") {
            let exchange = try Fixtures.exchange(file)
            guard let receipt = exchange.result as? [String: Any] else { continue }
            let encoded = try ReceiptEncoding.encode(json: JSONValue.parse(exchange.resultJSON), path: file)
            let type = try Hex.decodeQuantity(receipt["type"] as! String).first ?? 0
            let body = type == 0 ? encoded : Array(encoded.dropFirst())
            if type != 0 { #expect(encoded.first == type, "\(file)") }
            let fields = try #require(try RLP.decode(body).listItems, "\(file)")
            #expect(fields.count == 4)
            #expect(fields[1].byteString == (try Hex.decodeQuantity(receipt["cumulativeGasUsed"] as! String)))
            #expect(fields[2].byteString == [UInt8](hex: receipt["logsBloom"] as! String))
            #expect(fields[3].listItems?.count == (receipt["logs"] as! [Any]).count)
            types.insert(type)
        }
        #expect(types == [0, 1, 2, 3, 4])
    }
}
