import Foundation
import Testing
@testable import EthereumKit

@Suite struct JSONParserTests {
    /// Every recorded geth response in execution-apis parses, and serializing it back gives
    /// the same document as Foundation's parser sees it.
    @Test func parsesEveryRecordedResponse() throws {
        let root = Fixtures.root.appendingPathComponent("execution-apis/tests")
        var parsed = 0
        for directory in try FileManager.default.contentsOfDirectory(atPath: root.path) {
            guard let files = try? Fixtures.files(in: directory) else { continue }
            for file in files {
                let text = String(decoding: try Fixtures.data("execution-apis/tests/" + file), as: UTF8.self)
                for line in text.split(separator: "\n") where line.hasPrefix("<< ") || line.hasPrefix(">> ") {
                    let bytes = Array(line.dropFirst(3).utf8)
                    let ours = try JSONValue.parse(bytes)
                    let reference = try JSONSerialization.jsonObject(with: Data(bytes))
                    let roundTrip = try JSONSerialization.jsonObject(with: Data(ours.serialized().utf8))
                    #expect(NSDictionary(dictionary: ["v": reference]).isEqual(to: ["v": roundTrip]), "\(file)")
                    parsed += 1
                }
            }
        }
        #expect(parsed > 300)
    }

    @Test func valuesAndEscapes() throws {
        #expect(try JSONValue.parse(Array(#" {"a" : [1, -2.5e3, true, false, null, "x"]} "#.utf8))
            == .object(["a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null, .string("x")])]))
        #expect(try JSONValue.parse(Array(#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#.utf8)) == .string("\"\\/\u{8}\u{c}\n\r\té😀"))
        #expect(try JSONValue.parse(Array("\"h\u{e9}llo\"".utf8)) == .string("héllo"))
        #expect(JSONValue.string("a\"b\u{1}").serialized() == #""a\"b\u0001""#)
        #expect(JSONValue.number(1).serialized() == "1")
        #expect(JSONValue.number(0.5).serialized() == "0.5")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "tru", "nul", "\"abc", "\"a\u{1}b\"", #""\x""#,
        #""\ud800""#, #""\udc00x""#, "NaN", "[1 2]", "{\"a\" 1}", "{1:2}", "1 2", "\u{FF}",
    ])
    func rejectsInvalidJSON(text: String) {
        #expect(throws: VerificationError.self, "\(text)") { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: VerificationError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        let deep = Array(repeating: UInt8(ascii: "["), count: 100_000) + Array(repeating: UInt8(ascii: "]"), count: 100_000)
        do {
            _ = try JSONValue.parse(deep)
            Issue.record("deep nesting accepted")
        } catch {
            #expect(error.message.contains("nested deeper than 512 levels"))
        }
        let fine = Array(repeating: UInt8(ascii: "["), count: 500) + Array(repeating: UInt8(ascii: "]"), count: 500)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }

    /// The largest body a client may send (1 MiB), nested as deeply as it can be with objects, arrays
    /// or both, is refused with the depth error; nesting at the bound itself still parses.
    @Test(arguments: [#"{"a":"#, "[", #"[{"a":"#])
    func deepNestingOfAMebibyteBodyIsRejected(opening: String) throws {
        let body = Array(String(repeating: opening, count: (1 << 20) / opening.utf8.count).utf8)
        do {
            _ = try JSONValue.parse(body)
            Issue.record("deep nesting accepted")
        } catch {
            #expect(error.message.contains("nested deeper than \(JSONParser.maxDepth) levels"))
        }
        let atTheBound = String(repeating: #"{"a":"#, count: JSONParser.maxDepth - 1) + "[]" + String(repeating: "}", count: JSONParser.maxDepth - 1)
        #expect(throws: Never.self) { try JSONValue.parse(Array(atTheBound.utf8)) }
    }

    /// Found by the fuzzer (Fuzz/JSONRPCFuzzer): keys were sorted with String's `<`, under which
    /// neither "éN" nor "e\u{301}" comes first, so one object could serialise in two orders (and give
    /// two cache keys for the same params). Keys are now written in UTF-8 byte order.
    @Test func objectKeysSerialiseInOneOrder() throws {
        let value = try JSONValue.parse(Array(#"{"\u00e9N":1,"e\u0301":2,"m":3}"#.utf8))
        let text = value.serialized()
        // Bytes, not Strings: String's `==` would equate "e\u{301}" with "\u{e9}".
        #expect(Array(text.utf8) == Array("{\"e\u{301}\":2,\"m\":3,\"\u{e9}N\":1}".utf8))
        #expect(Array(try JSONValue.parse(Array(text.utf8)).serialized().utf8) == Array(text.utf8))
    }

    /// Found by the fuzzer (Fuzz/JSONRPCFuzzer): `11e1910` parsed to infinity, which serialised as
    /// `inf`, so a client's id came back in the response, and its params went upstream, as text no
    /// JSON parser reads. Numbers beyond Double's range are now refused, and a non-finite number
    /// made in code serialises as null.
    @Test func numbersBeyondDoublesRangeAreRejected() throws {
        for text in ["11e1910", "1e309", "-1e309", "[0,1e400]", #"{"jsonrpc":"2.0","id":1e999,"method":"eth_chainId"}"#] {
            do {
                let value = try JSONValue.parse(Array(text.utf8))
                Issue.record("\(text) parsed as \(value.serialized())")
            } catch {
                #expect(error.message.contains("number out of range"), "\(text): \(error.message)")
            }
        }
        #expect(try JSONValue.parse(Array("1.7976931348623157e308".utf8)) == .number(.greatestFiniteMagnitude))
        #expect(try JSONValue.parse(Array("-1e-400".utf8)) == .number(0))
        #expect(JSONValue.array([.number(.infinity), .number(-.infinity), .number(.nan)]).serialized() == "[null,null,null]")
    }

    /// Short integers are read without strtod; every number still reads as Double reads its text
    /// (the sign of -0 included), at the edge of the short path and beyond it.
    @Test(arguments: ["0", "-0", "7", "-7", "42", "999999999999999", "-99999999999999", "1000000000000000", "-999999999999999",
                      "9007199254740993", "12345678901234567890", "1.5", "-0.0", "1e3", "1E3", "10e-1", "123456789012345.5"])
    func numbersReadAsDoubleReadsThem(_ text: String) throws {
        let value = try JSONValue.parse(Array(text.utf8))
        let expected = try #require(Double(text))
        #expect(value == .number(expected))
        if case .number(let read) = value { #expect(read.sign == expected.sign, "\(text)") }
        #expect(try JSONValue.parse(Array("[\(text),\(text)]".utf8)) == .array([.number(expected), .number(expected)]))
    }
}

@Suite struct JSONMemberSpanTests {
    @Test func spansPointAtTheValueBytes() throws {
        let text = #" {"jsonrpc":"2.0", "id": [1,{"a":2}] ,"result" : {"b": "0x1", "c":[ ]} } "#
        let bytes = Array(text.utf8)
        let members = try JSONValue.parseMembers(bytes)
        #expect(members.map(\.key) == ["jsonrpc", "id", "result"])
        let result = try #require(members.first { $0.key == "result" })
        #expect(String(decoding: bytes[result.span], as: UTF8.self) == #"{"b": "0x1", "c":[ ]}"#)
        #expect(result.value == .object(["b": .string("0x1"), "c": .array([])]))
        #expect(String(decoding: bytes[members[1].span], as: UTF8.self) == #"[1,{"a":2}]"#)
        #expect(throws: VerificationError.self) { try JSONValue.parseMembers(Array("[1]".utf8)) }
        #expect(throws: VerificationError.self) { try JSONValue.parseMembers(Array(#"{"a":1} x"#.utf8)) }
    }

    /// `memberSpans` checks without building: the same spans as `parseMembers`, and exactly the same
    /// bodies refused, however deep in the value the fault is.
    @Test func spansWithoutValuesAcceptExactlyWhatParseAccepts() throws {
        let accepted = [
            #" {"jsonrpc":"2.0", "id": [1,{"a":2}] ,"result" : {"b": "0x1", "c":[ ]} } "#,
            #"{"result":"caf\u00e9 \ud83d\ude00 é","x":[true,false,null,-0.5e-3,1E+2]}"#,
            #"{}"#, #"{"a":{"b":{"c":[[[]]]}}}"#,
        ]
        for text in accepted {
            let bytes = Array(text.utf8)
            let spans = try JSONValue.memberSpans(bytes)
            let members = try JSONValue.parseMembers(bytes)
            #expect(spans.map(\.key) == members.map(\.key), "\(text)")
            #expect(spans.map(\.span) == members.map(\.span), "\(text)")
        }
        let refused = [
            #"{"result":"a\qb"}"#, #"{"result":"\ud800"}"#, "{\"result\":\"a\u{1}b\"}", #"{"result":[1,]}"#, #"{"result":{"a" 1}}"#,
            #"{"result":1e400}"#, #"{"result":01}"#, #"{"result":tru}"#, #"{"result":"open}"#, #"{"result":[}"#, #"{"a":1} x"#,
        ]
        for text in refused {
            #expect(throws: VerificationError.self, "\(text)") { try JSONValue.memberSpans(Array(text.utf8)) }
            #expect(throws: VerificationError.self, "\(text)") { try JSONValue.parse(Array(text.utf8)) }
        }
        #expect(throws: VerificationError.self, "not an object") { try JSONValue.memberSpans(Array("[1]".utf8)) }
        var invalidUTF8 = Array(#"{"result":"x"#.utf8)
        invalidUTF8 += [0xFF, 0x22, 0x7D]
        #expect(throws: VerificationError.self) { try JSONValue.memberSpans(invalidUTF8) }
        let deep = #"{"result":"# + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        #expect(throws: VerificationError.self) { try JSONValue.memberSpans(Array(deep.utf8)) }
    }
}
