/// Consensus encoding of transaction receipts from their JSON-RPC form, to rebuild `receiptsRoot`.
///
/// A receipt is `rlp([status or post-state root, cumulativeGasUsed, logsBloom, logs])`,
/// prefixed by its type byte for typed transactions (1, 2, 3, 4). Receipts before
/// Byzantium carry the 32-byte post-transaction state `root` instead of `status`.
public enum ReceiptEncoding {
    public static func encode(json: JSONValue, path: String) throws(VerificationError) -> [UInt8] {
        let receipt = try JSONFields(json, path: path, what: "a receipt")
        let type = receipt.has("type") ? try receipt.uint64("type") : 0
        guard TransactionEncoding.knownTypes.contains(type) else {
            throw .malformed("\(path): receipt type 0x\(String(type, radix: 16)) is not one this version can encode")
        }
        let outcome: [UInt8]
        if receipt.has("status") {
            outcome = try receipt.quantity("status")
            guard outcome.isEmpty || outcome == [1] else {
                throw .malformed("field '\(receipt.name("status"))': expected 0x0 or 0x1")
            }
        } else if receipt.has("root") {
            outcome = try receipt.data("root", count: 32)
        } else {
            throw .malformed("\(path): receipt has neither 'status' nor 'root'")
        }
        let bloom = try receipt.data("logsBloom", count: 256)
        var logs: [RLPItem] = []
        var computedBloom = LogsBloom()
        for (i, entry) in try receipt.array("logs").enumerated() {
            let log = try JSONFields(entry, path: "\(receipt.name("logs"))[\(i)]", what: "a log")
            let address = try log.data("address", count: 20)
            computedBloom.insert(address)
            var topics: [RLPItem] = []
            for (t, topic) in try log.array("topics").enumerated() {
                guard case .string(let string) = topic, let bytes = try? Hex.decode(string), bytes.count == 32 else {
                    throw .malformed("\(log.name("topics"))[\(t)]: expected 32 bytes of hex")
                }
                computedBloom.insert(bytes)
                topics.append(.bytes(bytes))
            }
            logs.append(.list([.bytes(address), .list(topics), .bytes(try log.data("data"))]))
        }
        guard computedBloom.bytes == bloom else {
            throw .mismatch("\(path): logsBloom does not match the receipt's logs")
        }
        let body = RLP.encode(.list([
            .bytes(outcome), .bytes(try receipt.quantity("cumulativeGasUsed")), .bytes(bloom), .list(logs),
        ]))
        return type == 0 ? body : [UInt8(type)] + body
    }
}

/// The 2048-bit bloom filter of a receipt or block: for each log address and
/// topic, three bits chosen by keccak256 of the value.
public struct LogsBloom: Equatable, Sendable {
    public private(set) var bytes = [UInt8](repeating: 0, count: 256)

    public init() {}

    /// A bloom as a header or receipt carries it (256 bytes); nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 256 else { return nil }
        self.bytes = bytes
    }

    public mutating func insert(_ value: [UInt8]) {
        let hash = Keccak256.hash(value).bytes
        for i in stride(from: 0, to: 6, by: 2) {
            let bit = (Int(hash[i]) << 8 | Int(hash[i + 1])) & 2047
            bytes[255 - bit / 8] |= 1 << (bit % 8)
        }
    }

    /// Whether every bit of `value` is set: it may be in the set (never a false negative).
    public func mayContain(_ value: [UInt8]) -> Bool {
        var probe = LogsBloom()
        probe.insert(value)
        return zip(probe.bytes, bytes).allSatisfy { $0 & $1 == $0 }
    }
}
