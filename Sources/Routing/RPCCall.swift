import EthereumKit

/// One JSON-RPC call from a client, validated.
public struct RPCCall: Sendable {
    /// The client's id, of any JSON type; nil for a notification.
    public var id: JSONValue?
    public var method: String
    /// `params` as given (array or object), nil when absent.
    public var params: JSONValue?
    /// The id as the client wrote it, when writing the parsed number back would change it (an
    /// integer beyond 2^53, a fraction): the answer must carry the client's id exactly.
    public var idText: String?
    /// `params` as compact JSON, once written: the cache key, the coalescing key and the upstream
    /// body share it (see `withParamsText`).
    public var paramsText: String?

    public init(id: JSONValue?, method: String, params: JSONValue?) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// Whether writing the parsed `id` back could differ from what the client wrote (integers from
    /// 2^53 on lose digits as Doubles; fractions and exponents are written in Swift's own form).
    public var idNeedsItsText: Bool {
        guard case .number(let value)? = id else { return false }
        return !(value.rounded() == value && abs(value) < 9_007_199_254_740_992)
    }

    /// Validates one element of a request (SPEC section 3: -32600 for anything that is not JSON-RPC 2.0).
    public init(validating value: JSONValue) throws(GatewayError) {
        guard case .object(let fields) = value else { throw .invalidRequest("a JSON-RPC request must be an object") }
        guard fields["jsonrpc"] == .string("2.0") else { throw .invalidRequest("\"jsonrpc\" must be \"2.0\"", id: fields["id"]) }
        guard case .string(let method)? = fields["method"], !method.isEmpty else {
            throw .invalidRequest("\"method\" must be a non-empty string", id: fields["id"])
        }
        switch fields["id"] {
        case nil, .string?, .number?, .null?: break
        default: throw .invalidRequest("\"id\" must be a string, a number or null", id: nil)
        }
        switch fields["params"] {
        case nil, .array?, .object?: break
        default: throw .invalidRequest("\"params\" must be an array or an object", id: fields["id"])
        }
        id = fields["id"]
        self.method = method
        params = fields["params"]
    }

    /// A valid call read from the members of a request object (`JSONValue.parseMembers` of `bytes`)
    /// without building a dictionary; `paramsText` and `idText` are taken from the bytes as written
    /// when that is what writing them would give. Nil for anything unusual (a duplicate key, an
    /// invalid call): `init(validating:)` then says what is wrong.
    public init?(members: [(key: String, value: JSONValue, span: Range<Int>)], in bytes: UnsafeBufferPointer<UInt8>) {
        var jsonrpc: JSONValue?, method: JSONValue?, id: JSONValue?, params: JSONValue?
        var paramsSpan: Range<Int>?, idSpan: Range<Int>?
        for member in members {
            switch member.key {
            case "jsonrpc":
                guard jsonrpc == nil else { return nil }
                jsonrpc = member.value
            case "method":
                guard method == nil else { return nil }
                method = member.value
            case "id":
                guard id == nil else { return nil }
                id = member.value
                idSpan = member.span
            case "params":
                guard params == nil else { return nil }
                params = member.value
                paramsSpan = member.span
            default:
                // Another key written twice would also be a duplicate; it does not matter to the call.
                continue
            }
        }
        guard jsonrpc == .string("2.0"), case .string(let name)? = method, !name.isEmpty else { return nil }
        switch id {
        case nil, .string?, .number?, .null?: break
        default: return nil
        }
        switch params {
        case nil, .array?, .object?: break
        default: return nil
        }
        self.init(id: id, method: name, params: params)
        if idNeedsItsText, let idSpan { idText = String(decoding: UnsafeBufferPointer(rebasing: bytes[idSpan]), as: UTF8.self) }
        if let paramsSpan {
            let raw = UnsafeBufferPointer(rebasing: bytes[paramsSpan])
            if Self.isWrittenAsSerialized(raw) { paramsText = String(decoding: raw, as: UTF8.self) }
        }
    }

    /// `init(members:in:)` for a body held in an array.
    public init?(members: [(key: String, value: JSONValue, span: Range<Int>)], in bytes: [UInt8]) {
        guard let call = bytes.withUnsafeBufferPointer({ RPCCall(members: members, in: $0) }) else { return nil }
        self = call
    }

    /// Whether JSON text is certainly what `JSONValue.serialized()` writes for its value: arrays of
    /// strings without escapes, booleans and null, with no whitespace. Objects (whose keys are
    /// written sorted) and numbers (written in Swift's form) are left to the serializer.
    static func isWrittenAsSerialized(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var inString = false
        for byte in text {
            if inString {
                if byte == UInt8(ascii: "\"") { inString = false } else if byte == UInt8(ascii: "\\") || byte < 0x20 { return false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","), UInt8(ascii: "a")...UInt8(ascii: "z"): continue
            default: return false
            }
        }
        return !inString
    }

