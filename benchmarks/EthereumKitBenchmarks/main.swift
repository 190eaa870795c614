// Throughput of the verification primitives, on one core:
//   swift run -c release ethereumkit-bench
// Prints a Markdown table; each figure is the median of several timed runs.
import EthereumKit

let clock = ContinuousClock()

/// Median rate (operations per second) of `operations` calls of `body`, over `runs` runs.
func measure(runs: Int = 7, operations: Int, _ body: (Int) -> Void) -> Double {
    body(0)  // warm up
    var rates: [Double] = []
    for _ in 0..<runs {
        let elapsed = clock.measure {
            for i in 0..<operations { body(i) }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        rates.append(Double(operations) / seconds)
    }
    return rates.sorted()[runs / 2]
}

/// Keeps results alive so the optimiser cannot drop the work.
nonisolated(unsafe) var sink: UInt64 = 0
func consume(_ hash: Bytes32) {
    sink &+= UInt64(bitPattern: Int64(hash.hashValue))
}

// MARK: keccak256

func keccakRate(size: Int, operations: Int) -> Double {
    var input = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    return input.withUnsafeMutableBytes { buffer in
        measure(operations: operations) { i in
            buffer[0] = UInt8(truncatingIfNeeded: i)
            consume(Keccak256.hash(UnsafeRawBufferPointer(buffer)))
        }
    }
}

// MARK: proof verification

/// A mainnet-shaped account proof: seven full branch nodes (16 children each, as near
/// the top of mainnet's state trie) above a leaf holding the account: eight nodes.
func mainnetShapedProof() -> (proof: AccountProof, stateRoot: Bytes32) {
    var rng = SystemRandomNumberGenerator()
    let address = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let path = Keccak256.hash(address).bytes.flatMap { [$0 >> 4, $0 & 0x0F] }
    let account = RLP.encode(.list([.uint(7), .uint(1_234_567_890_123), .bytes(Bytes32.emptyTrieRoot.bytes),
                                    .bytes(Bytes32.emptyCodeHash.bytes)]))
    let depth = 7
    let leaf = RLP.encode(.list([.bytes(HexPrefix.encode(path[depth...], isLeaf: true)), .bytes(account)]))
    var nodes = [leaf]
    for level in stride(from: depth - 1, through: 0, by: -1) {
        var children: [RLPItem] = (0..<16).map { _ in .bytes((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        children[Int(path[level])] = .bytes(Keccak256.hash(nodes[0]).bytes)
        nodes.insert(RLP.encode(.list(children + [.bytes([])])), at: 0)
    }
    let json = """
        {"address":"\(Hex.encode(address))","balance":"0x11f71fb04cb","nonce":"0x7",
         "codeHash":"\(Bytes32.emptyCodeHash)","storageHash":"\(Bytes32.emptyTrieRoot)",
         "accountProof":[\(nodes.map { "\"\(Hex.encode($0))\"" }.joined(separator: ","))],"storageProof":[]}
        """
    let proof = try! AccountProof(json: JSONValue.parse(Array(json.utf8)))
    return (proof, Keccak256.hash(nodes[0]))
}

let (proof, stateRoot) = mainnetShapedProof()
try! proof.verify(stateRoot: stateRoot)
let proofBytes = proof.accountProof.reduce(0) { $0 + $1.count }

let keccak1KiB = keccakRate(size: 1024, operations: 200_000)
let keccak32 = keccakRate(size: 32, operations: 2_000_000)
let proofs = measure(operations: 50_000) { _ in
    _ = try! proof.verify(stateRoot: stateRoot)
}

func format(_ value: Double, decimals: Int = 0) -> String {
    var scaled = value
    for _ in 0..<decimals { scaled *= 10 }
    let rounded = Int(scaled.rounded())
    guard decimals > 0 else { return String(rounded) }
    var text = String(rounded)
    while text.count <= decimals { text = "0" + text }
    return String(text.dropLast(decimals)) + "." + String(text.suffix(decimals))
}

print("| benchmark | result | target |")
print("|---|---|---|")
print("| keccak256, 1 KiB inputs | \(format(keccak1KiB * 1024 / 1e6, decimals: 1)) MB/s | ≥ 400 MB/s |")
print("| keccak256, 32-byte inputs | \(format(keccak32 / 1e6, decimals: 2)) M hashes/s | — |")
print("| account proof, 8 nodes (\(proofBytes) bytes) | \(format(proofs)) proofs/s | ≥ 20,000 proofs/s |")
if sink == 42 { print("") }
