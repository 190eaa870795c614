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
}
