/// A parsed JSON document, as JSON-RPC answers arrive.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses `data` as JSON; throws `malformedInput` naming what is wrong and where. Arrays and
    /// objects may nest `maxDepth` levels deep (at most 512).
    public static func parse(_ data: some Collection<UInt8>, maxDepth: Int = 512) throws(VerificationError) -> JSONValue {
        let result: Result<JSONValue, VerificationError>? = data.withContiguousStorageIfAvailable { buffer in
            do throws(VerificationError) { return .success(try JSONParser.parse(buffer, maxDepth: maxDepth)) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        return try Array(data).withUnsafeBufferPointer { buffer throws(VerificationError) in try JSONParser.parse(buffer, maxDepth: maxDepth) }
    }

    /// The first byte of `data` that is not JSON whitespace (nil: there is none): tells an object
    /// (`{`) from an array (`[`) before any parse.
    public static func firstSignificantByte(_ data: some Collection<UInt8>) -> UInt8? {
        data.first { !JSONParser.isWhitespace($0) }
    }

    /// Parses a JSON object, returning its members with the byte range of each value in `data`.
    /// Objects and arrays nested deeper than `maxDepth` (the object itself is level 1) are refused.
    public static func parseMembers(_ data: some Collection<UInt8>, maxDepth: Int = 512) throws(VerificationError) -> [(key: String, value: JSONValue, span: Range<Int>)] {
        let result: Result<[(key: String, value: JSONValue, span: Range<Int>)], VerificationError>? = data.withContiguousStorageIfAvailable { buffer in
            do throws(VerificationError) { return .success(try JSONParser.parseMembers(buffer, maxDepth: maxDepth)) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        return try Array(data).withUnsafeBufferPointer { buffer throws(VerificationError) in try JSONParser.parseMembers(buffer, maxDepth: maxDepth) }
    }

    /// Checks that `data` is a JSON object, exactly as `parse` would accept it, and returns its
    /// members' keys with the byte range of each value, without building the values: a proxy
    /// passing an upstream's `result` on untouched pays for a scan, not a tree.
    public static func memberSpans(_ data: some Collection<UInt8>) throws(VerificationError) -> [(key: String, span: Range<Int>)] {
        let result: Result<[(key: String, span: Range<Int>)], VerificationError>? = data.withContiguousStorageIfAvailable { buffer in
            do throws(VerificationError) { return .success(try JSONParser.memberSpans(buffer)) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        return try Array(data).withUnsafeBufferPointer { buffer throws(VerificationError) in try JSONParser.memberSpans(buffer) }
    }

    /// Checks that `data` is a JSON array, exactly as `parse` would accept it, and returns the byte
    /// range of each element, without building them (a batch answer split into its answers).
    public static func elementSpans(_ data: some Collection<UInt8>, maxDepth: Int = 512) throws(VerificationError) -> [Range<Int>] {
        let result: Result<[Range<Int>], VerificationError>? = data.withContiguousStorageIfAvailable { buffer in
            do throws(VerificationError) { return .success(try JSONParser.elementSpans(buffer, maxDepth: maxDepth)) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        return try Array(data).withUnsafeBufferPointer { buffer throws(VerificationError) in try JSONParser.elementSpans(buffer, maxDepth: maxDepth) }
    }

    /// The `result` of a JSON-RPC response object, or the value itself when it is
    /// not one. An error response becomes `malformedInput` with its message.
    public func unwrappingRPCResponse() throws(VerificationError) -> JSONValue {
        guard case .object(let object) = self, object["jsonrpc"] != nil else { return self }
        if let error = object["error"], error != .null {
            if case .object(let fields) = error, case .string(let message)? = fields["message"] {
                throw .malformed("the input is a JSON-RPC error response: \(message)")
            }
            throw .malformed("the input is a JSON-RPC error response")
        }
        guard let result = object["result"] else {
            throw .malformed("the input is a JSON-RPC response without a result")
        }
        return result
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Typed access to the fields of a JSON object, with errors that name the field's path.
struct JSONFields {
    let object: [String: JSONValue]
    /// Where this object sits in the input, e.g. `transactions[3]`; empty at the top.
    let path: String

    init(_ value: JSONValue, path: String = "", what: String) throws(VerificationError) {
        guard case .object(let object) = value else {
            throw .malformed("\(path.isEmpty ? "input" : path): expected \(what) (a JSON object), got \(value.typeName)")
        }
        self.object = object
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        if let value = object[key], value != .null { return true }
        return false
    }

    func value(_ key: String) throws(VerificationError) -> JSONValue {
        guard let value = object[key] else { throw .malformed("missing field '\(name(key))'") }
        return value
    }

    func string(_ key: String) throws(VerificationError) -> String {
        let value = try value(key)
        guard case .string(let string) = value else {
            throw .malformed("field '\(name(key))': expected a hex string, got \(value.typeName)")
        }
        return string
    }

    /// Arbitrary-length hex data (`0x…`, even length).
    func data(_ key: String) throws(VerificationError) -> [UInt8] {
        let string = try string(key)
        do { return try Hex.decode(string) } catch {
            throw .malformed("field '\(name(key))': \(error)")
        }
    }

    /// Hex data of exactly `count` bytes.
    func data(_ key: String, count: Int) throws(VerificationError) -> [UInt8] {
        let bytes = try data(key)
        guard bytes.count == count else {
            throw .malformed("field '\(name(key))': expected \(count) bytes, got \(bytes.count)")
        }
        return bytes
    }

    func hash(_ key: String) throws(VerificationError) -> Bytes32 {
        Bytes32(try data(key, count: 32))!
    }

    /// A quantity as minimal big-endian bytes.
    func quantity(_ key: String) throws(VerificationError) -> [UInt8] {
        let string = try string(key)
        do { return try Hex.decodeQuantity(string) } catch {
            throw .malformed("field '\(name(key))': \(error)")
        }
    }

    /// A quantity that must fit in 64 bits.
    func uint64(_ key: String) throws(VerificationError) -> UInt64 {
        let bytes = try quantity(key)
        guard bytes.count <= 8 else { throw .malformed("field '\(name(key))': quantity larger than 64 bits") }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// An address, or empty for `null` / absent (contract creation).
    func optionalAddress(_ key: String) throws(VerificationError) -> [UInt8] {
        guard has(key) else { return [] }
        return try data(key, count: 20)
    }

    func array(_ key: String) throws(VerificationError) -> [JSONValue] {
        let value = try value(key)
        guard case .array(let items) = value else {
            throw .malformed("field '\(name(key))': expected an array, got \(value.typeName)")
        }
        return items
    }
}
