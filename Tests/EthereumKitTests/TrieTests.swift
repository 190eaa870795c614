import Foundation
import Testing
@testable import EthereumKit

@Suite struct TrieConformanceTests {
    /// Keys and values in TrieTests are bytes when `0x`-prefixed, else UTF-8 text; null deletes.
    private func bytes(_ value: Any) -> [UInt8] {
        guard let string = value as? String else { return [] }
        return string.hasPrefix("0x") ? [UInt8](hex: string) : Array(string.utf8)
    }

    private func run(_ file: String, secure: Bool, expectedCases: Int) throws {
        let cases = try Fixtures.json("ethereum-tests/TrieTests/\(file)") as! [String: [String: Any]]
        #expect(cases.count == expectedCases)
        for (name, testCase) in cases {
            var entries: [(key: [UInt8], value: [UInt8])] = []
            if let ordered = testCase["in"] as? [[Any]] {
                entries = ordered.map { (key: bytes($0[0]), value: bytes($0[1])) }
            } else if let map = testCase["in"] as? [String: Any] {
                entries = map.map { (key: bytes($0.key), value: bytes($0.value)) }
            }
            if secure { entries = entries.map { (key: Keccak256.hash($0.key).bytes, value: $0.value) } }
            let root = MerklePatriciaTrie.root(of: entries)
            #expect(root.description == testCase["root"] as! String, "\(file) \(name)")
        }
    }

    @Test func trietest() throws { try run("trietest.json", secure: false, expectedCases: 5) }
    @Test func trieanyorder() throws { try run("trieanyorder.json", secure: false, expectedCases: 7) }
    @Test func trietestSecure() throws { try run("trietest_secureTrie.json", secure: true, expectedCases: 3) }
    @Test func trieanyorderSecure() throws { try run("trieanyorder_secureTrie.json", secure: true, expectedCases: 7) }
    @Test func hexEncodedSecure() throws { try run("hex_encoded_securetrie_test.json", secure: true, expectedCases: 3) }

    @Test func emptyTrie() {
        #expect(MerklePatriciaTrie.root(of: []).description == "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
    }
}

@Suite struct GenesisTests {
    /// BasicTests/genesishashestest.json: the mainnet genesis block hashes to d4e567…
    @Test func mainnetGenesisHash() throws {
        let fixture = try Fixtures.json("ethereum-tests/BasicTests/genesishashestest.json") as! [String: String]
        let block = try RLP.decode([UInt8](hex: fixture["genesis_rlp_hex"]!))
        let header = try #require(block.listItems?.first)
        #expect(Keccak256.hash(RLP.encode(header)).description == "0x" + fixture["genesis_hash"]!)
        let stateRoot = try #require(header.listItems?[3].byteString)
        #expect(Hex.encode(stateRoot, prefix: false) == fixture["genesis_state_root"])
    }
}
