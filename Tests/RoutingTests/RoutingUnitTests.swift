import EthereumKit
import NIOCore
import HTTPWire
import Testing
import Upstreams
@testable import Routing

@Suite struct ReplyClassificationTests {
    func reply(_ status: Int, _ body: String, headers: [(String, String)] = []) -> UpstreamReply {
        ReplyClassifier.classify(UpstreamHTTPResponse(status: status, headers: HTTPHeaderLines(headers), body: ByteBuffer(string: body)))
    }

    @Test func resultsPassThroughByteForByte() {
        guard case .answered(let member, let value, nil, nil) = reply(200, #"{"jsonrpc":"2.0","id":5,"result":{"b" : "0x01", "a":[1, 2]}}"#) else {
            Issue.record("not answered")
            return
        }
        #expect(member == "result")
        #expect(String(decoding: value, as: UTF8.self) == #"{"b" : "0x01", "a":[1, 2]}"#)
    }

    @Test func requestErrorsPassThroughAndUpstreamErrorsDoNot() {
        if case .answered(let member, _, let code, _) = reply(200, #"{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted","data":"0x08c379a0"}}"#) {
            #expect(member == "error" && code == 3)
        } else { Issue.record("a revert is the request's error") }
        if case .answered(_, _, let code, _) = reply(200, #"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"nonce too low: address 0x.., tx: 0 state: 1"}}"#) {
            #expect(code == -32000)
        } else { Issue.record("nonce too low is the request's error") }
        for body in [#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}}"#,
                     #"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}"#,
                     #"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}}"#,
                     #"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"missing trie node abc"}}"#] {
            guard case .upstreamFailure = reply(200, body) else { Issue.record("\(body) is the upstream's fault"); continue }
        }
    }

