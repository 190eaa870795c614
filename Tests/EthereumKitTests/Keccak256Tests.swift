import Testing
@testable import EthereumKit

@Suite struct Keccak256Tests {
    @Test func knownVectors() {
        #expect(Keccak256.hash([UInt8]()).description == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(Keccak256.hash(Array("abc".utf8)).description == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    }

    @Test func isNotSHA3() {
        // SHA3-256("") differs only by padding; make sure we did not implement that one.
        #expect(Keccak256.hash([UInt8]()).description != "0xa7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
    }
}

@Suite struct Keccak256LengthTests {
    /// Every length around the 136-byte block boundary and several multi-block inputs,
    /// against an independent implementation (vectors from pycryptodome, see the fixture).
    @Test func matchesReferenceAtEveryLength() throws {
        let fixture = try Fixtures.json("keccak256-vectors.json") as! [String: Any]
        let vectors = fixture["vectors"] as! [String: String]
        #expect(vectors.count == 305)
        for (length, digest) in vectors {
            let input = (0..<Int(length)!).map { UInt8(($0 * 7 + 3) % 256) }
            #expect(Keccak256.hash(input).description == "0x" + digest, "length \(length)")
            #expect(Keccak256.hash(input[...]).description == "0x" + digest, "slice of length \(length)")
        }
    }
}
