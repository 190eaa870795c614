/// A value of Ethereum's Recursive Length Prefix encoding: a byte string or a list.
public indirect enum RLPItem: Equatable, Hashable, Sendable {
    case bytes([UInt8])
    case list([RLPItem])

    /// An unsigned integer as RLP carries it: big-endian, no leading zero bytes, zero is empty.
    public static func uint(_ value: UInt64) -> RLPItem {
        .bytes(minimalBigEndian(value))
    }

    /// The payload of a byte string; nil for a list.
    public var byteString: [UInt8]? {
        if case .bytes(let bytes) = self { return bytes }
        return nil
    }

    /// The items of a list; nil for a byte string.
    public var listItems: [RLPItem]? {
        if case .list(let items) = self { return items }
        return nil
    }
}

/// Big-endian bytes of `value` without leading zeros (empty for zero).
func minimalBigEndian(_ value: UInt64) -> [UInt8] {
    guard value > 0 else { return [] }
    let byteCount = 8 - value.leadingZeroBitCount / 8
    return (0..<byteCount).reversed().map { UInt8(truncatingIfNeeded: value >> (UInt64($0) * 8)) }
}

/// Why bytes are not canonical RLP.
public struct RLPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Offset of the offending item's first byte in the input.
    public let offset: Int
    public let reason: String

    public var description: String { "invalid RLP at byte \(offset): \(reason)" }
}

/// The prefix of one RLP item: what it is and where its payload lies.
struct RLPHeader {
    var isList: Bool
    /// Payload bounds in the buffer, `payloadStart..<payloadEnd`.
    var payloadStart: Int
    var payloadEnd: Int
    /// For a single byte below 0x80, which is its own encoding.
    var isSingleByte: Bool { payloadStart == payloadEnd - 1 && !isList && headerLength == 0 }
    var headerLength: Int
}

public enum RLP {
    /// Deepest list nesting accepted when decoding. Ethereum's structures nest at most
    /// a handful of levels; the bound keeps hostile input from exhausting the stack.
    public static let maxDepth = 128

    // MARK: Encoding

