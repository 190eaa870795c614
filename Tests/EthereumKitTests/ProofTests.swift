import Foundation
import Testing
@testable import EthereumKit

/// A seeded generator (SplitMix64), so a failing random case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }
}

@Suite struct MerkleProofTests {
    func randomEntries(_ count: Int, seed: UInt64) -> [(key: [UInt8], value: [UInt8])] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let key = Keccak256.hash(withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) }).bytes
            let value = (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return (key, value)
        }
    }

    /// Inclusion and exclusion proofs produced by the trie verify against its root,
    /// for tries from one entry (a lone leaf, root node < 32 bytes possible) to thousands.
    @Test(arguments: [1, 2, 3, 17, 300, 5000])
    func generatedProofsVerify(size: Int) throws {
        let entries = randomEntries(size, seed: UInt64(size))
        let root = MerklePatriciaTrie.root(of: entries)
        // Each proof re-encodes the whole trie, so big tries sample fewer keys.
        let samples = size > 1000 ? 8 : 50
        for entry in entries.prefix(samples) {
            let proof = MerklePatriciaTrie.proof(forKey: entry.key, in: entries)
            #expect(try MerkleProof.value(forKey: entry.key, root: root, proof: proof) == entry.value)
        }
        for i in 0..<samples {
            let absent = Keccak256.hash(Array("absent-\(i)".utf8)).bytes
            let proof = MerklePatriciaTrie.proof(forKey: absent, in: entries)
            #expect(try MerkleProof.value(forKey: absent, root: root, proof: proof) == nil)
        }
    }

    @Test func shortKeysWithEmbeddedNodes() throws {
        // Small values make nodes shorter than 32 bytes, which are embedded in their parent.
        let entries: [(key: [UInt8], value: [UInt8])] = (0..<64).map { (i: Int) -> (key: [UInt8], value: [UInt8]) in
            (key: [UInt8((i * 37) % 256)], value: [UInt8(i + 1)])
        }
        let root = MerklePatriciaTrie.root(of: entries)
        for entry in entries {
            let proof = MerklePatriciaTrie.proof(forKey: entry.key, in: entries)
            #expect(try MerkleProof.value(forKey: entry.key, root: root, proof: proof) == entry.value)
        }
        let absentProof = MerklePatriciaTrie.proof(forKey: [0x01], in: entries)
        #expect(try MerkleProof.value(forKey: [0x01], root: root, proof: absentProof) == nil)
    }

    @Test func emptyTrieProvesAbsence() throws {
        #expect(try MerkleProof.value(forKey: [1, 2, 3], root: .emptyTrieRoot, proof: []) == nil)
        #expect(throws: VerificationError.self) { try MerkleProof.value(forKey: [1], root: .zero, proof: []) }
    }

    /// Flipping any single bit of any byte of any node makes verification fail, never return a value.
    @Test func everyFlippedByteIsDetected() throws {
        let entries = randomEntries(2000, seed: 7)
        let root = MerklePatriciaTrie.root(of: entries)
        let key = entries[42].key
        let proof = MerklePatriciaTrie.proof(forKey: key, in: entries)
        #expect(proof.count >= 3)
        var checked = 0
        for node in proof.indices {
            for byte in proof[node].indices {
                var tampered = proof
                tampered[node][byte] ^= 0x01
                #expect(throws: VerificationError.self, "node \(node) byte \(byte)") {
                    try MerkleProof.value(forKey: key, root: root, proof: tampered)
                }
                checked += 1
            }
        }
        #expect(checked > 500)
    }

    @Test func extraOrMissingNodesAreRejected() throws {
        let entries = randomEntries(500, seed: 3)
        let root = MerklePatriciaTrie.root(of: entries)
        let key = entries[1].key
        let proof = MerklePatriciaTrie.proof(forKey: key, in: entries)
        do {
            _ = try MerkleProof.value(forKey: key, root: root, proof: proof + [proof[0]])
            Issue.record("an unused node was accepted")
        } catch {
            #expect(error.message == "proof has 1 node(s) after the end of the path")
        }
        do {
            _ = try MerkleProof.value(forKey: key, root: root, proof: Array(proof.dropLast()))
            Issue.record("a truncated proof was accepted")
        } catch {
            #expect(error.kind == .malformedInput)
            #expect(error.message.hasPrefix("proof ends after"))
        }
        // A proof for another key does not prove this one.
        let other = MerklePatriciaTrie.proof(forKey: entries[2].key, in: entries)
        #expect(throws: VerificationError.self) { try MerkleProof.value(forKey: key, root: root, proof: other) }
    }
}

@Suite struct RecordedProofTamperingTests {
    let proofJSON: [String: Any]
    let stateRoot: Bytes32

