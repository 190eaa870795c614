import Foundation
import Testing
@testable import EthereumKit

@Suite struct RLPConformanceTests {
    /// ethereum/tests RLPTests/rlptest.json: every case encodes to `out` and decodes back.
    @Test func validCases() throws {
        let cases = try Fixtures.json("ethereum-tests/RLPTests/rlptest.json") as! [String: [String: Any]]
        #expect(cases.count == 28)
        for (name, testCase) in cases {
            let expected = [UInt8](hex: testCase["out"] as! String)
            let item = try rlpItem(fromTestInput: testCase["in"]!)
            #expect(RLP.encode(item) == expected, "\(name): encoding")
            #expect(RLP.encodedLength(item) == expected.count, "\(name): length")
            #expect(try RLP.decode(expected) == item, "\(name): decoding")
        }
    }

    /// ethereum/tests RLPTests/invalidRLPTest.json: every case is rejected.
    @Test func invalidCases() throws {
        let cases = try Fixtures.json("ethereum-tests/RLPTests/invalidRLPTest.json") as! [String: [String: Any]]
        #expect(cases.count == 26)
        for (name, testCase) in cases {
            let bytes = [UInt8](hex: testCase["out"] as! String)
            #expect(throws: RLPError.self, "\(name) must be rejected") { try RLP.decode(bytes) }
        }
    }

    @Test func strictDecodingReasons() throws {
        func reason(_ hex: String) -> String {
            do {
                _ = try RLP.decode([UInt8](hex: hex))
                return "accepted"
            } catch {
                return error.reason
            }
        }
        #expect(reason("8105") == "single byte 0x5 must be encoded as itself")
        #expect(reason("b80100") == "long form used for a string of 1 bytes (must be 56 or more)")
        #expect(reason("b900380000") == "string length has leading zero bytes")
        #expect(reason("8361") == "string declares 3 bytes but only 1 remain")
        #expect(reason("0102") == "1 trailing byte(s) after the item")
        #expect(reason("c28201") == "string declares 2 bytes but only 1 remain")
        #expect(reason("") == "empty input")
    }

    @Test func integerEncoding() {
        #expect(RLP.encode(.uint(0)) == [0x80])
        #expect(RLP.encode(.uint(0x7F)) == [0x7F])
        #expect(RLP.encode(.uint(0x80)) == [0x81, 0x80])
        #expect(RLP.encode(.uint(0x0400)) == [0x82, 0x04, 0x00])
    }

    /// The fixture format: strings are bytes, integers are big-endian, "#digits" are big integers.
    private func rlpItem(fromTestInput value: Any) throws -> RLPItem {
        if let list = value as? [Any] {
            return .list(try list.map(rlpItem(fromTestInput:)))
        }
        if let string = value as? String {
            if string.hasPrefix("#") { return .bytes(bigEndian(decimal: String(string.dropFirst()))) }
            return .bytes(Array(string.utf8))
        }
        if let number = value as? NSNumber {
            return .uint(number.uint64Value)
        }
        throw CocoaError(.coderInvalidValue)
    }

    private func bigEndian(decimal: String) -> [UInt8] {
        var bytes: [UInt8] = []  // big-endian, minimal
        for digit in decimal.utf8 {
            var carry = Int(digit - 0x30)
            for i in stride(from: bytes.count - 1, through: 0, by: -1) {
                let v = Int(bytes[i]) * 10 + carry
                bytes[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
            while carry > 0 {
                bytes.insert(UInt8(carry & 0xFF), at: 0)
                carry >>= 8
            }
        }
        return bytes
    }
}

@Suite struct HexPrefixTests {
    /// ethereum/tests BasicTests/hexencodetest.json.
    @Test func conformance() throws {
        let cases = try Fixtures.json("ethereum-tests/BasicTests/hexencodetest.json") as! [String: [String: Any]]
        #expect(!cases.isEmpty)
        for (name, testCase) in cases {
            let nibbles = (testCase["seq"] as! [NSNumber]).map { UInt8($0.intValue) }
            let isLeaf = testCase["term"] as! Bool
            let encoded = HexPrefix.encode(nibbles, isLeaf: isLeaf)
            #expect(Hex.encode(encoded, prefix: false) == testCase["out"] as! String, "\(name)")
            let decoded = HexPrefix.decode(encoded)
            #expect(decoded?.nibbles == nibbles && decoded?.isLeaf == isLeaf, "\(name): round trip")
        }
    }

    @Test func rejectsBadFlags() {
        #expect(HexPrefix.decode([0x40]) == nil)
        #expect(HexPrefix.decode([0x05]) == nil)  // even path with non-zero padding nibble
        #expect(HexPrefix.decode([UInt8]()) == nil)
    }
}

@Suite struct HexTests {
    @Test func decoding() throws {
        #expect(try Hex.decode("0x00ff") == [0, 255])
        #expect(try Hex.decode("ABcd") == [0xAB, 0xCD])
        #expect(throws: HexError.oddLength(3)) { try Hex.decode("0x123") }
        #expect(throws: HexError.invalidCharacter(offset: 1)) { try Hex.decode("0x0g") }
        #expect(try Hex.decodeQuantity("0x0") == [])
        #expect(try Hex.decodeQuantity("0x400") == [0x04, 0x00])
        #expect(try Hex.decodeQuantity("0x0001") == [0x01])
        #expect(throws: HexError.missingPrefix) { try Hex.decodeQuantity("12") }
        #expect(throws: HexError.empty) { try Hex.decodeQuantity("0x") }
    }
}

@Suite struct RLPHostileInputTests {
    /// Nesting as deep as the input allows is refused with a reason instead of exhausting the stack.
    @Test func deepNestingIsRejected() throws {
        // 200,000 lists, each holding the next: prefixes computed inside out, written outside in.
        var prefixes: [[UInt8]] = []
        var length = 1
        for _ in 0..<200_000 {
            var prefix: [UInt8] = []
            RLP.appendListPrefix(payloadLength: length, to: &prefix)
            length += prefix.count
            prefixes.append(prefix)
        }
        let encoded: [UInt8] = Array(prefixes.reversed().joined()) + [0xC0]
        #expect(throws: RLPError.self) { try RLP.decode(encoded) }
        #expect(throws: VerificationError.self) {
            try MerkleProof.value(forKey: [1], root: Keccak256.hash(encoded), proof: [encoded])
        }
        // Within the limit it still decodes.
        var shallow: RLPItem = .list([])
        for _ in 0..<100 { shallow = .list([shallow]) }
        #expect(try RLP.decode(RLP.encode(shallow)) == shallow)
    }

    /// Found by the fuzzer (Fuzz/RLPFuzzer): `validate`, which checks proof nodes, accepted 129
    /// nested lists that `decode` refuses. Both now stop at `RLP.maxDepth` levels of lists.
    @Test func validateAndDecodeShareTheNestingBound() throws {
        func nestedLists(_ levels: Int) -> [UInt8] {
            var item: RLPItem = .list([])
            for _ in 1..<levels { item = .list([item]) }
            return RLP.encode(item)
        }
        let deepest = nestedLists(RLP.maxDepth)
        #expect(throws: Never.self) { try RLP.decode(deepest) }
        #expect(throws: Never.self) { try RLP.validate(deepest, from: 0, to: deepest.count) }
        let tooDeep = nestedLists(RLP.maxDepth + 1)
        #expect(throws: RLPError.self) { try RLP.decode(tooDeep) }
        #expect(throws: RLPError.self) { try RLP.validate(tooDeep, from: 0, to: tooDeep.count) }
    }
}