    /// The call with `paramsText` written (nil when there are no params).
    public func withParamsText() -> RPCCall {
        guard paramsText == nil, let params else { return self }
        var call = self
        call.paramsText = params.serialized()
        return call
    }
}

/// A failure the gateway reports to the client itself (SPEC section 3, error table).
public struct GatewayError: Error, Sendable, Equatable {
    public var code: Int
    /// HTTP status for a single (non-batch) request.
    public var httpStatus: Int
    public var message: String
    public var data: JSONValue?
    /// The id of the request it answers, when known.
    public var id: JSONValue?

    public init(code: Int, httpStatus: Int, message: String, data: JSONValue? = nil, id: JSONValue? = nil) {
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
        self.data = data
        self.id = id
    }

    public static func parseError(_ reason: String) -> GatewayError {
        GatewayError(code: -32700, httpStatus: 400, message: "parse error", data: .string(reason))
    }

    public static func invalidRequest(_ reason: String, id: JSONValue? = nil) -> GatewayError {
        GatewayError(code: -32600, httpStatus: 400, message: "invalid request", data: .string(reason), id: id)
    }

    public static func methodNotAllowed(_ method: String) -> GatewayError {
        GatewayError(code: -32601, httpStatus: 200, message: "method not allowed", data: .string("\(method) is not allowed on this chain by the gateway's configuration"))
    }

    public static func methodNotFound(_ method: String) -> GatewayError {
        GatewayError(code: -32601, httpStatus: 200, message: "the method \(method) does not exist/is not available")
    }

    /// Verified mode: no upstream's answer could be proven (SPEC section 3, -32011).
    public static func unproven(_ reason: String, attempts: [Attempt] = []) -> GatewayError {
        GatewayError(code: -32011, httpStatus: 502, message: "verification failed: the answer could not be proven", data: .object([
            "reason": .string(reason),
            "attempts": .array(attempts.map { .object(["upstream": .string($0.upstream), "outcome": .string($0.outcome)]) }),
        ]))
    }

    /// Upstreams disagreed and no majority of failure domains emerged.
    public static func quorumNotReached(_ attempts: [Attempt]) -> GatewayError {
        GatewayError(code: -32012, httpStatus: 502, message: "quorum not reached: upstreams disagreed", data: .object([
            "reason": .string("upstreams in different failure domains gave different answers and no majority emerged"),
            "attempts": .array(attempts.map { .object(["upstream": .string($0.upstream), "outcome": .string($0.outcome)]) }),
        ]))
    }

    /// No upstream could answer; `attempts` says what each one did.
    public static func noUpstream(_ attempts: [Attempt], reason: String = "no upstream could answer") -> GatewayError {
        GatewayError(code: -32010, httpStatus: 503, message: reason, data: .object([
            "reason": .string(reason),
            "attempts": .array(attempts.map { .object(["upstream": .string($0.upstream), "outcome": .string($0.outcome)]) }),
        ]))
    }

    /// The JSON-RPC error response object.
    public func responseJSON(id: JSONValue?, idText: String? = nil) -> String {
        var error: [String: JSONValue] = ["code": .number(Double(code)), "message": .string(message)]
        if let data { error["data"] = data }
        guard let idText else {
            return JSONValue.object(["jsonrpc": .string("2.0"), "id": id ?? .null, "error": .object(error)]).serialized()
        }
        return #"{"error":"# + JSONValue.object(error).serialized() + #","id":"# + idText + #","jsonrpc":"2.0"}"#
    }
}

/// Whether an answer came from the cache (SPEC section 3, `X-Bulwark-Cache`).
public enum CacheStatus: Sendable, Equatable {
    case hit
    case miss
    /// Served from an older answer because no upstream could answer.
    case stale(age: Duration)

    /// The word `X-Bulwark-Cache` and the metrics use: `hit`, `miss` or `stale`.
    public var name: String {
        switch self {
        case .hit: "hit"
        case .miss: "miss"
        case .stale: "stale"
        }
    }

    /// The status of a batch: `hit` only if every part hit, `stale` (the oldest age) if any part was stale.
    public static func combined(_ parts: [CacheStatus]) -> CacheStatus {
        var oldest: Duration?
        var allHit = !parts.isEmpty
        for part in parts {
            switch part {
            case .hit: break
            case .miss: allHit = false
            case .stale(let age): oldest = max(oldest ?? age, age); allHit = false
            }
        }
        if let oldest { return .stale(age: oldest) }
        return allHit ? .hit : .miss
    }
}

/// What one upstream did with one attempt, for `data.attempts` and logs. Never contains URLs or keys.
public struct Attempt: Sendable, Equatable {
    public var upstream: String
    public var outcome: String

    public init(upstream: String, outcome: String) {
        self.upstream = upstream
        self.outcome = outcome
    }
}

