extension JSONValue {
    /// Compact JSON text of the value; object keys in UTF-8 byte order, so equal values give the same text
    /// (cache keys rely on it).
    public func serialized() -> String {
        var out = ""
        out.reserveCapacity(64)
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let value):
            if !value.isFinite {
                // JSON has no infinities or NaN (the parser never makes them); like JavaScript's
                // JSON.stringify, write null rather than text no JSON parser reads.
                out += "null"
            } else if value.rounded() == value && abs(value) < 9_007_199_254_740_992 {
                out += String(Int64(value))
            } else {
                out += "\(value)"
            }
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            // By UTF-8 bytes: String's `<` is not a total order on non-ASCII keys (neither "éN" nor
            // "e\u{301}" sorts before the other), so it would leave the output to the dictionary's order.
            for (i, key) in fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                fields[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        // Most strings (hex, method names) need no escaping: append them whole.
        if !value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            out += value
            out += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    // MARK: Building JSON-RPC values

    /// Hex data, `0x`-prefixed.
    public static func data(_ bytes: some Collection<UInt8>) -> JSONValue { .string(Hex.encode(bytes)) }

    /// A quantity: `0x`-prefixed hex without leading zeros (`0x0` for zero).
    public static func quantity(_ value: UInt64) -> JSONValue { .string("0x" + String(value, radix: 16)) }

    /// A quantity from minimal (or zero-padded) big-endian bytes.
    public static func quantity(bigEndian bytes: some Collection<UInt8>) -> JSONValue {
        .string(Hex.encodeQuantity(bytes))
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A JSON-RPC quantity string (`0x…`, no leading zeros) that fits in 64 bits, as a number.
    public var quantityValue: UInt64? {
        guard case .string(let text) = self else { return nil }
        // Read in place (this runs for every call with a block parameter): "0x", then hex digits
        // with at most 16 after any leading zeros.
        var utf8 = text.utf8[...]
        guard utf8.starts(with: "0x".utf8), utf8.count > 2 else { return nil }
        utf8 = utf8.dropFirst(2)
        var value: UInt64 = 0
        var significant = 0
        for char in utf8 {
            guard let nibble = Hex.nibbleValue(char) else { return nil }
            if significant == 0 && nibble == 0 { continue }
            significant += 1
            guard significant <= 16 else { return nil }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The fields, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Member `key` of an object; nil otherwise.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }
}
