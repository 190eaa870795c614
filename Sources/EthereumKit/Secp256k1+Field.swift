/// An element of secp256k1's base field, the integers modulo p = 2²⁵⁶ − 2³² − 977,
/// held as four 64-bit limbs (least significant first) and always fully reduced (< p),
/// so equal values have equal limbs.
///
/// Point arithmetic spends nearly all its time here, so the field avoids BigInt: a
/// product is four-by-four limbs and reduces with 2²⁵⁶ ≡ 2³² + 977 (mod p), no division.
/// Not constant-time: this serves a simulator and transaction checks, not wallets.
struct FieldElement: Equatable, Sendable {
    var l0: UInt64, l1: UInt64, l2: UInt64, l3: UInt64

    /// 2²⁵⁶ − p: what a carry out of the top limb is worth modulo p.
    static let wrap: UInt64 = 0x1_0000_03D1
    /// The lowest limb of p; the other three are all ones.
    static let p0: UInt64 = 0xFFFF_FFFE_FFFF_FC2F

    static let zero = FieldElement(l0: 0, l1: 0, l2: 0, l3: 0)
    static let one = FieldElement(l0: 1, l1: 0, l2: 0, l3: 0)
    /// The constant b of the curve equation y² = x³ + 7.
    static let seven = FieldElement(l0: 7, l1: 0, l2: 0, l3: 0)

    init(l0: UInt64, l1: UInt64, l2: UInt64, l3: UInt64) {
        (self.l0, self.l1, self.l2, self.l3) = (l0, l1, l2, l3)
    }

    /// The element whose big-endian encoding is `bytes` (at most 32 of them);
    /// nil if the value is p or more.
    init?(bigEndian bytes: some Collection<UInt8>) {
        guard bytes.count <= 32 else { return nil }
        var limbs: [UInt64] = [0, 0, 0, 0]
        for (i, byte) in bytes.reversed().enumerated() {
            limbs[i / 8] |= UInt64(byte) << (UInt64(i % 8) * 8)
        }
        self.init(l0: limbs[0], l1: limbs[1], l2: limbs[2], l3: limbs[3])
        guard !Self.isAtLeastP(l0, l1, l2, l3) else { return nil }
    }