/// The answer to one call.
public enum CallOutcome: Sendable {
    /// An upstream answered: `member` is `"result"` or `"error"`, `value` its JSON bytes exactly as the upstream sent them.
    case answered(member: String, value: [UInt8], upstream: String)
    /// Verified mode: a `result` proven against trusted headers (built from proofs where the
    /// method asks for less than a proof, e.g. a balance), after `upstream` supplied the evidence.
    case verified(value: [UInt8], upstream: String)
    /// The gateway answers itself (e.g. eth_chainId, eth_blockNumber from the consensus head).
    case local(result: JSONValue)
    /// From the cache: the JSON `result` bytes as an upstream once sent them. `staleAge` is set
    /// when no upstream could answer and an older answer was served (`staleIfError`).
    case cached(value: [UInt8], staleAge: Duration?)
    case failed(GatewayError)

    /// What `X-Bulwark-Cache` says of it.
    public var cacheStatus: CacheStatus {
        switch self {
        case .local: .hit
        case .cached(_, let staleAge?): .stale(age: staleAge)
        case .cached: .hit
        case .answered, .verified, .failed: .miss
        }
    }

    public var upstream: String? {
        switch self {
        case .answered(_, _, let upstream), .verified(_, let upstream): upstream
        case .local, .cached, .failed: nil
        }
    }

    /// The `result` bytes of an answer (not an error), wherever it came from.
    var resultBytes: [UInt8]? {
        switch self {
        case .answered("result", let value, _), .verified(let value, _), .cached(let value, _): value
        default: nil
        }
    }
}

/// Where calls and answers are written as JSON text: a String (here, and in the fuzzer that
/// compiles this file on its own) or the buffer a request or answer is sent from
/// (RPCCall+Wire.swift). One writer of each format serves both.
public protocol JSONTextOutput {
    mutating func append(_ text: StaticString)
    mutating func append(_ text: String)
    mutating func append(bytes: [UInt8])
    /// A non-negative integer in decimal.
    mutating func append(decimal: Int)
}

extension String: JSONTextOutput {
    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { self += String(decoding: $0, as: UTF8.self) }
    }

    public mutating func append(bytes: [UInt8]) {
        self += String(decoding: bytes, as: UTF8.self)
    }

    public mutating func append(decimal: Int) {
        self += String(decimal)
    }
}

extension RPCCall {
    /// The request as sent to an upstream, under the gateway's own id: params as written once
    /// (`paramsText`) or serialized.
    public func writeUpstreamBody(id upstreamId: Int, into out: inout some JSONTextOutput) {
        out.append(#"{"jsonrpc":"2.0","id":"#)
        out.append(decimal: upstreamId)
        out.append(#","method":"#)
        if method.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 < 0x80 }) {
            out.append("\"")
            out.append(method)
            out.append("\"")
        } else {
            var quoted = ""
            JSONValue.string(method).write(to: &quoted)
            out.append(quoted)
        }
        if let paramsText {
            out.append(#","params":"#)
            out.append(paramsText)
        } else if let params {
            out.append(#","params":"#)
            out.append(params.serialized())
        }
        out.append("}")
    }

    /// `writeUpstreamBody` as text.
    public func upstreamBodyText(id upstreamId: Int) -> String {
        var text = ""
        writeUpstreamBody(id: upstreamId, into: &text)
        return text
    }
}

extension CallOutcome {
    /// The JSON-RPC response object for a client id (`idText`: the id as the client wrote it).
    public func responseJSON(id: JSONValue?, idText: String? = nil) -> String {
        var text = ""
        writeResponse(id: id, idText: idText, into: &text)
        return text
    }

    /// `responseJSON`, written into `out`: an answer's bytes go in as they arrived (they were
    /// checked as JSON, and so as UTF-8, when the answer was read).
    public func writeResponse(id: JSONValue?, idText: String?, into out: inout some JSONTextOutput) {
        if case .failed(let error) = self { return out.append(error.responseJSON(id: id, idText: idText)) }
        out.append(#"{"jsonrpc":"2.0","id":"#)
        if let idText {
            out.append(idText)
        } else if case .number(let number)? = id, let integer = Int(exactly: number), integer >= 0 {
            out.append(decimal: integer)
        } else {
            var text = ""
            (id ?? .null).write(to: &text)
            out.append(text)
        }
        switch self {
        case .answered(let member, let value, _):
            out.append(#",""#)
            out.append(member)
            out.append(#"":"#)
            out.append(bytes: value)
        case .cached(let value, _), .verified(let value, _):
            out.append(#","result":"#)
            out.append(bytes: value)
        case .local(let result):
            var text = ""
            result.write(to: &text)
            out.append(#","result":"#)
            out.append(text)
        case .failed:
            break  // written whole above
        }
        out.append("}")
    }
}