    @Test func httpAndPayloadFailures() {
        guard case .upstreamFailure(let limited) = reply(429, "slow down", headers: [("Retry-After", "7")]) else { Issue.record("wrong classification"); return }
        #expect(limited.kind == .rateLimited && limited.retryAfter == .seconds(7))
        guard case .upstreamFailure(let server) = reply(502, "<html>bad gateway</html>") else { Issue.record("wrong classification"); return }
        #expect(server.kind == .http5xx && server.description == "HTTP 502")
        guard case .upstreamFailure(let garbage) = reply(200, "<html>oops</html>") else { Issue.record("wrong classification"); return }
        #expect(garbage.kind == .invalidResponse)
        guard case .upstreamFailure(let empty) = reply(200, #"{"jsonrpc":"2.0","id":1}"#) else { Issue.record("wrong classification"); return }
        #expect(empty.kind == .invalidResponse)
    }
}

@Suite struct PinningAndConsensusTests {
    @Test func latestIsPinnedToTheConsensusHead() {
        let address = JSONValue.string("0x0000000000000000000000000000000000000001")
        #expect(BlockTagPinning.pin(method: "eth_getBalance", params: .array([address, .string("latest")]), head: 0x1234)
            == .array([address, .string("0x1234")]))
        #expect(BlockTagPinning.pin(method: "eth_getBalance", params: .array([address]), head: 16) == .array([address, .string("0x10")]))
        #expect(BlockTagPinning.pin(method: "eth_getBalance", params: .array([address, .string("0x5")]), head: 16) == .array([address, .string("0x5")]))
        #expect(BlockTagPinning.pin(method: "eth_getBlockByNumber", params: .array([.string("latest"), .bool(false)]), head: 16)
            == .array([.string("0x10"), .bool(false)]))
        #expect(BlockTagPinning.pin(method: "eth_getBlockByNumber", params: .array([.string("finalized"), .bool(false)]), head: 16)
            == .array([.string("finalized"), .bool(false)]))
        #expect(BlockTagPinning.pin(method: "eth_getTransactionByHash", params: .array([.string("0xab")]), head: 16) == .array([.string("0xab")]))
    }

    @Test func callValidation() throws {
        let call = try RPCCall(validating: .object(["jsonrpc": .string("2.0"), "id": .string("x"), "method": .string("eth_chainId")]))
        #expect(call.upstreamBodyText(id: 42) == #"{"jsonrpc":"2.0","id":42,"method":"eth_chainId"}"#)
        // A method name that needs escaping is escaped; params are written whether or not their text was kept.
        let odd = RPCCall(id: .number(1), method: "a\"b\\c\u{1}é", params: .array([.string("x"), .number(1)]))
        #expect(odd.upstreamBodyText(id: 7) == #"{"jsonrpc":"2.0","id":7,"method":"a\"b\\c\u0001é","params":["x",1]}"#)
        #expect(odd.withParamsText().upstreamBodyText(id: 7) == odd.upstreamBodyText(id: 7))
        // The buffer sent upstream holds exactly the text, whatever the id's length.
        let bytes = Array(#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000042","0x8"]}"#.utf8)
        let balance = try #require(RPCCall(members: try JSONValue.parseMembers(bytes), in: bytes))
        for id in [7, 1_234_567, Int.max] {
            #expect(String(buffer: balance.upstreamBody(id: id)) == balance.upstreamBodyText(id: id))
        }
        #expect(throws: GatewayError.self) { try RPCCall(validating: .object(["jsonrpc": .string("2.0"), "method": .number(1)])) }
        #expect(throws: GatewayError.self) { try RPCCall(validating: .object(["jsonrpc": .string("2.0"), "method": .string("m"), "params": .string("x")])) }
        #expect(throws: GatewayError.self) { try RPCCall(validating: .object(["jsonrpc": .string("2.0"), "method": .string("m"), "id": .object([:])])) }
    }

    /// A call read from its members is the call `init(validating:)` reads, and the params kept as
    /// written are exactly what writing them gives.
    @Test(arguments: [
        #"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000042","0x8"]}"#,
        #"{"method":"eth_getBlockByNumber","params":["latest",false],"id":"a","jsonrpc":"2.0"}"#,
        #"{"jsonrpc":"2.0","id":null,"method":"eth_call","params":[{"to":"0x01","data":"0x"},"latest"]}"#,
        #"{"jsonrpc":"2.0","id":9007199254740993,"method":"eth_chainId","params":[]}"#,
        #"{"jsonrpc":"2.0","id":2.50,"method":"m","params":[1,-2,3.0,true,null,"caf\u00e9","é"]}"#,
        #"{ "jsonrpc" : "2.0", "id" : 3, "method" : "m", "params" : [ "a" , "b" ] }"#,
        #"{"jsonrpc":"2.0","method":"eth_newFilter","params":{"b":1,"a":[]}}"#,
    ])
    func callsReadFromMembersMatchValidatedCalls(body: String) throws {
        let bytes = Array(body.utf8)
        let call = try #require(RPCCall(members: try JSONValue.parseMembers(bytes), in: bytes))
        let validated = try RPCCall(validating: try JSONValue.parse(bytes))
        #expect(call.id == validated.id && call.method == validated.method && call.params == validated.params)
        if let text = call.paramsText { #expect(text == validated.params?.serialized()) }
        #expect(call.withParamsText().paramsText == validated.params?.serialized())
        if call.idNeedsItsText { #expect(call.idText.map { body.contains(#""id":\#($0)"#) } == true) }
    }

    @Test func paramsAsWrittenAreKeptWhenTheyAreWhatWritingGives() throws {
        let plain = Array(#"{"jsonrpc":"2.0","id":1,"method":"m","params":["0xab",false,null,[]]}"#.utf8)
        #expect(RPCCall(members: try JSONValue.parseMembers(plain), in: plain)?.paramsText == #"["0xab",false,null,[]]"#)
        for params in [#"[ "0xab"]"#, #"["a\"b"]"#, #"[1]"#, #"[{"a":1}]"#] {
            let bytes = Array(#"{"jsonrpc":"2.0","id":1,"method":"m","params":\#(params)}"#.utf8)
            #expect(RPCCall(members: try JSONValue.parseMembers(bytes), in: bytes)?.paramsText == nil, "\(params)")
        }
    }

    /// Anything unusual is left to `init(validating:)`, which says what is wrong (or, for a
    /// duplicate key, takes the last).
    @Test(arguments: [
        #"{"jsonrpc":"2.0","id":1,"method":"m","method":"n"}"#, #"{"jsonrpc":"1.0","id":1,"method":"m"}"#,
        #"{"jsonrpc":"2.0","id":[1],"method":"m"}"#, #"{"jsonrpc":"2.0","id":1,"method":""}"#, #"{"jsonrpc":"2.0","method":"m","params":"x"}"#,
    ])
    func unusualCallsAreLeftToValidation(body: String) throws {
        let bytes = Array(body.utf8)
        #expect(RPCCall(members: try JSONValue.parseMembers(bytes), in: bytes) == nil)
    }
}

@Suite struct ResultShapeTests {
    func reply(_ method: String, _ body: String) -> UpstreamReply {
        ReplyClassifier.classify(UpstreamHTTPResponse(status: 200, body: ByteBuffer(string: body)), method: method)
    }

    @Test func decimalNumbersAndWrongTypesAreTheUpstreamsFault() {
        for (method, body) in [("eth_getBalance", #"{"jsonrpc":"2.0","id":1,"result":0}"#),
                               ("eth_chainId", #"{"jsonrpc":"2.0","id":1,"result":131277322940537}"#),
                               ("eth_getBlockByNumber", #"{"jsonrpc":"2.0","id":1,"result":"0x1"}"#),
                               ("eth_getLogs", #"{"jsonrpc":"2.0","id":1,"result":{}}"#)] {
            guard case .upstreamFailure(let failure) = reply(method, body) else { Issue.record("\(method) \(body) accepted"); continue }
            #expect(failure.kind == .invalidResponse)
        }
        guard case .answered = reply("eth_getBalance", #"{"jsonrpc":"2.0","id":1,"result":"0x0"}"#) else { Issue.record("a hex balance was refused"); return }
        guard case .answered = reply("eth_getBlockByNumber", #"{"jsonrpc":"2.0","id":1,"result":null}"#) else { Issue.record("a null block was refused"); return }
    }

    @Test func wrappedMethodNotFoundIsRecognised() {
        guard case .answered(_, _, let code, _) = reply("eth_getProof", #"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"{'code': -32601, 'message': 'RPC Endpoint has not been implemented: eth_getProof'}"}}"#) else {
            Issue.record("not recognised")
            return
        }
        #expect(code == -32601)
    }
}
