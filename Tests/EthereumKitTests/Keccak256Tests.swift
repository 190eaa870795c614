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
