import BigInt

/// ECDSA over secp256k1 as Ethereum uses it: public keys, deterministic signatures
/// (RFC 6979, low-s), public-key recovery and addresses.
///
/// Written for correctness over speed: it signs simulated traffic and recovers senders
/// of transactions a gateway inspects. Not constant-time, so keep real funds' keys away.
public enum Secp256k1 {
    /// The order n of the generator, the modulus of private keys, r and s.
    static let order = BigUInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", radix: 16)!
    /// n / 2: the largest s Ethereum accepts (EIP-2).
    static let halfOrder = order >> 1

    /// The generator G.
    static let generator = JacobianPoint(
        affineX: FieldElement(l0: 0x59F2_815B_16F8_1798, l1: 0x029B_FCDB_2DCE_28D9, l2: 0x55A0_6295_CE87_0B07, l3: 0x79BE_667E_F9DC_BBAC),
        y: FieldElement(l0: 0x9C47_D08F_FB10_D4B8, l1: 0xFD17_B448_A685_5419, l2: 0x5DA4_FBFC_0E11_08A8, l3: 0x483A_DA77_26A3_C465))

    /// The 64-byte uncompressed public key (x ‖ y, without the 0x04 prefix) of a 32-byte
    /// private key. Throws if the key is not 32 bytes, is zero, or is not below n.
    public static func publicKey(privateKey: [UInt8]) throws(SignatureError) -> [UInt8] {
        let key = try scalar(privateKey: privateKey)
        return encode(generator.multiplied(by: bytes32(key)))
    }

    /// A deterministic ECDSA signature of a 32-byte message hash: the nonce comes from
    /// RFC 6979 (HMAC-SHA256), and s is normalised to the lower half (EIP-2) with the
    /// recovery id adjusted to match. `r` and `s` are 32 bytes big-endian each;
    /// `recoveryId` (0 or 1) is the parity of the y coordinate of the nonce point.
    public static func sign(messageHash: Bytes32, privateKey: [UInt8]) throws(SignatureError)
        -> (r: [UInt8], s: [UInt8], recoveryId: UInt8)
    {
        let key = try scalar(privateKey: privateKey)
        let z = integer(messageHash.bytes) % order
        var nonces = RFC6979Nonces(privateKey: bytes32(key), reducedHash: bytes32(z))
        while true {
            let candidate = nonces.next()
            let k = integer(candidate)
            guard k > 0, k < order else { continue }
            // Unwrapped: k is in [1, n), so k·G is never the point at infinity.
            let point = generator.multiplied(by: candidate).affine!
            let x = integer(point.x.bytes)
            // An x of n or more would need recovery id 2 or 3, which Ethereum cannot
            // carry; the chance is about 2⁻¹²⁸, and the next nonce is as good.
            guard x < order else { continue }
            let r = x
            var s = (k.inverse(order)! * ((z + r * key) % order)) % order
            guard r > 0, s > 0 else { continue }
            var recoveryId: UInt8 = point.y.isOdd ? 1 : 0
            if s > halfOrder {
                // (r, n − s) is the same signature for the point −R, whose y has the other parity.
                s = order - s
                recoveryId ^= 1
            }
            return (bytes32(r), bytes32(s), recoveryId)
        }
    }

    /// The 64-byte public key that produced a signature. `r` and `s` are big-endian,
    /// at most 32 bytes (shorter values, as transactions carry them, are left-padded).
    /// Rejects r or s of zero or not below n, s above n/2 (EIP-2: Ethereum refuses
    /// high-s transaction signatures), a recovery id above 1, and an r that is not
    /// the x coordinate of a curve point.
    public static func recoverPublicKey(messageHash: Bytes32, r: [UInt8], s: [UInt8], recoveryId: UInt8)
        throws(SignatureError) -> [UInt8]
    {
        guard r.count <= 32 else { throw SignatureError("r is \(r.count) bytes, more than 32") }
        guard s.count <= 32 else { throw SignatureError("s is \(s.count) bytes, more than 32") }
        let rValue = integer(r)
        let sValue = integer(s)
        guard rValue > 0 else { throw SignatureError("r is zero") }
        guard rValue < order else { throw SignatureError("r is not below the curve order") }
        guard sValue > 0 else { throw SignatureError("s is zero") }
        guard sValue < order else { throw SignatureError("s is not below the curve order") }
        guard sValue <= halfOrder else { throw SignatureError("s is in the upper half of the curve order (EIP-2 forbids high-s signatures)") }
        guard recoveryId <= 1 else { throw SignatureError("recovery id \(recoveryId) is not 0 or 1") }

        // R = (r, y) with y of the given parity; r < n < p, so r is a field element.
        let x = FieldElement(bigEndian: bytes32(rValue))!
        guard var y = (x.squared * x + .seven).squareRoot else {
            throw SignatureError("r is not the x coordinate of a point on secp256k1")
        }
        if y.isOdd != (recoveryId == 1) { y = -y }
        let noncePoint = JacobianPoint(affineX: x, y: y)

        // Q = r⁻¹ (s·R − z·G) = (−z·r⁻¹)·G + (s·r⁻¹)·R
        let z = integer(messageHash.bytes) % order
        let rInverse = rValue.inverse(order)!  // n is prime and 0 < r < n
        let u1 = ((order - z) * rInverse) % order
        let u2 = (sValue * rInverse) % order
        let q = JacobianPoint.linearCombination(bytes32(u1), generator, bytes32(u2), noncePoint)
        guard !q.isInfinity else { throw SignatureError("the signature recovers the point at infinity") }
        return encode(q)
    }

    /// The 20-byte Ethereum address of a 64-byte public key: the last 20 bytes of its keccak256.
    public static func address(publicKey: [UInt8]) -> [UInt8] {
        precondition(publicKey.count == 64, "an uncompressed public key is 64 bytes (x ‖ y, no 0x04 prefix)")
        return Array(Keccak256.hash(publicKey).bytes.suffix(20))
    }

    // MARK: Helpers

    /// The private key as an integer in [1, n).
    private static func scalar(privateKey: [UInt8]) throws(SignatureError) -> BigUInt {
        guard privateKey.count == 32 else { throw SignatureError("private key is \(privateKey.count) bytes, not 32") }
        let key = integer(privateKey)
        guard key > 0 else { throw SignatureError("private key is zero") }
        guard key < order else { throw SignatureError("private key is not below the curve order") }
        return key
    }

    /// x ‖ y of a point, which must not be the point at infinity.
    private static func encode(_ point: JacobianPoint) -> [UInt8] {
        let affine = point.affine!
        return affine.x.bytes + affine.y.bytes
    }

    /// The big-endian unsigned integer `bytes`.
    static func integer(_ bytes: [UInt8]) -> BigUInt {
        bytes.withUnsafeBytes { BigUInt($0) }
    }

    /// `value` (below 2²⁵⁶) as 32 big-endian bytes.
    static func bytes32(_ value: BigUInt) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let bytesPerWord = UInt.bitWidth / 8
        for (wordIndex, word) in value.words.enumerated() {
            for byteIndex in 0..<bytesPerWord {
                let position = 31 - (wordIndex * bytesPerWord + byteIndex)
                guard position >= 0 else { return out }
                out[position] = UInt8(truncatingIfNeeded: word >> UInt(byteIndex * 8))
            }
        }
        return out
    }
}

/// Why a key or signature is unusable, in one line.
public struct SignatureError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
