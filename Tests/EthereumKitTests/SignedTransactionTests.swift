import Foundation
import Testing
@testable import EthereumKit

/// Signed transactions against independent data: the EIP-155 example, raw transactions
/// recorded from geth by execution-apis (whose senders the same recordings report as
/// `from`), and the strict decoding rules a node applies to `eth_sendRawTransaction`.
@Suite struct SignedTransactionTests {
    static let eip155Key = [UInt8](hex: "4646464646464646464646464646464646464646464646464646464646464646")
    static let eip155Raw = [UInt8](hex:
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a0"
        + "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a0"
        + "67cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83")
    /// The chain id of the execution-apis test chain.
    static let recordedChainId: UInt64 = 0xC_72DD_9D5E_883E

    // MARK: EIP-155

    /// The example of EIP-155: signing it reproduces the published signing data, hash and
    /// raw transaction byte for byte, which pins keccak, RLP, RFC 6979 and low-s together.
    @Test func eip155ExampleSignsToThePublishedTransaction() throws {
        let tx = try SignedTransaction.signed(
            kind: .legacy, chainId: 1, nonce: 9, gasPrice: [UInt8](hex: "04a817c800"), gas: 21000,
            to: [UInt8](hex: "3535353535353535353535353535353535353535"), value: [UInt8](hex: "0de0b6b3a7640000"),
            privateKey: Self.eip155Key)
        let signingData = [UInt8](hex: "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080")
        #expect(tx.signingHash == Keccak256.hash(signingData))
        #expect(tx.signingHash.description == "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
        #expect(tx.raw == Self.eip155Raw)
        #expect(tx.v == [37])
        #expect(Hex.encode(try tx.sender()) == "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f")
    }

    /// Decoding the published raw transaction yields its fields, and its sender.
    @Test func eip155ExampleDecodes() throws {
        let tx = try SignedTransaction(raw: Self.eip155Raw)
        #expect(tx.kind == .legacy)
        #expect(tx.chainId == 1)
        #expect(tx.nonce == 9)
        #expect(tx.gasPrice == [UInt8](hex: "04a817c800"))
        #expect(tx.maxFeePerGas == tx.gasPrice && tx.maxPriorityFeePerGas == tx.gasPrice)
        #expect(tx.gas == 21000)
        #expect(tx.to == [UInt8](repeating: 0x35, count: 20))
        #expect(tx.value == [UInt8](hex: "0de0b6b3a7640000"))
        #expect(tx.input.isEmpty && tx.accessList.isEmpty)
        #expect(Hex.encode(tx.r, prefix: false) == "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276")
        #expect(tx.encoded() == Self.eip155Raw)
        #expect(Hex.encode(try tx.sender()) == "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f")
    }

    // MARK: Recorded transactions

    /// debug_getRawTransaction/get-tx.io: a pre-EIP-155 contract creation (v = 28) hashes to
    /// the requested hash and recovers the `from` that eth_getTransactionByHash reports for it.
    @Test func recordedRawTransactionRecoversItsSender() throws {
        let exchange = try #require(try Self.exchanges("debug_getRawTransaction/get-tx.io").first { $0.result is String })
        let tx = try SignedTransaction(raw: [UInt8](hex: exchange.result as! String))
        let requested = try #require((exchange.request["params"] as? [Any])?.first as? String)
        #expect(tx.hash.description == requested)
        #expect(tx.chainId == nil)
        #expect(tx.to == nil)
        #expect(tx.v == [28])
        let recorded = try #require(try Fixtures.exchange("eth_getTransactionByHash/get-legacy-create.io").result as? [String: Any])
        #expect(recorded["hash"] as? String == requested)
        #expect(Hex.encode(try tx.sender()) == recorded["from"] as? String)
    }