    /// The 32-byte big-endian encoding.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for limb in [l3, l2, l1, l0] {
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: limb >> UInt64(shift)))
            }
        }
        return out
    }

    var isZero: Bool { (l0 | l1 | l2 | l3) == 0 }
    var isOdd: Bool { l0 & 1 == 1 }

    @inline(__always)
    static func isAtLeastP(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64) -> Bool {
        l3 == .max && l2 == .max && l1 == .max && l0 >= p0
    }

    /// Brings a 256-bit value plus a carry bit (worth 2²⁵⁶) below p. Valid when the
    /// whole value is below 2p, which holds for every caller: subtracting p once is
    /// enough, and subtracting p is adding 2³² + 977 modulo 2²⁵⁶.
    @inline(__always)
    static func reduceOnce(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64, carry: Bool) -> FieldElement {
        guard carry || isAtLeastP(l0, l1, l2, l3) else { return FieldElement(l0: l0, l1: l1, l2: l2, l3: l3) }
        var c: UInt64 = 0
        let r0 = addWithCarry(l0, wrap, &c)
        let r1 = addWithCarry(l1, 0, &c)
        let r2 = addWithCarry(l2, 0, &c)
        let r3 = addWithCarry(l3, 0, &c)
        return FieldElement(l0: r0, l1: r1, l2: r2, l3: r3)
    }

    static func + (a: FieldElement, b: FieldElement) -> FieldElement {
        var c: UInt64 = 0
        let r0 = addWithCarry(a.l0, b.l0, &c)
        let r1 = addWithCarry(a.l1, b.l1, &c)
        let r2 = addWithCarry(a.l2, b.l2, &c)
        let r3 = addWithCarry(a.l3, b.l3, &c)
        return reduceOnce(r0, r1, r2, r3, carry: c != 0)
    }

    static func - (a: FieldElement, b: FieldElement) -> FieldElement {
        var borrow: UInt64 = 0
        var r0 = subtractWithBorrow(a.l0, b.l0, &borrow)
        var r1 = subtractWithBorrow(a.l1, b.l1, &borrow)
        var r2 = subtractWithBorrow(a.l2, b.l2, &borrow)
        var r3 = subtractWithBorrow(a.l3, b.l3, &borrow)
        if borrow != 0 {
            // The limbs hold a − b + 2²⁵⁶ (more than 2³² + 977); a − b + p is that minus 2²⁵⁶ − p.
            borrow = 0
            r0 = subtractWithBorrow(r0, wrap, &borrow)
            r1 = subtractWithBorrow(r1, 0, &borrow)
            r2 = subtractWithBorrow(r2, 0, &borrow)
            r3 = subtractWithBorrow(r3, 0, &borrow)
        }
        return FieldElement(l0: r0, l1: r1, l2: r2, l3: r3)
    }

    static prefix func - (a: FieldElement) -> FieldElement { zero - a }

    static func * (a: FieldElement, b: FieldElement) -> FieldElement {
        // Schoolbook product, one column of the 512-bit result at a time.
        var acc = ColumnAccumulator()
        acc.add(a.l0, b.l0)
        let t0 = acc.next()
        acc.add(a.l0, b.l1); acc.add(a.l1, b.l0)
        let t1 = acc.next()
        acc.add(a.l0, b.l2); acc.add(a.l1, b.l1); acc.add(a.l2, b.l0)
        let t2 = acc.next()
        acc.add(a.l0, b.l3); acc.add(a.l1, b.l2); acc.add(a.l2, b.l1); acc.add(a.l3, b.l0)
        let t3 = acc.next()
        acc.add(a.l1, b.l3); acc.add(a.l2, b.l2); acc.add(a.l3, b.l1)
        let t4 = acc.next()
        acc.add(a.l2, b.l3); acc.add(a.l3, b.l2)
        let t5 = acc.next()
        acc.add(a.l3, b.l3)
        let t6 = acc.next()
        let t7 = acc.next()

        // low + high·2²⁵⁶ ≡ low + high·(2³² + 977): at most 2²⁹⁰, a fifth limb below 2³⁴.
        var c: UInt64 = 0
        let u0 = multiplyAdd(t4, wrap, t0, &c)
        let u1 = multiplyAdd(t5, wrap, t1, &c)
        let u2 = multiplyAdd(t6, wrap, t2, &c)
        let u3 = multiplyAdd(t7, wrap, t3, &c)
        // Fold the fifth limb the same way; what remains is below 2²⁵⁶ + 2⁶⁸.
        let (high, low) = c.multipliedFullWidth(by: wrap)
        var carry: UInt64 = 0
        let v0 = addWithCarry(u0, low, &carry)
        let v1 = addWithCarry(u1, high, &carry)
        let v2 = addWithCarry(u2, 0, &carry)
        let v3 = addWithCarry(u3, 0, &carry)
        return reduceOnce(v0, v1, v2, v3, carry: carry != 0)
    }

    var squared: FieldElement { self * self }

    /// `self` raised to the 256-bit `exponent` (four limbs, least significant first).
    func power(_ exponent: (UInt64, UInt64, UInt64, UInt64)) -> FieldElement {
        var result = FieldElement.one
        for limb in [exponent.3, exponent.2, exponent.1, exponent.0] {
            for bit in stride(from: 63, through: 0, by: -1) {
                result = result.squared
                if (limb >> UInt64(bit)) & 1 == 1 { result = result * self }
            }
        }
        return result
    }

    /// The multiplicative inverse, by Fermat: a^(p−2). Zero maps to zero.
    var inverse: FieldElement {
        power((0xFFFF_FFFE_FFFF_FC2D, .max, .max, .max))
    }

    /// A square root if `self` is a square, else nil. p ≡ 3 (mod 4), so a^((p+1)/4) is
    /// the root whenever one exists.
    var squareRoot: FieldElement? {
        let root = power((0xFFFF_FFFF_BFFF_FF0C, .max, .max, 0x3FFF_FFFF_FFFF_FFFF))
        return root.squared == self ? root : nil
    }
}

/// Sums 128-bit products into one 192-bit column of a multi-limb product.
private struct ColumnAccumulator {
    var c0: UInt64 = 0, c1: UInt64 = 0, c2: UInt64 = 0

    @inline(__always)
    mutating func add(_ a: UInt64, _ b: UInt64) {
        let (high, low) = a.multipliedFullWidth(by: b)
        var overflow: Bool
        (c0, overflow) = c0.addingReportingOverflow(low)
        // high ≤ 2⁶⁴ − 2, so adding the carry cannot wrap.
        (c1, overflow) = c1.addingReportingOverflow(high &+ (overflow ? 1 : 0))
        c2 &+= overflow ? 1 : 0
    }

    /// The finished low limb; the rest carries into the next column.
    @inline(__always)
    mutating func next() -> UInt64 {
        defer { (c0, c1, c2) = (c1, c2, 0) }
        return c0
    }
}

/// a + b + carry; `carry` (0 or 1) becomes the carry out.
@inline(__always)
private func addWithCarry(_ a: UInt64, _ b: UInt64, _ carry: inout UInt64) -> UInt64 {
    let (s1, o1) = a.addingReportingOverflow(b)
    let (s2, o2) = s1.addingReportingOverflow(carry)
    carry = (o1 || o2) ? 1 : 0  // both cannot overflow at once
    return s2
}

