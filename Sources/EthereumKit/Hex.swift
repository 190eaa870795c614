/// Hex strings as JSON-RPC carries them: `0x`-prefixed, lowercase on output.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `0x` followed by two lowercase digits per byte.
    public static func encode(_ bytes: some Collection<UInt8>, prefix: Bool = true) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.count * 2 + 2)
        if prefix { utf8 += [0x30, 0x78] }
        for byte in bytes {
            utf8.append(digits[Int(byte >> 4)])
            utf8.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// A JSON-RPC quantity: `0x` and the hex digits of big-endian `bytes` without leading zeros (`0x0` for zero).
    public static func encodeQuantity(_ bytes: some Collection<UInt8>) -> String {
        let digits = encode(bytes, prefix: false).drop { $0 == "0" }
        return "0x" + (digits.isEmpty ? "0" : digits)
    }

    /// The bytes of a hex string (`0x` prefix optional, either case).
    /// Throws on odd length or a character that is not a hex digit.
    public static func decode(_ string: String) throws(HexError) -> [UInt8] {
        var utf8 = Substring(string).utf8[...]
        if utf8.starts(with: [0x30, 0x78]) || utf8.starts(with: [0x30, 0x58]) { utf8 = utf8.dropFirst(2) }
        guard utf8.count % 2 == 0 else { throw .oddLength(utf8.count) }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8? = nil
        for (offset, char) in utf8.enumerated() {
            guard let nibble = nibbleValue(char) else { throw .invalidCharacter(offset: offset) }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return out
    }

    /// The value of a JSON-RPC quantity (`0x`-prefixed hex number, e.g. `0x0`, `0x1b`)
    /// as minimal big-endian bytes: no leading zero bytes, zero is empty.
    /// Leading zero digits are tolerated, as some servers send them.
    public static func decodeQuantity(_ string: String) throws(HexError) -> [UInt8] {
        var utf8 = Substring(string).utf8[...]
        guard utf8.starts(with: [0x30, 0x78]) || utf8.starts(with: [0x30, 0x58]) else { throw .missingPrefix }
        utf8 = utf8.dropFirst(2)
        guard !utf8.isEmpty else { throw .empty }
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(utf8.count)
        for (offset, char) in utf8.enumerated() {
            guard let nibble = nibbleValue(char) else { throw .invalidCharacter(offset: offset) }
            if nibbles.isEmpty && nibble == 0 { continue }
            nibbles.append(nibble)
        }
        if nibbles.count % 2 == 1 { nibbles.insert(0, at: 0) }
        var out: [UInt8] = []
        out.reserveCapacity(nibbles.count / 2)
        var i = 0
        while i < nibbles.count {
            out.append(nibbles[i] << 4 | nibbles[i + 1])
            i += 2
        }
        return out
    }

    @inline(__always)
    static func nibbleValue(_ char: UInt8) -> UInt8? {
        switch char {
        case 0x30...0x39: char - 0x30
        case 0x61...0x66: char - 0x61 + 10
        case 0x41...0x46: char - 0x41 + 10
        default: nil
        }
    }
}

/// Why a string is not the hex it should be.
public enum HexError: Error, Equatable, Sendable, CustomStringConvertible {
    case oddLength(Int)
    case invalidCharacter(offset: Int)
    case missingPrefix
    case empty

    public var description: String {
        switch self {
        case .oddLength(let n): "odd-length hex (\(n) digits)"
        case .invalidCharacter(let offset): "invalid hex character at digit \(offset)"
        case .missingPrefix: "quantity without 0x prefix"
        case .empty: "empty quantity (0x without digits)"
        }
    }
}