    /// Every transaction of types 0, 1 and 2 in chain.rlp (242 of them) decodes, re-encodes
    /// to its exact bytes and recovers a sender. Where a recording reports the same hash
    /// with a `from` (11 transactions of all three kinds), that is the sender recovered; and
    /// every sender is the one account genesis.json funds. Types 3 and 4 are refused by name.
    @Test func recordedChainTransactionsDecodeAndRecoverTheirSenders() throws {
        let chain = try RecordedChain.load()
        let recordedSenders = try Self.recordedSenders()
        var decoded: [SignedTransaction.Kind: Int] = [:]
        var matched: [SignedTransaction.Kind: Int] = [:]
        var refused = 0
        var senders: Set<String> = []
        for block in chain.blocks {
            for item in try #require(block.item.listItems?[1].listItems) {
                // Legacy transactions are RLP lists inside the block; typed ones are byte strings.
                let raw: [UInt8]
                if case .bytes(let typed) = item { raw = typed } else { raw = RLP.encode(item) }
                if raw[0] == 3 || raw[0] == 4 {
                    #expect(throws: TransactionDecodingError("transaction type \(raw[0]) not supported")) {
                        try SignedTransaction(raw: raw)
                    }
                    refused += 1
                    continue
                }
                let tx = try SignedTransaction(raw: raw)
                #expect(tx.encoded() == raw, "block \(block.header.blockNumber)")
                if tx.kind != .legacy || tx.chainId != nil { #expect(tx.chainId == Self.recordedChainId) }
                let sender = try tx.sender()
                decoded[tx.kind, default: 0] += 1
                senders.insert(Hex.encode(sender))
                if let from = recordedSenders[tx.hash.description] {
                    #expect(Hex.encode(sender) == from, "transaction \(tx.hash)")
                    matched[tx.kind, default: 0] += 1
                }
            }
        }
        #expect(decoded == [.legacy: 196, .accessList: 23, .dynamicFee: 23])
        #expect(refused == 7)
        #expect(matched == [.legacy: 9, .accessList: 1, .dynamicFee: 1])
        #expect(senders == ["0x7435ed30a8b4aeb0877cef0c6e8cffe834eb865f"])
    }

    /// eth_sendRawTransaction/*.io: each raw transaction hashes to the hash the node
    /// answered, re-encodes exactly and recovers the `from` that txpool_content reports for
    /// it (an account other than the chain's, so recovery is not matching a constant);
    /// the blob one is refused.
    @Test func sentRawTransactionsHashToTheNodesAnswer() throws {
        let recordedSenders = try Self.recordedSenders()
        var kinds: Set<SignedTransaction.Kind> = []
        for file in try Fixtures.files(in: "eth_sendRawTransaction") {
            let exchange = try Fixtures.exchange(file)
            let raw = [UInt8](hex: try #require((exchange.request["params"] as? [Any])?.first as? String))
            if raw[0] == 3 {
                #expect(throws: TransactionDecodingError("transaction type 3 not supported")) { try SignedTransaction(raw: raw) }
                continue
            }
            let tx = try SignedTransaction(raw: raw)
            #expect(tx.hash.description == exchange.result as? String, "\(file)")
            #expect(tx.encoded() == raw)
            #expect(tx.chainId == Self.recordedChainId)
            let from = try #require(recordedSenders[tx.hash.description], "\(file): txpool_content lists the transaction")
            #expect(Hex.encode(try tx.sender()) == from)
            #expect(from == "0x0c2c51a0990aee1d73c1228de158688341557508")
            kinds.insert(tx.kind)
        }
        #expect(kinds == [.legacy, .accessList, .dynamicFee])
    }

    // MARK: Signing

    /// A transaction of each kind, signed and decoded again: the fields survive, the
    /// sender is the key's address, and a changed field changes the recovered sender.
    @Test(arguments: [SignedTransaction.Kind.legacy, .accessList, .dynamicFee])
    func signedTransactionsRoundTrip(kind: SignedTransaction.Kind) throws {
        let key = [UInt8](hex: "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        let accessList = kind == .legacy ? [] : [SignedTransaction.AccessListEntry(
            address: [UInt8](repeating: 0xAB, count: 20), storageKeys: [[UInt8](repeating: 0, count: 31) + [1]])]
        let tx = try SignedTransaction.signed(
            kind: kind, chainId: Self.recordedChainId, nonce: 300,
            gasPrice: kind == .dynamicFee ? [] : [0x00, 0x3B, 0x9A, 0xCA, 0x00],
            maxPriorityFeePerGas: kind == .dynamicFee ? [0x01] : [],
            maxFeePerGas: kind == .dynamicFee ? [0x77, 0x35, 0x94, 0x00] : [],
            gas: 50_000, to: nil, value: [0x00, 0x00, 0x01], input: [0x60, 0x00], accessList: accessList,
            privateKey: key)
        #expect(tx.kind == kind)
        #expect(tx.raw.first.map { $0 >= 0xC0 } == (kind == .legacy))
        #expect(tx.nonce == 300 && tx.gas == 50_000 && tx.to == nil && tx.input == [0x60, 0x00])
        #expect(tx.value == [0x01], "leading zeros are dropped")
        #expect(tx.gasPrice == (kind == .dynamicFee ? [0x77, 0x35, 0x94, 0x00] : [0x3B, 0x9A, 0xCA, 0x00]))
        #expect(tx.maxPriorityFeePerGas == (kind == .dynamicFee ? [0x01] : [0x3B, 0x9A, 0xCA, 0x00]))
        #expect(tx.accessList == accessList)
        #expect(tx.chainId == Self.recordedChainId)
        #expect(try SignedTransaction(raw: tx.raw) == tx)
        #expect(Hex.encode(try tx.sender()) == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")

        var tampered = try SignedTransaction(raw: tx.raw)
        tampered.value = [0x02]
        let reencoded = try SignedTransaction(raw: tampered.encoded())
        #expect(reencoded.hash != tx.hash)
        #expect((try? reencoded.sender()) != (try tx.sender()))
    }

    /// Inputs that cannot make a valid transaction are refused before signing.
    @Test func signingRejectsInconsistentInputs() {
        let key = Self.eip155Key
        #expect(throws: SignatureError("a type 2 transaction takes maxPriorityFeePerGas and maxFeePerGas, not gasPrice")) {
            try SignedTransaction.signed(kind: .dynamicFee, chainId: 1, nonce: 0, gasPrice: [1], gas: 21000, to: nil, value: [], privateKey: key)
        }
        #expect(throws: SignatureError("a legacy transaction takes gasPrice, not maxPriorityFeePerGas or maxFeePerGas")) {
            try SignedTransaction.signed(kind: .legacy, chainId: 1, nonce: 0, maxFeePerGas: [1], gas: 21000, to: nil, value: [], privateKey: key)
        }
        #expect(throws: SignatureError("a legacy transaction has no access list")) {
            try SignedTransaction.signed(kind: .legacy, chainId: 1, nonce: 0, gas: 21000, to: nil, value: [],
                                         accessList: [.init(address: [UInt8](repeating: 1, count: 20))], privateKey: key)
        }
        #expect(throws: SignatureError("to is 19 bytes, expected 20")) {
            try SignedTransaction.signed(kind: .legacy, chainId: 1, nonce: 0, gas: 21000, to: [UInt8](repeating: 1, count: 19), value: [], privateKey: key)
        }
        #expect(throws: SignatureError("value is more than 256 bits")) {
            try SignedTransaction.signed(kind: .legacy, chainId: 1, nonce: 0, gas: 21000, to: nil, value: [UInt8](repeating: 1, count: 33), privateKey: key)
        }
        #expect(throws: SignatureError("private key is zero")) {
            try SignedTransaction.signed(kind: .legacy, chainId: 1, nonce: 0, gas: 21000, to: nil, value: [], privateKey: [UInt8](repeating: 0, count: 32))
        }
    }

    /// A legacy chain id beyond what fits in v's low bytes still round-trips (v = 2·chainId + 35/36).
    @Test func largestChainIdRoundTrips() throws {
        let tx = try SignedTransaction.signed(kind: .legacy, chainId: .max, nonce: 0, gas: 21000, to: nil, value: [], privateKey: Self.eip155Key)
        #expect(tx.chainId == .max)
        #expect(tx.v.count == 9)
        #expect(try tx.sender() == Secp256k1.address(publicKey: Secp256k1.publicKey(privateKey: Self.eip155Key)))
    }

    // MARK: Signature checks on decoded transactions

    /// The same transaction with s replaced by n − s (and the parity flipped) is a valid
    /// ECDSA signature that Ethereum refuses since EIP-2: it decodes, but has no sender.
    /// A v that does not match the chain id is refused as well.
    @Test func decodedTransactionsWithUnacceptableSignaturesHaveNoSender() throws {
        var tx = try SignedTransaction(raw: Self.eip155Raw)
        let highS = Secp256k1Tests.subtract(Secp256k1Tests.order, [UInt8](repeating: 0, count: 32 - tx.s.count) + tx.s)
        tx.s = highS
        tx.v = [38]
        let highSTransaction = try SignedTransaction(raw: tx.encoded())
        #expect(throws: SignatureError("s is in the upper half of the curve order (EIP-2 forbids high-s signatures)")) {
            try highSTransaction.sender()
        }
        var wrongChain = try SignedTransaction(raw: Self.eip155Raw)
        wrongChain.chainId = 5
        #expect(throws: SignatureError("legacy v = 37 does not match chainId 5 (45 or 46)")) { try wrongChain.sender() }
    }

    // MARK: Strict decoding

    struct StrictCase: Sendable, CustomTestStringConvertible {
        let name: String
        let raw: [UInt8]
        let message: String
        var testDescription: String { name }
    }

    static func legacyFields() -> [RLPItem] { RLP.decodeListForTest(eip155Raw) }

    /// A signed type 2 transaction with an access list, as its list of fields.
    static func dynamicFeeFields() -> [RLPItem] {
        let tx = try! SignedTransaction.signed(
            kind: .dynamicFee, chainId: 1, nonce: 1, maxPriorityFeePerGas: [1], maxFeePerGas: [2], gas: 21000,
            to: [UInt8](repeating: 0x35, count: 20), value: [1],
            accessList: [.init(address: [UInt8](repeating: 0x11, count: 20), storageKeys: [[UInt8](repeating: 0x22, count: 32)])],
            privateKey: eip155Key)
        return RLP.decodeListForTest(Array(tx.raw.dropFirst()))
    }

    static func replacing(_ fields: [RLPItem], _ index: Int, with item: RLPItem) -> [RLPItem] {
        var fields = fields
        fields[index] = item
        return fields
    }

    static func typed(_ type: UInt8, _ fields: [RLPItem]) -> [UInt8] { [type] + RLP.encode(.list(fields)) }

    static let strictCases: [StrictCase] = {
        let legacy = legacyFields()
        let dynamic = dynamicFeeFields()
        let accessListEntry = dynamic[8].listItems![0].listItems!
        // The EIP-155 example with its nonce 0x09 behind a one-byte string prefix, a non-canonical form.
        var prefixedNonce = eip155Raw
        prefixedNonce.replaceSubrange(0..<3, with: [0xF8, 0x6D, 0x81, 0x09])
        return [
            StrictCase(name: "empty input", raw: [], message: "empty input: no transaction bytes"),
            StrictCase(name: "trailing byte", raw: eip155Raw + [0x00],
                       message: "legacy transaction: invalid RLP at byte 110: 1 trailing byte(s) after the item"),
            StrictCase(name: "trailing byte after a typed payload", raw: typed(2, dynamic) + [0x80],
                       message: "type 2 transaction: invalid RLP at byte \(typed(2, dynamic).count): 1 trailing byte(s) after the item"),
            StrictCase(name: "non-canonical RLP", raw: prefixedNonce,
                       message: "legacy transaction: invalid RLP at byte 2: single byte 0x9 must be encoded as itself"),
            StrictCase(name: "leading zero in nonce", raw: RLP.encode(.list(replacing(legacy, 0, with: .bytes([0, 9])))),
                       message: "legacy transaction: nonce has leading zero bytes"),
            StrictCase(name: "leading zero in value", raw: typed(2, replacing(dynamic, 6, with: .bytes([0, 1]))),
                       message: "type 2 transaction: value has leading zero bytes"),
            StrictCase(name: "19-byte to", raw: RLP.encode(.list(replacing(legacy, 3, with: .bytes([UInt8](repeating: 0x35, count: 19))))),
                       message: "legacy transaction: to is 19 bytes, expected 20 or empty (contract creation)"),
            StrictCase(name: "legacy with 8 fields", raw: RLP.encode(.list(Array(legacy.dropLast()))),
                       message: "legacy transaction has 8 fields, expected 9"),
            StrictCase(name: "legacy with 10 fields", raw: RLP.encode(.list(legacy + [.bytes([])])),
                       message: "legacy transaction has 10 fields, expected 9"),
            StrictCase(name: "type 2 with 11 fields", raw: typed(2, Array(dynamic.dropLast())),
                       message: "type 2 transaction has 11 fields, expected 12"),
            StrictCase(name: "type 2 fields behind type byte 1", raw: typed(1, dynamic),
                       message: "type 1 transaction has 12 fields, expected 11"),
            StrictCase(name: "unknown type byte", raw: typed(5, dynamic), message: "unknown transaction type 0x5"),
            StrictCase(name: "highest type byte", raw: typed(0x7F, dynamic), message: "unknown transaction type 0x7f"),
            StrictCase(name: "blob transaction", raw: typed(3, dynamic), message: "transaction type 3 not supported"),
            StrictCase(name: "set-code transaction", raw: typed(4, dynamic), message: "transaction type 4 not supported"),
            StrictCase(name: "type byte 0", raw: typed(0, legacy),
                       message: "type byte 0x00 is not allowed: legacy transactions carry no type byte"),
            StrictCase(name: "type byte alone", raw: [2], message: "type 2 transaction has no payload after its type byte"),
            StrictCase(name: "RLP string instead of a list", raw: RLP.encode(.bytes(eip155Raw)),
                       message: "not a transaction: an RLP string, where a legacy transaction is an RLP list"),
            StrictCase(name: "typed payload that is a string", raw: [2] + RLP.encode(.bytes([1, 2, 3])),
                       message: "type 2 transaction: payload is an RLP string, expected a list of fields"),
            StrictCase(name: "9-byte nonce", raw: RLP.encode(.list(replacing(legacy, 0, with: .bytes([1] + [UInt8](repeating: 0, count: 8))))),
                       message: "legacy transaction: nonce is 9 bytes, more than 64 bits"),
            StrictCase(name: "9-byte chainId", raw: typed(2, replacing(dynamic, 0, with: .bytes([UInt8](repeating: 1, count: 9)))),
                       message: "type 2 transaction: chainId is 9 bytes, more than 64 bits"),
            StrictCase(name: "33-byte value", raw: RLP.encode(.list(replacing(legacy, 4, with: .bytes([UInt8](repeating: 1, count: 33))))),
                       message: "legacy transaction: value is 33 bytes, more than 256 bits"),
            StrictCase(name: "input as a list", raw: RLP.encode(.list(replacing(legacy, 5, with: .list([])))),
                       message: "legacy transaction: input is a list, expected a byte string"),
            StrictCase(name: "legacy v 29", raw: RLP.encode(.list(replacing(legacy, 6, with: .uint(29)))),
                       message: "legacy transaction: v = 29 is neither 27/28 nor chainId·2 + 35/36"),
            StrictCase(name: "legacy v beyond a 64-bit chainId",
                       raw: RLP.encode(.list(replacing(legacy, 6, with: .bytes([0x02] + [UInt8](repeating: 0, count: 7) + [0x23])))),
                       message: "legacy transaction: v = 36893488147419103267 encodes a chainId beyond 64 bits"),
            StrictCase(name: "yParity 2", raw: typed(2, replacing(dynamic, 9, with: .uint(2))),
                       message: "type 2 transaction: yParity is 0x02, expected 0 or 1"),
            StrictCase(name: "yParity 0 with a leading zero", raw: typed(2, replacing(dynamic, 9, with: .bytes([0]))),
                       message: "type 2 transaction: yParity has leading zero bytes"),
            StrictCase(name: "access list as a string", raw: typed(2, replacing(dynamic, 8, with: .bytes([]))),
                       message: "type 2 transaction: accessList is a byte string, expected a list"),
            StrictCase(name: "19-byte access-list address",
                       raw: typed(2, replacing(dynamic, 8, with: .list([.list([.bytes([UInt8](repeating: 0x11, count: 19)), accessListEntry[1]])]))),
                       message: "type 2 transaction: accessList[0].address is not 20 bytes"),
            StrictCase(name: "31-byte storage key",
                       raw: typed(2, replacing(dynamic, 8, with: .list([.list([accessListEntry[0], .list([.bytes([UInt8](repeating: 0x22, count: 31))])])]))),
                       message: "type 2 transaction: accessList[0].storageKeys[0] is not 32 bytes"),
            StrictCase(name: "access-list entry with 3 items",
                       raw: typed(2, replacing(dynamic, 8, with: .list([.list(accessListEntry + [.bytes([])])]))),
                       message: "type 2 transaction: accessList[0] is not a list of [address, storageKeys]"),
        ]
    }()

    /// Each malformed encoding is refused with its own one-line reason.
    @Test(arguments: strictCases)
    func strictDecodingRejects(_ testCase: StrictCase) {
        #expect(throws: TransactionDecodingError(testCase.message)) { try SignedTransaction(raw: testCase.raw) }
        #expect(!testCase.message.contains("\n"))
    }

    /// The cases above start from encodings that decode: what fails is only the change.
    @Test func strictCasesStartFromValidTransactions() throws {
        _ = try SignedTransaction(raw: RLP.encode(.list(Self.legacyFields())))
        _ = try SignedTransaction(raw: Self.typed(2, Self.dynamicFeeFields()))
    }

    // MARK: Fixture helpers

    /// Every request/response pair of an `.io` file (Fixtures.exchange reads only the first).
    static func exchanges(_ path: String) throws -> [(request: [String: Any], result: Any?)] {
        let text = String(decoding: try Fixtures.data("execution-apis/tests/" + path), as: UTF8.self)
        var pairs: [(request: [String: Any], result: Any?)] = []
        var request: [String: Any] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix(">> ") {
                request = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as? [String: Any] ?? [:]
            } else if line.hasPrefix("<< ") {
                let response = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as? [String: Any] ?? [:]
                pairs.append((request, response["result"]))
            }
        }
        return pairs
    }

    /// Transaction hash → `from` (lowercase hex), from every recorded answer that carries
    /// both (transactions, receipts, blocks with full transactions, block receipts, txpool).
    static func recordedSenders() throws -> [String: String] {
        var senders: [String: String] = [:]
        func collect(_ value: Any?) {
            if let object = value as? [String: Any] {
                if let from = object["from"] as? String,
                   let hash = (object["transactionHash"] ?? object["hash"]) as? String,
                   object["transactionIndex"] != nil {
                    senders[hash.lowercased()] = from.lowercased()
                }
                object.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        let directories = try FileManager.default.contentsOfDirectory(
            atPath: Fixtures.root.appendingPathComponent("execution-apis/tests").path)
        for directory in directories.sorted() {
            var isDirectory: ObjCBool = false
            let path = Fixtures.root.appendingPathComponent("execution-apis/tests/" + directory).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            for file in try Fixtures.files(in: directory) {
                for exchange in try exchanges(file) { collect(exchange.result) }
            }
        }
        return senders
    }
}

extension RLP {
    /// The items of a list encoding, for building test inputs.
    fileprivate static func decodeListForTest(_ bytes: [UInt8]) -> [RLPItem] {
        try! RLP.decode(bytes).listItems!
    }
}
