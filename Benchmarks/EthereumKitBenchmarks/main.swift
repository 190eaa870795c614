import EthereumKit

var input = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
var sink: UInt64 = 0
let clock = ContinuousClock()
for _ in 0..<5 {
    let n = 300_000
    let t = clock.measure {
        input.withUnsafeMutableBytes { buf in
            for i in 0..<n {
                buf[0] = UInt8(truncatingIfNeeded: i)
                sink &+= UInt64(bitPattern: Int64(Keccak256.hash(UnsafeRawBufferPointer(buf)).hashValue))
            }
        }
    }
    let s = Double(t.components.seconds) + Double(t.components.attoseconds) / 1e18
    print("keccak256 1KiB: \(Double(n) * 1024 / s / 1e6) MB/s")
}
print(sink)
