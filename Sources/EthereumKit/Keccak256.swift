/// Keccak-256 as Ethereum uses it: the original Keccak padding (`0x01 … 0x80`),
/// not the SHA3-256 padding (`0x06 … 0x80`) that FIPS 202 later standardised.
public enum Keccak256 {
    /// Bytes absorbed per permutation: 1600 bits of state minus 2 × 256 bits of capacity.
    static let rate = 136

    /// Hash of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Bytes32 {
        var state = KeccakState()
        var offset = 0
        let count = bytes.count
        while count - offset >= rate {
            state.absorb(bytes.baseAddress! + offset)
            state.permute()
            offset += rate
        }
        // Final block: the tail, then the multi-rate padding 0x01 … 0x80.
        withUnsafeTemporaryAllocation(byteCount: rate, alignment: 8) { block in
            block.initializeMemory(as: UInt8.self, repeating: 0)
            if count > offset {
                block.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count - offset)
            }
            block[count - offset] ^= 0x01
            block[rate - 1] ^= 0x80
            state.absorb(UnsafeRawPointer(block.baseAddress!))
        }
        state.permute()
        return state.digest
    }

    /// Hash of `bytes`.
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>) -> Bytes32 {
        if let digest = bytes.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(bytes).withUnsafeBytes { hash($0) }
    }
}

/// The 5 × 5 lanes of 64 bits that Keccak-f[1600] permutes; lane `x + 5y` is element `x + 5y`.
/// Lanes 1, 2, 8, 12, 17 and 20 are held inverted (see `scripts/generate-keccak.py`),
/// so the all-zero initial state starts with those lanes all ones.
struct KeccakState {
    var lanes: (
        UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64
    ) = (0, ~0, ~0, 0, 0, 0, 0, 0, ~0, 0, 0, 0, ~0, 0, 0, 0, 0, ~0, 0, 0, ~0, 0, 0, 0, 0)

    /// XORs one 136-byte block (17 little-endian lanes) into the state.
    @inline(__always)
    mutating func absorb(_ block: UnsafeRawPointer) {
        @inline(__always) func word(_ i: Int) -> UInt64 {
            UInt64(littleEndian: block.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
        }
        lanes.0 ^= word(0); lanes.1 ^= word(1); lanes.2 ^= word(2); lanes.3 ^= word(3)
        lanes.4 ^= word(4); lanes.5 ^= word(5); lanes.6 ^= word(6); lanes.7 ^= word(7)
        lanes.8 ^= word(8); lanes.9 ^= word(9); lanes.10 ^= word(10); lanes.11 ^= word(11)
        lanes.12 ^= word(12); lanes.13 ^= word(13); lanes.14 ^= word(14); lanes.15 ^= word(15)
        lanes.16 ^= word(16)
    }

    /// The first 256 bits of the state, in byte order.
    var digest: Bytes32 {
        Bytes32(words: (lanes.0.littleEndian, (~lanes.1).littleEndian, (~lanes.2).littleEndian, lanes.3.littleEndian))
    }
}
