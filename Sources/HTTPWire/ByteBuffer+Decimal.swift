import NIOCore

extension ByteBuffer {
    /// Writes a non-negative number's decimal digits (a status code, a `Content-Length`) without
    /// making a string of them.
    public mutating func writeDecimalDigits(_ value: Int) {
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            writeInteger(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