    init() throws {
        proofJSON = try Fixtures.exchange("eth_getProof/get-account-proof-with-storage.io").result as! [String: Any]
        let latest = try Fixtures.exchange("eth_getBlockByNumber/get-latest.io").result as! [String: Any]
        stateRoot = Bytes32([UInt8](hex: latest["stateRoot"] as! String))!
    }

    private func verify(_ json: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: json)
        try AccountProof(json: JSONValue.parse(data)).verify(stateRoot: stateRoot)
    }

    /// A flipped byte anywhere in the recorded account proof or storage proof fails verification.
    @Test func flippedByteAnywhereInTheRecordedProofFails() throws {
        try verify(proofJSON)
        var failures = 0
        let accountNodes = proofJSON["accountProof"] as! [String]
        for node in accountNodes.indices {
            let bytes = [UInt8](hex: accountNodes[node])
            for byte in bytes.indices {
                var tampered = bytes
                tampered[byte] ^= 0x80
                var nodes = accountNodes
                nodes[node] = Hex.encode(tampered)
                var json = proofJSON
                json["accountProof"] = nodes
                #expect(throws: VerificationError.self) { try verify(json) }
                failures += 1
            }
        }
        var storage = proofJSON["storageProof"] as! [[String: Any]]
        let storageNodes = storage[0]["proof"] as! [String]
        for node in storageNodes.indices {
            let bytes = [UInt8](hex: storageNodes[node])
            for byte in bytes.indices {
                var tampered = bytes
                tampered[byte] ^= 0x01
                var nodes = storageNodes
                nodes[node] = Hex.encode(tampered)
                storage[0]["proof"] = nodes
                var json = proofJSON
                json["storageProof"] = storage
                #expect(throws: VerificationError.self) { try verify(json) }
                failures += 1
            }
        }
        #expect(failures > 1000)
    }

    @Test func claimedFieldsMustMatch() throws {
        for (field, value) in [("nonce", "0x1"), ("balance", "0x77"), ("codeHash", Bytes32.emptyCodeHash.description),
                               ("storageHash", Bytes32.emptyTrieRoot.description)] {
            var json = proofJSON
            json[field] = value
            do {
                try verify(json)
                Issue.record("\(field) = \(value) was accepted")
            } catch let error as VerificationError {
                #expect(error.kind == .mismatch)
                #expect(error.message.hasPrefix(field), "\(error.message)")
            }
        }
        var storage = proofJSON["storageProof"] as! [[String: Any]]
        storage[0]["value"] = "0x39"
        var json = proofJSON
        json["storageProof"] = storage
        #expect(throws: VerificationError.mismatch("storageProof[0]: the answer says slot 0x0000000000000000000000000000000000000000000000000000000000000000 holds 0x39 but the proof holds 0x38")) {
            try verify(json)
        }
    }

    /// An absent account and an absent slot are proven by exclusion proofs, and must be claimed as empty.
    @Test func exclusionProofs() throws {
        // A generated state trie: accounts as the state trie holds them.
        let storageEntries = [(key: Keccak256.hash([UInt8](repeating: 0, count: 32)).bytes, value: RLP.encode(.uint(0x38)))]
        let storageRoot = MerklePatriciaTrie.root(of: storageEntries)
        let accounts = (0..<200).map { i -> (key: [UInt8], value: [UInt8]) in
            let address = [UInt8](repeating: UInt8(i), count: 20)
            let account = RLPItem.list([.uint(UInt64(i)), .uint(1000), .bytes(storageRoot.bytes), .bytes(Bytes32.emptyCodeHash.bytes)])
            return (Keccak256.hash(address).bytes, RLP.encode(account))
        }
        let root = MerklePatriciaTrie.root(of: accounts)
        let missing = [UInt8](repeating: 0xEE, count: 20)
        let slot1 = [UInt8](repeating: 0, count: 31) + [1]
        func proof(address: [UInt8], nonce: String, balance: String, storageHash: Bytes32, slotValue: String) -> [String: Any] {
            [
                "address": Hex.encode(address), "balance": balance, "nonce": nonce,
                "codeHash": Bytes32.emptyCodeHash.description, "storageHash": storageHash.description,
                "accountProof": MerklePatriciaTrie.proof(forKey: Keccak256.hash(address).bytes, in: accounts).map { Hex.encode($0) },
                "storageProof": [[
                    "key": "0x1", "value": slotValue,
                    "proof": MerklePatriciaTrie.proof(forKey: Keccak256.hash(slot1).bytes, in: storageEntries).map { Hex.encode($0) },
                ]],
            ]
        }
        func check(_ json: [String: Any]) throws -> VerificationReport {
            try AccountProof(json: JSONValue.parse(JSONSerialization.data(withJSONObject: json))).verify(stateRoot: root)
        }
        let present = [UInt8](repeating: 5, count: 20)
        let report = try check(proof(address: present, nonce: "0x5", balance: "0x3e8", storageHash: storageRoot, slotValue: "0x0"))
        #expect(report.checks.map(\.detail).last == "slot 0x0000000000000000000000000000000000000000000000000000000000000001 = 0x0")
        #expect(throws: VerificationError.self) {
            try check(proof(address: present, nonce: "0x5", balance: "0x3e8", storageHash: storageRoot, slotValue: "0x1"))
        }
        var absent = proof(address: missing, nonce: "0x0", balance: "0x0", storageHash: .emptyTrieRoot, slotValue: "0x0")
        absent["storageProof"] = [["key": "0x1", "value": "0x0", "proof": [String]()]]
        #expect(try check(absent).checks.first?.detail.contains("does not exist") == true)
        absent["balance"] = "0x1"
        do {
            _ = try check(absent)
            Issue.record("a balance for an absent account was accepted")
        } catch let error as VerificationError {
            #expect(error.message.contains("does not exist, but the answer claims balance 0x1"))
        }
    }
}

