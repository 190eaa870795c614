import EthereumKit
import RPCCallUnderFuzz

/// What libFuzzer runs on each input: one client body, handled as the gateway handles it
/// (`JSONValue.parse`, then `RPCCall(validating:)` for the object or each batch item), with
/// properties that trap when violated, so a wrong answer is found like a crash:
/// - a parsed value serialises to JSON that parses back to an equal value, and that
///   serialisation is a fixed point;
/// - under the gateway's depth limit, exactly the bodies nested no deeper parse, to the same value;
/// - `parseMembers` accepts exactly the objects `parse` accepts, agrees on the members (the last
///   of duplicate keys wins) and each member's byte span parses alone to the member's value;
///   `memberSpans` (which checks without building values) accepts the same and gives the same spans;
/// - an accepted call's upstream body is a JSON-RPC 2.0 request carrying the same method and
///   params; a rejected call and a parse failure give JSON error responses with the right code
///   and id.
func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let body = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    let value: JSONValue
    do {
        value = try JSONValue.parse(body)
    } catch {
        check((try? JSONValue.parseMembers(body)) == nil, "parseMembers accepts a body that parse rejects (\(error.message))")
        check((try? JSONValue.memberSpans(body)) == nil, "memberSpans accepts a body that parse rejects (\(error.message))")
        let response = GatewayError.parseError(error.message).responseJSON(id: nil)
        checkErrorResponse(response, code: -32700, id: nil)
        return 0
    }
    checkRoundTrip(value)
    checkMembers(of: body, parsedAs: value)
    checkCallFromMembers(of: body, parsedAs: value)
    checkDepthLimit(of: body, parsedAs: value, limit: gatewayDepthLimit)
    if case .array(let items) = value {
        for item in items { checkCall(item) }
    } else {
        checkCall(value)
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func parse(_ text: String) -> JSONValue? {
    try? JSONValue.parse(Array(text.utf8))
}

func checkRoundTrip(_ value: JSONValue) {
    let text = value.serialized()
    guard let again = parse(text) else { fatalError("property violated: serialised JSON does not parse: \(text.prefix(200))") }
    check(again == value, "serialised JSON parses to a different value: \(text.prefix(200))")
    // Bytes, not Strings: String's `==` treats canonically equivalent text as equal.
    check(Array(again.serialized().utf8) == Array(text.utf8), "serialising twice gives different text: \(text.prefix(200))")
}

func checkMembers(of body: [UInt8], parsedAs value: JSONValue) {
    let members = try? JSONValue.parseMembers(body)
    let spans = try? JSONValue.memberSpans(body)
    guard case .object(let fields) = value else {
        check(members == nil, "parseMembers accepts a body that is not an object")
        check(spans == nil, "memberSpans accepts a body that is not an object")
        return
    }
    guard let members else { fatalError("property violated: parseMembers rejects an object that parse accepts") }
    guard let spans else { fatalError("property violated: memberSpans rejects an object that parse accepts") }
    check(spans.map(\.key) == members.map(\.key) && spans.map(\.span) == members.map(\.span), "memberSpans and parseMembers disagree")
    var lastWins: [String: JSONValue] = [:]
    for member in members {
        lastWins[member.key] = member.value
        check(member.span.lowerBound >= 0 && member.span.upperBound <= body.count, "member span \(member.span) outside the body")
        let alone = try? JSONValue.parse(body[member.span])
        check(alone == member.value, "the span of member '\(member.key)' does not parse to its value")
    }
    check(lastWins == fields, "parseMembers and parse disagree on the members")
}

/// The gateway's fast path: a call read from the members is the validated call, and params or an
/// id kept as written are what writing them gives (params) or what the client wrote (id).
func checkCallFromMembers(of body: [UInt8], parsedAs value: JSONValue) {
    guard let members = try? JSONValue.parseMembers(body), let call = RPCCall(members: members, in: body) else { return }
    guard let validated = try? RPCCall(validating: value) else { fatalError("property violated: a call read from members fails validation") }
    check(call.id == validated.id && call.method == validated.method && call.params == validated.params, "the call read from members differs")
    if let text = call.paramsText { check(text == validated.params?.serialized(), "params kept as written differ from their serialisation: \(text)") }
    if let idText = call.idText { check(parse(idText) == call.id, "the id kept as written is not the id") }
}

/// The gateway's default `server.maxJsonDepth`, with which it parses client bodies.
let gatewayDepthLimit = 64

/// Arrays and objects on the deepest path: 0 for a scalar, 1 for `[]`.
func nesting(_ value: JSONValue) -> Int {
    switch value {
    case .array(let items): 1 + (items.map(nesting).max() ?? 0)
    case .object(let fields): 1 + (fields.values.map(nesting).max() ?? 0)
    default: 0
    }
}

func checkDepthLimit(of body: [UInt8], parsedAs value: JSONValue, limit: Int) {
    let limited = try? JSONValue.parse(body, maxDepth: limit)
    if nesting(value) <= limit {
        check(limited == value, "a body nested \(nesting(value)) levels is refused or changed under a depth limit of \(limit)")
    } else {
        check(limited == nil, "a body nested \(nesting(value)) levels is accepted under a depth limit of \(limit)")
    }
}

func checkCall(_ item: JSONValue) {
    let call: RPCCall
    do throws(GatewayError) {
        call = try RPCCall(validating: item)
    } catch {
        check(error.code == -32600, "a call is rejected with code \(error.code), not -32600")
        checkErrorResponse(error.responseJSON(id: error.id), code: -32600, id: error.id)
        return
    }
    check(!call.method.isEmpty, "a call is accepted with an empty method")
    guard case .object(let request) = item else { fatalError("property violated: a call is accepted from a non-object") }
    check(call.id == request["id"] && call.params == request["params"], "the call does not keep the request's id and params")

    let upstream = call.upstreamBodyText(id: 7)
    guard case .object(let sent)? = parse(upstream) else { fatalError("property violated: upstream body is not a JSON object: \(upstream.prefix(200))") }
    check(sent["jsonrpc"] == .string("2.0") && sent["id"] == .number(7), "upstream body lacks jsonrpc 2.0 or the gateway's id")
    check(sent["method"] == .string(call.method), "upstream body changes the method")
    check(sent["params"] == call.params, "upstream body changes the params")
    check(sent.count == (call.params == nil ? 3 : 4), "upstream body has unexpected members")

    let answer = CallOutcome.local(result: .string("ok")).responseJSON(id: call.id)
    guard case .object(let response)? = parse(answer) else { fatalError("property violated: response is not a JSON object: \(answer.prefix(200))") }
    check(response["id"] == (call.id ?? .null), "the response does not echo the call's id")
}

func checkErrorResponse(_ text: String, code: Int, id: JSONValue?) {
    guard case .object(let response)? = parse(text), case .object(let error)? = response["error"] else {
        fatalError("property violated: error response is not JSON-RPC: \(text.prefix(200))")
    }
    check(error["code"] == .number(Double(code)), "error response has code \(String(describing: error["code"])), not \(code)")
    check(response["id"] == (id ?? .null), "error response does not carry the request's id")
}