/// a − b − borrow; `borrow` (0 or 1) becomes the borrow out.
@inline(__always)
private func subtractWithBorrow(_ a: UInt64, _ b: UInt64, _ borrow: inout UInt64) -> UInt64 {
    let (d1, o1) = a.subtractingReportingOverflow(b)
    let (d2, o2) = d1.subtractingReportingOverflow(borrow)
    borrow = (o1 || o2) ? 1 : 0
    return d2
}

/// a·b + c + carry, returning the low limb; `carry` becomes the high limb. Fits: the
/// largest result, (2⁶⁴−1)² + 2(2⁶⁴−1), is 2¹²⁸ − 1.
@inline(__always)
private func multiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ carry: inout UInt64) -> UInt64 {
    let (high, low) = a.multipliedFullWidth(by: b)
    let (s1, o1) = low.addingReportingOverflow(c)
    let (s2, o2) = s1.addingReportingOverflow(carry)
    carry = high &+ (o1 ? 1 : 0) &+ (o2 ? 1 : 0)
    return s2
}

/// A point of y² = x³ + 7 in Jacobian coordinates (x = X/Z², y = Y/Z³), which defers
/// the one field inversion to the end of a scalar multiplication. Z = 0 is the point at infinity.
struct JacobianPoint: Sendable {
    var x: FieldElement, y: FieldElement, z: FieldElement

    static let infinity = JacobianPoint(x: .one, y: .one, z: .zero)

    init(x: FieldElement, y: FieldElement, z: FieldElement) {
        (self.x, self.y, self.z) = (x, y, z)
    }

    /// The affine point (x, y).
    init(affineX x: FieldElement, y: FieldElement) {
        self.init(x: x, y: y, z: .one)
    }

    var isInfinity: Bool { z.isZero }

    /// Affine coordinates; nil for the point at infinity.
    var affine: (x: FieldElement, y: FieldElement)? {
        guard !isInfinity else { return nil }
        let zInverse = z.inverse
        let zInverse2 = zInverse.squared
        return (x * zInverse2, y * zInverse2 * zInverse)
    }

    /// 2P ("dbl-2009-l", for curves with a = 0).
    var doubled: JacobianPoint {
        guard !isInfinity else { return self }
        let a = x.squared
        let b = y.squared
        let c = b.squared
        let xb = x + b
        var d = xb.squared - a - c
        d = d + d
        let e = a + a + a
        let f = e.squared
        let x3 = f - d - d
        let c8 = c + c + c + c + c + c + c + c
        let y3 = e * (d - x3) - c8
        let yz = y * z
        return JacobianPoint(x: x3, y: y3, z: yz + yz)
    }

    /// P + Q ("add-2007-bl"), including the cases the formula cannot take: either
    /// point at infinity, P = Q (doubling) and P = −Q (infinity).
    static func + (p: JacobianPoint, q: JacobianPoint) -> JacobianPoint {
        if p.isInfinity { return q }
        if q.isInfinity { return p }
        let z1z1 = p.z.squared
        let z2z2 = q.z.squared
        let u1 = p.x * z2z2
        let u2 = q.x * z1z1
        let s1 = p.y * q.z * z2z2
        let s2 = q.y * p.z * z1z1
        let h = u2 - u1
        var r = s2 - s1
        if h.isZero {
            return r.isZero ? p.doubled : .infinity
        }
        r = r + r
        let i = (h + h).squared
        let j = h * i
        let v = u1 * i
        let x3 = r.squared - j - v - v
        let s1j = s1 * j
        let y3 = r * (v - x3) - s1j - s1j
        let z3 = ((p.z + q.z).squared - z1z1 - z2z2) * h
        return JacobianPoint(x: x3, y: y3, z: z3)
    }

    /// scalar · P, for a big-endian scalar (double-and-add, most significant bit first).
    func multiplied(by scalar: [UInt8]) -> JacobianPoint {
        var result = JacobianPoint.infinity
        for byte in scalar {
            for bit in stride(from: 7, through: 0, by: -1) {
                result = result.doubled
                if (byte >> UInt8(bit)) & 1 == 1 { result = result + self }
            }
        }
        return result
    }

    /// a·P + b·Q with one shared chain of doublings (Shamir's trick), for big-endian
    /// scalars of equal length. Verification and recovery need exactly this sum.
    static func linearCombination(_ a: [UInt8], _ p: JacobianPoint, _ b: [UInt8], _ q: JacobianPoint) -> JacobianPoint {
        precondition(a.count == b.count, "scalars must have the same length")
        let sum = p + q
        var result = JacobianPoint.infinity
        for (byteA, byteB) in zip(a, b) {
            for bit in stride(from: 7, through: 0, by: -1) {
                result = result.doubled
                switch ((byteA >> UInt8(bit)) & 1, (byteB >> UInt8(bit)) & 1) {
                case (1, 1): result = result + sum
                case (1, 0): result = result + p
                case (0, 1): result = result + q
                default: break
                }
            }
        }
        return result
    }
}