@Suite struct TamperedBlockAndReceiptTests {
    /// Changing any byte of any header field of a recorded block makes verification fail.
    @Test(arguments: ["get-genesis.io", "get-block-london-fork.io", "get-block-shanghai-fork.io", "get-block-prague-fork.io"])
    func everyHeaderFieldIsCovered(file: String) throws {
        let block = try Fixtures.exchange("eth_getBlockByNumber/" + file).result as! [String: Any]
        let headerFields = ["parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
                            "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce"]
            + BlockHeader.forkFields
        var tampered = 0
        for field in headerFields {
            guard let value = block[field] as? String else { continue }
            // Flip the last hex digit (or add a byte to empty data) so the value stays well-formed.
            let changed: String
            if value == "0x" {
                changed = "0x01"
            } else {
                let last = value.last!
                changed = String(value.dropLast()) + (last == "1" ? "2" : "1")
            }
            var json = block
            json[field] = changed
            let data = try JSONSerialization.data(withJSONObject: json)
            do {
                try BlockVerifier.verify(block: JSONValue.parse(data))
                Issue.record("\(file): changed \(field) was accepted")
            } catch {
                #expect(error.kind == .mismatch, "\(file) \(field): \(error.message)")
            }
            tampered += 1
        }
        #expect(tampered >= 15)
    }

    /// Changing a byte of any receipt field makes the receipts root (or the bloom check) fail.
    @Test func everyReceiptFieldIsCovered() throws {
        let exchange = try Fixtures.exchange("eth_getBlockReceipts/get-block-receipts-latest.io")
        let receipts = exchange.result as! [[String: Any]]
        let latest = try Fixtures.exchange("eth_getBlockByNumber/get-latest.io").result as! [String: Any]
        let root = Bytes32([UInt8](hex: latest["receiptsRoot"] as! String))!
        try ReceiptsVerifier.verify(receipts: JSONValue.parse(exchange.resultJSON), receiptsRoot: root)

        func fails(_ edited: [[String: Any]], _ what: String) throws {
            let data = try JSONSerialization.data(withJSONObject: edited)
            #expect(throws: VerificationError.self, "\(what)") {
                try ReceiptsVerifier.verify(receipts: JSONValue.parse(data), receiptsRoot: root)
            }
        }
        for i in receipts.indices {
            for field in ["status", "cumulativeGasUsed", "logsBloom", "type"] {
                var edited = receipts
                let value = edited[i][field] as! String
                edited[i][field] = field == "status" ? (value == "0x1" ? "0x0" : "0x1")
                    : field == "type" ? (value == "0x0" ? "0x2" : "0x0")
                    : String(value.dropLast()) + (value.last == "1" ? "2" : "1")
                try fails(edited, "receipt \(i) \(field)")
            }
            let logs = receipts[i]["logs"] as! [[String: Any]]
            for l in logs.indices {
                for field in ["address", "data"] {
                    var edited = receipts
                    var editedLogs = logs
                    let value = editedLogs[l][field] as! String
                    editedLogs[l][field] = value == "0x" ? "0x00" : String(value.dropLast()) + (value.last == "1" ? "2" : "1")
                    edited[i]["logs"] = editedLogs
                    try fails(edited, "receipt \(i) log \(l) \(field)")
                }
            }
        }
        // A missing receipt or a swapped order fails too.
        try fails(Array(receipts.dropLast()), "missing receipt")
        var swapped = receipts
        swapped.swapAt(0, 1)
        swapped[0]["transactionIndex"] = "0x0"
        swapped[1]["transactionIndex"] = "0x1"
        try fails(swapped, "swapped receipts")
    }
}
