/// A strict JSON parser (RFC 8259) into `JSONValue`, written for speed on small
/// JSON-RPC bodies: one pass over the bytes, no intermediate representation.
/// Nesting is bounded so hostile input cannot exhaust the stack.
struct JSONParser {
    static let maxDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Deepest nesting accepted (at most `maxDepth`).
    private let depthLimit: Int

    private init(_ bytes: UnsafeBufferPointer<UInt8>, depthLimit: Int = JSONParser.maxDepth) {
        self.bytes = bytes
        self.depthLimit = min(depthLimit, Self.maxDepth)
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = JSONParser.maxDepth) throws(VerificationError) -> JSONValue {
        var parser = JSONParser(bytes, depthLimit: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    /// Parses a JSON object and returns each top-level member with the byte range of its
    /// value in `bytes`, so a proxy can copy a value (e.g. an upstream's `result`) untouched.
    static func parseMembers(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = JSONParser.maxDepth) throws(VerificationError) -> [(key: String, value: JSONValue, span: Range<Int>)] {
        try members(of: bytes, maxDepth: maxDepth) { (parser) throws(VerificationError) in try parser.parseValue(depth: 1) }
    }

    /// The members of a JSON object with the byte range of each value, checked as `parse` would
    /// check them but not built.
    static func memberSpans(_ bytes: UnsafeBufferPointer<UInt8>) throws(VerificationError) -> [(key: String, span: Range<Int>)] {
        try members(of: bytes) { (parser) throws(VerificationError) in try parser.skipValue(depth: 1) }.map { ($0.key, $0.span) }
    }

    /// The top-level members of the object in `bytes`, each value read by `readValue`.
    private static func members<Value>(
        of bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = JSONParser.maxDepth, readValue: (inout JSONParser) throws(VerificationError) -> Value
    ) throws(VerificationError) -> [(key: String, value: Value, span: Range<Int>)] {
        var members: [(key: String, value: Value, span: Range<Int>)] = []
        members.reserveCapacity(4)
        try topLevel(bytes, maxDepth: maxDepth, open: UInt8(ascii: "{"), expected: "expected a JSON object") { (parser, key) throws(VerificationError) in
            let start = parser.index
            let value = try readValue(&parser)
            members.append((key!, value, start..<parser.index))
        }
        return members
    }

    /// The elements of a JSON array with the byte range of each, checked as `parse` would check them but not built.
    static func elementSpans(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = JSONParser.maxDepth) throws(VerificationError) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        try topLevel(bytes, maxDepth: maxDepth, open: UInt8(ascii: "["), expected: "expected a JSON array") { (parser, _) throws(VerificationError) in
            let start = parser.index
            try parser.skipValue(depth: 1)
            spans.append(start..<parser.index)
        }
        return spans
    }

    /// Reads `bytes` as one object or array (`open`) with nothing after it, each item by `readItem`.
    private static func topLevel(
        _ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, open: UInt8, expected: String,
        readItem: (inout JSONParser, String?) throws(VerificationError) -> Void
    ) throws(VerificationError) {
        var parser = JSONParser(bytes, depthLimit: maxDepth)
        parser.skipWhitespace()
        guard parser.index < bytes.count, bytes[parser.index] == open else { throw parser.error(expected) }
        try readItems(&parser, keys: true, readItem)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected data after the JSON value") }
    }

    /// Reads the items of the object or array whose `{` or `[` is at the parser's index, through
    /// its closing bracket: `readItem` reads each value, given the member's key in an object
    /// (nil in an array, and nil when `keys` is false: keys are then checked, not built).
    private static func readItems(
        _ parser: inout JSONParser, keys: Bool, _ readItem: (inout JSONParser, String?) throws(VerificationError) -> Void
    ) throws(VerificationError) {
        let isObject = parser.bytes[parser.index] == UInt8(ascii: "{")
        let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
        parser.index += 1
        parser.skipWhitespace()
        if parser.index < parser.bytes.count && parser.bytes[parser.index] == close {
            parser.index += 1
            return
        }
        while true {
            parser.skipWhitespace()
            var key: String?
            if isObject {
                guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "\"") else { throw parser.error("expected a string key") }
                if keys { key = try parser.parseString() } else { try parser.skipString() }
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: ":") else { throw parser.error("expected ':'") }
                parser.index += 1
                parser.skipWhitespace()
            }
            try readItem(&parser, key)
            parser.skipWhitespace()
            guard parser.index < parser.bytes.count else { throw parser.error("unexpected end of input") }
            if parser.bytes[parser.index] == UInt8(ascii: ",") {
                parser.index += 1
            } else if parser.bytes[parser.index] == close {
                parser.index += 1
                return
            } else {
                throw parser.error(isObject ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }
    }

    /// Checks a value exactly as `parseValue(depth:)` would, without building it.
    private mutating func skipValue(depth: Int) throws(VerificationError) {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth + 1 <= depthLimit else { throw error("nested deeper than \(depthLimit) levels") }
            try Self.readItems(&self, keys: false) { (parser, _) throws(VerificationError) in try parser.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""):
            try skipString()
        default:
            // Numbers and literals: small, and their checks are the parser's own.
            _ = try parseValue(depth: depth)
        }
    }