    /// The canonical encoding of `item`.
    public static func encode(_ item: RLPItem) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(item))
        append(item, to: &out)
        return out
    }

    /// Appends the canonical encoding of `item` to `out`.
    public static func append(_ item: RLPItem, to out: inout [UInt8]) {
        switch item {
        case .bytes(let bytes):
            appendBytes(bytes, to: &out)
        case .list(let items):
            let payload = items.reduce(0) { $0 + encodedLength($1) }
            appendPrefix(payloadLength: payload, shortBase: 0xC0, to: &out)
            for child in items { append(child, to: &out) }
        }
    }

    /// Appends `bytes` encoded as an RLP byte string.
    public static func appendBytes(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        if bytes.count == 1, let only = bytes.first, only < 0x80 {
            out.append(only)
        } else {
            appendPrefix(payloadLength: bytes.count, shortBase: 0x80, to: &out)
            out.append(contentsOf: bytes)
        }
    }

    /// Appends a list prefix for a payload of `payloadLength` already-encoded bytes.
    public static func appendListPrefix(payloadLength: Int, to out: inout [UInt8]) {
        appendPrefix(payloadLength: payloadLength, shortBase: 0xC0, to: &out)
    }

    /// Length of the canonical encoding of `item`.
    public static func encodedLength(_ item: RLPItem) -> Int {
        switch item {
        case .bytes(let bytes):
            if bytes.count == 1 && bytes[0] < 0x80 { return 1 }
            return prefixLength(bytes.count) + bytes.count
        case .list(let items):
            let payload = items.reduce(0) { $0 + encodedLength($1) }
            return prefixLength(payload) + payload
        }
    }

    static func prefixLength(_ payloadLength: Int) -> Int {
        // 1, or 1 + the bytes of the length: counted, not built (encoding asks this for every item at every level).
        payloadLength < 56 ? 1 : 1 + (Int.bitWidth - payloadLength.leadingZeroBitCount + 7) / 8
    }

    private static func appendPrefix(payloadLength: Int, shortBase: UInt8, to out: inout [UInt8]) {
        if payloadLength < 56 {
            out.append(shortBase + UInt8(payloadLength))
        } else {
            let length = minimalBigEndian(UInt64(payloadLength))
            out.append(shortBase + 55 + UInt8(length.count))
            out.append(contentsOf: length)
        }
    }

    // MARK: Decoding

    /// Decodes exactly one item that spans all of `bytes`, rejecting every
    /// non-canonical form: a single byte below 0x80 behind a prefix, a long
    /// form for a short length, a length with leading zeros, a declared length
    /// beyond the input, list items that overrun or underfill their list, and
    /// bytes after the item.
    public static func decode(_ bytes: [UInt8]) throws(RLPError) -> RLPItem {
        try decode(bytes, from: 0, to: bytes.count)
    }

    /// Decodes exactly one item spanning `bytes[start..<end]`.
    static func decode(_ bytes: [UInt8], from start: Int, to end: Int) throws(RLPError) -> RLPItem {
        guard start < end else { throw RLPError(offset: start, reason: "empty input") }
        let header = try readHeader(bytes, at: start, end: end)
        guard header.payloadEnd == end else {
            throw RLPError(offset: header.payloadEnd, reason: "\(end - header.payloadEnd) trailing byte(s) after the item")
        }
        return try decodeItem(bytes, header, at: start, depth: 0)
    }

    private static func decodeItem(_ bytes: [UInt8], _ header: RLPHeader, at offset: Int, depth: Int) throws(RLPError) -> RLPItem {
        if !header.isList {
            return .bytes(Array(bytes[header.payloadStart..<header.payloadEnd]))
        }
        guard depth < maxDepth else { throw RLPError(offset: offset, reason: "lists nested deeper than \(maxDepth) levels") }
        var items: [RLPItem] = []
        var cursor = header.payloadStart
        while cursor < header.payloadEnd {
            let child = try readHeader(bytes, at: cursor, end: header.payloadEnd)
            items.append(try decodeItem(bytes, child, at: cursor, depth: depth + 1))
            cursor = child.payloadEnd
        }
        return .list(items)
    }

    /// Checks that `bytes[start..<end]` is exactly one canonical item, without building it:
    /// accepts exactly what `decode` accepts, nesting bound included.
    static func validate(_ bytes: [UInt8], from start: Int, to end: Int, depth: Int = 0) throws(RLPError) {
        guard start < end else { throw RLPError(offset: start, reason: "empty input") }
        let header = try readHeader(bytes, at: start, end: end)
        guard header.payloadEnd == end else {
            throw RLPError(offset: header.payloadEnd, reason: "\(end - header.payloadEnd) trailing byte(s) after the item")
        }
        if header.isList {
            guard depth < maxDepth else { throw RLPError(offset: start, reason: "lists nested deeper than \(maxDepth) levels") }
            var cursor = header.payloadStart
            while cursor < header.payloadEnd {
                let child = try readHeader(bytes, at: cursor, end: header.payloadEnd)
                try validate(bytes, from: cursor, to: child.payloadEnd, depth: depth + 1)
                cursor = child.payloadEnd
            }
        }
    }

    /// Reads the prefix of the item starting at `offset`, which must end by `end`.
    @inline(__always)
    static func readHeader(_ bytes: [UInt8], at offset: Int, end: Int) throws(RLPError) -> RLPHeader {
        guard offset < end else { throw RLPError(offset: offset, reason: "expected an item, input ended") }
        let prefix = bytes[offset]
        switch prefix {
        case 0x00...0x7F:
            return RLPHeader(isList: false, payloadStart: offset, payloadEnd: offset + 1, headerLength: 0)
        case 0x80...0xB7:
            let length = Int(prefix - 0x80)
            let start = offset + 1
            guard length <= end - start else {
                throw RLPError(offset: offset, reason: "string declares \(length) bytes but only \(end - start) remain")
            }
            if length == 1 && bytes[start] < 0x80 {
                throw RLPError(offset: offset, reason: "single byte 0x\(String(bytes[start], radix: 16)) must be encoded as itself")
            }
            return RLPHeader(isList: false, payloadStart: start, payloadEnd: start + length, headerLength: 1)
        case 0xC0...0xF7:
            let length = Int(prefix - 0xC0)
            let start = offset + 1
            guard length <= end - start else {
                throw RLPError(offset: offset, reason: "list declares \(length) bytes but only \(end - start) remain")
            }
            return RLPHeader(isList: true, payloadStart: start, payloadEnd: start + length, headerLength: 1)
        default:
            let isList = prefix >= 0xF8
            let lengthOfLength = Int(prefix - (isList ? 0xF7 : 0xB7))
            let kind = isList ? "list" : "string"
            guard lengthOfLength <= end - offset - 1 else {
                throw RLPError(offset: offset, reason: "\(kind) length needs \(lengthOfLength) bytes but only \(end - offset - 1) remain")
            }
            guard bytes[offset + 1] != 0 else {
                throw RLPError(offset: offset, reason: "\(kind) length has leading zero bytes")
            }
            guard lengthOfLength <= 7 else {
                throw RLPError(offset: offset, reason: "\(kind) length of \(lengthOfLength) bytes is larger than any input")
            }
            var length = 0
            for i in 0..<lengthOfLength { length = length << 8 | Int(bytes[offset + 1 + i]) }
            guard length >= 56 else {
                throw RLPError(offset: offset, reason: "long form used for a \(kind) of \(length) bytes (must be 56 or more)")
            }
            let start = offset + 1 + lengthOfLength
            guard length <= end - start else {
                throw RLPError(offset: offset, reason: "\(kind) declares \(length) bytes but only \(end - start) remain")
            }
            return RLPHeader(isList: isList, payloadStart: start, payloadEnd: start + length, headerLength: 1 + lengthOfLength)
        }
    }
}
