import EthereumKit
import Foundation
@testable import Routing

/// One recorded exchange of execution-apis/tests: a request geth received and what it answered.
struct RecordedExchange: Sendable {
    /// `<method>/<case>.io`, relative to execution-apis/tests.
    let file: String
    /// Position of the exchange in its file (0 for the first).
    let index: Int
    /// The request line exactly as recorded (what the test sends to the gateway).
    let requestText: String
    let request: JSONValue
    /// The response line exactly as recorded.
    let responseText: String
    let response: JSONValue

    var method: String { request["method"]?.stringValue ?? "" }
    var id: JSONValue? { request["id"] }
    /// `file#index`, unique over all recordings.
    var name: String { "\(file)#\(index)" }
}

/// The execution-apis recordings: real geth answers over the chain of `chain.rlp`.
enum Recordings {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/execution-apis/tests")

    /// Every exchange of every `.io` file, files in name order, exchanges in file order.
    static let all: [RecordedExchange] = {
        do { return try load() } catch { fatalError("cannot read the execution-apis recordings: \(error)") }
    }()

    static func load() throws -> [RecordedExchange] {
        let manager = FileManager.default
        var exchanges: [RecordedExchange] = []
        for directory in try manager.contentsOfDirectory(atPath: root.path).sorted() {
            var isDirectory: ObjCBool = false
            let url = root.appendingPathComponent(directory)
            guard manager.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            for name in try manager.contentsOfDirectory(atPath: url.path).sorted() where name.hasSuffix(".io") {
                let file = directory + "/" + name
                exchanges += try parse(file: file, text: String(decoding: try Data(contentsOf: url.appendingPathComponent(name)), as: UTF8.self))
            }
        }
        return exchanges
    }

    /// Reads `>> request` / `<< response` pairs; `//` lines are comments.
    static func parse(file: String, text: String) throws -> [RecordedExchange] {
        var exchanges: [RecordedExchange] = []
        var pending: (text: String, value: JSONValue)?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("//") { continue }
            if line.hasPrefix(">> ") {
                let requestText = String(line.dropFirst(3))
                pending = (requestText, try JSONValue.parse(Array(requestText.utf8)))
            } else if line.hasPrefix("<< ") {
                guard let request = pending else { throw RecordingError("\(file): a response without a request") }
                let responseText = String(line.dropFirst(3))
                exchanges.append(RecordedExchange(
                    file: file, index: exchanges.count, requestText: request.text, request: request.value,
                    responseText: responseText, response: try JSONValue.parse(Array(responseText.utf8))
                ))
                pending = nil
            }
        }
        return exchanges
    }

    /// The head of the recorded chain, as geth answered `eth_blockNumber` (0x36).
    static let head: UInt64 = {
        guard let text = all.first(where: { $0.method == "eth_blockNumber" })?.response["result"]?.stringValue,
              let number = UInt64(text.dropFirst(2), radix: 16) else { fatalError("no recorded eth_blockNumber") }
        return number
    }()

    /// The chain id, as geth answered `eth_chainId` (0xc72dd9d5e883e).
    static let chainId: UInt64 = {
        guard let text = all.first(where: { $0.method == "eth_chainId" })?.response["result"]?.stringValue,
              let number = UInt64(text.dropFirst(2), radix: 16) else { fatalError("no recorded eth_chainId") }
        return number
    }()
}

struct RecordingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How requests are matched to recordings: by method and params as JSON values, the id aside,
/// after undoing what the gateway changes on purpose before forwarding (`BlockTagPinning`):
/// for the methods it pins, `"latest"`, an omitted block parameter and the recorded head's
/// number are the same block.
enum ReplayKey {
    /// `method` and canonical params as stable JSON text (object keys sorted).
    static func of(method: String, params: JSONValue?, head: UInt64) -> String {
        method + " " + canonical(method: method, params: params, head: head).serialized()
    }

    /// What the gateway forwards for `params` when its consensus head is `head` (its own code).
    static func gatewayPinned(method: String, params: JSONValue?, head: UInt64) -> JSONValue? {
        BlockTagPinning.pin(method: method, params: params, head: head)
    }

    static func canonical(method: String, params: JSONValue?, head: UInt64) -> JSONValue {
        guard let params else { return .array([]) }
        // The gateway's own list, so that this stays in step with what it pins.
        guard let index = BlockTagPinning.blockParameterIndex[method], case .array(var list) = params else { return params }
        let number = JSONValue.quantity(head)
        if index < list.count {
            if list[index] == .string("latest") { list[index] = number }
        } else if index == list.count {
            list.append(number)
        }
        return .array(list)
    }
}