    /// Checks a string as `parseString` would; only strings with escapes or non-ASCII bytes are decoded.
    private mutating func skipString() throws(VerificationError) {
        let start = index
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return
            }
            if byte == UInt8(ascii: "\\") || byte >= 0x80 {
                index = start
                _ = try parseString()
                return
            }
            if byte < 0x20 { throw error("control character in a string") }
            index += 1
        }
        throw error("unterminated string")
    }

    private func error(_ message: String) -> VerificationError {
        .malformed("not JSON: \(message) at byte \(index)")
    }

    /// Space, tab, line feed, carriage return: the whitespace JSON allows between tokens.
    static func isWhitespace(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D: true
        default: false
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
    }

    private mutating func parseValue(depth: Int) throws(VerificationError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(VerificationError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("unexpected end of input") }
        for i in 0..<count where bytes[index + i] != literal.utf8Start[i] {
            throw error("invalid literal")
        }
        index += count
    }

    private mutating func parseObject(depth: Int) throws(VerificationError) -> JSONValue {
        guard depth <= depthLimit else { throw error("nested deeper than \(depthLimit) levels") }
        // A JSON-RPC call or answer has up to four members: room for them in one allocation.
        var fields = [String: JSONValue](minimumCapacity: 4)
        try Self.readItems(&self, keys: true) { (parser, key) throws(VerificationError) in fields[key!] = try parser.parseValue(depth: depth) }
        return .object(fields)
    }

    private mutating func parseArray(depth: Int) throws(VerificationError) -> JSONValue {
        guard depth <= depthLimit else { throw error("nested deeper than \(depthLimit) levels") }
        var items: [JSONValue] = []
        items.reserveCapacity(4)
        try Self.readItems(&self, keys: true) { (parser, _) throws(VerificationError) in items.append(try parser.parseValue(depth: depth)) }
        return .array(items)
    }

    private mutating func parseString() throws(VerificationError) -> String {
        index += 1  // opening quote
        let start = index
        var ascii = true
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                // ASCII is valid UTF-8 as it is (the common case: hex, method names); only other bytes need validating.
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let string = String(validating: slice, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in a string") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        // Slow path with escapes.
        var utf8 = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error("unexpected end of input") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in a string")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("unpaired surrogate in a string")
                    }
                    utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    throw error("invalid escape in a string")
                }
            default:
                if byte < 0x20 { throw error("control character in a string") }
                utf8.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws(VerificationError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("unexpected end of input") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let nibble = Hex.nibbleValue(bytes[index]) else { throw error("invalid \\u escape") }
            value = value << 4 | UInt32(nibble)
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(VerificationError) -> Double {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("unexpected end of input") }
        // The integer part's value as read, while it fits in 15 digits (exact as a Double).
        var integer: Int64 = 0
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                if index - start < 16 { integer = integer &* 10 &+ Int64(bytes[index] - UInt8(ascii: "0")) }
                index += 1
            }
        } else {
            throw error("invalid number")
        }
        // The usual number (an id, a count) is a short integer: no text, no strtod.
        let next = index < bytes.count ? bytes[index] : 0
        if index - start <= 15 && next != UInt8(ascii: ".") && next != UInt8(ascii: "e") && next != UInt8(ascii: "E") {
            // -0 stays -0.0, as Double("-0") reads it.
            return bytes[start] == UInt8(ascii: "-") ? -Double(integer) : Double(integer)
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            let digits = index
            while index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw error("invalid number") }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            let digits = index
            while index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw error("invalid number") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text) else { throw error("invalid number") }
        // JSON has no infinities: a literal beyond Double's range (1e400) would come back out as
        // text no JSON parser reads, in a response or a request forwarded upstream.
        guard value.isFinite else { index = start; throw error("number out of range") }
        return value
    }
}
