import EthereumKit
import NIOHTTP1
import Simnet
import Synchronization

/// The recorded answers, indexed by `ReplayKey`: what a replay upstream knows.
struct ReplayBook: Sendable {
    /// A recorded answer: the `result` or `error` member, as the exact bytes geth sent.
    struct Answer: Sendable {
        let member: String
        let valueText: String
        let source: String
    }

    let head: UInt64
    private(set) var answers: [String: Answer] = [:]
    /// Keys recorded twice with different answers (a replay could not be faithful to both).
    private(set) var conflicts: [String] = []

    init(_ exchanges: [RecordedExchange], head: UInt64) throws {
        self.head = head
        for exchange in exchanges {
            let key = ReplayKey.of(method: exchange.method, params: exchange.request["params"], head: head)
            let bytes = Array(exchange.responseText.utf8)
            let members = try JSONValue.parseMembers(bytes)
            guard let member = members.first(where: { $0.key == "result" || $0.key == "error" }) else {
                throw RecordingError("\(exchange.name): a response without result or error")
            }
            let answer = Answer(member: member.key, valueText: String(decoding: bytes[member.span], as: UTF8.self), source: exchange.name)
            if let known = answers[key] {
                if (try? JSONValue.parse(Array(known.valueText.utf8))) != member.value || known.member != member.key {
                    conflicts.append("\(known.source) vs \(exchange.name)")
                }
                continue
            }
            answers[key] = answer
        }
        deriveHashOnlyBlocks(exchanges)
        deriveOtherBlockNames(exchanges)
    }

    /// geth answers `eth_getBlockBy*(…, false)` with the same block as `true`, transaction
    /// objects replaced by their hashes; the recordings hold only some `false` calls (the
    /// gateway's head poll asks for `["latest", false]`), so the rest are derived.
    private mutating func deriveHashOnlyBlocks(_ exchanges: [RecordedExchange]) {
        for exchange in exchanges where ["eth_getBlockByNumber", "eth_getBlockByHash"].contains(exchange.method) {
            guard case .array(let params)? = exchange.request["params"], params.count == 2, params[1] == .bool(true),
                  case .object(var block)? = exchange.response["result"], case .array(let transactions)? = block["transactions"] else { continue }
            block["transactions"] = .array(transactions.map { $0["hash"] ?? $0 })
            let key = ReplayKey.of(method: exchange.method, params: .array([params[0], .bool(false)]), head: head)
            guard answers[key] == nil else { continue }
            answers[key] = Answer(member: "result", valueText: JSONValue.object(block).serialized(), source: exchange.name + " (hashes only)")
        }
    }

    /// geth names a block either way with the same answer: `eth_getBlockByNumber` and
    /// `eth_getBlockByHash` return the same block object, `eth_getBlockReceipts` the same list
    /// by number, tag or hash, and `eth_getProof` at a block hash is the proof at that block's
    /// number; an unknown block is `null` with or without full transactions. Verified mode asks
    /// for headers by number and receipts by hash, while most recordings name the block the
    /// other way, so the other names are derived — only for blocks the recordings identify
    /// (number and hash both recorded together).
    private mutating func deriveOtherBlockNames(_ exchanges: [RecordedExchange]) {
        var hashByNumber: [UInt64: String] = [:]
        var numberByHash: [String: UInt64] = [:]
        func learn(_ number: JSONValue?, _ hash: JSONValue?) {
            guard let number = number?.quantityValue, let hash = hash?.stringValue?.lowercased() else { return }
            hashByNumber[number] = hash
            numberByHash[hash] = number
        }
        for exchange in exchanges {
            switch exchange.response["result"] {
            case .object(let block)? where ["eth_getBlockByNumber", "eth_getBlockByHash"].contains(exchange.method):
                learn(block["number"], block["hash"])
            case .array(let receipts)? where exchange.method == "eth_getBlockReceipts":
                for receipt in receipts { learn(receipt["blockNumber"], receipt["blockHash"]) }
            default:
                break
            }
        }
        func add(_ method: String, _ params: [JSONValue], _ answer: Answer) {
            let key = ReplayKey.of(method: method, params: .array(params), head: head)
            if answers[key] == nil { answers[key] = answer }
        }
        /// The block a block parameter names, when the recordings identify it.
        func block(_ parameter: JSONValue) -> (number: UInt64, hash: String)? {
            let number: UInt64?
            switch parameter {
            case .string(let text) where text.count == 66: number = numberByHash[text.lowercased()]
            case .string("latest"): number = head
            case .string("earliest"): number = 0
            default: number = parameter.quantityValue
            }
            guard let number, let hash = hashByNumber[number] else { return nil }
            return (number, hash)
        }
        for exchange in exchanges {
            guard case .array(let params)? = exchange.request["params"], let first = params.first else { continue }
            let recorded = answer(method: exchange.method, params: exchange.request["params"])
            switch exchange.method {
            case "eth_getBlockByNumber", "eth_getBlockByHash":
                guard params.count == 2, case .bool(let full) = params[1] else { continue }
                switch exchange.response["result"] {
                case .object(var object)?:
                    guard let recorded, let named = block(object["hash"] ?? .null) else { continue }
                    let variants: [(Bool, Answer)]
                    if full, case .array(let transactions)? = object["transactions"] {
                        object["transactions"] = .array(transactions.map { $0["hash"] ?? $0 })
                        variants = [(true, recorded), (false, Answer(member: "result", valueText: JSONValue.object(object).serialized(), source: exchange.name + " (hashes only)"))]
                    } else {
                        variants = [(full, recorded)]
                    }
                    for (full, answer) in variants {
                        add("eth_getBlockByNumber", [.quantity(named.number), .bool(full)], Answer(member: answer.member, valueText: answer.valueText, source: answer.source + " (by number)"))
                        add("eth_getBlockByHash", [.string(named.hash), .bool(full)], Answer(member: answer.member, valueText: answer.valueText, source: answer.source + " (by hash)"))
                    }
                case .null?:
                    add(exchange.method, [first, .bool(!full)], Answer(member: "result", valueText: "null", source: exchange.name + " (other transaction form)"))
                default:
                    continue
                }
            case "eth_getBlockReceipts":
                guard let recorded, recorded.member == "result", recorded.valueText != "null", let named = block(first) else { continue }
                add("eth_getBlockReceipts", [.string(named.hash)], Answer(member: "result", valueText: recorded.valueText, source: exchange.name + " (by hash)"))
                add("eth_getBlockReceipts", [.quantity(named.number)], Answer(member: "result", valueText: recorded.valueText, source: exchange.name + " (by number)"))
            case "eth_getProof":
                guard let recorded, recorded.member == "result", params.count >= 2 else { continue }
                let canonical = ReplayKey.canonical(method: exchange.method, params: exchange.request["params"], head: head)
                guard case .array(let pinned) = canonical, pinned.count == 3, let named = block(pinned[2]) else { continue }
                add("eth_getProof", [params[0], params[1], .quantity(named.number)], Answer(member: "result", valueText: recorded.valueText, source: exchange.name + " (by number)"))
                add("eth_getProof", [params[0], params[1], .string(named.hash)], Answer(member: "result", valueText: recorded.valueText, source: exchange.name + " (by hash)"))
            default:
                continue
            }
        }
    }

    func answer(method: String, params: JSONValue?) -> Answer? {
        answers[ReplayKey.of(method: method, params: params, head: head)]
    }
}

/// An upstream that answers like the recorded geth: each JSON-RPC call (single or batch) gets
/// the recorded answer of the same method and params (see `ReplayKey`), under the caller's id.
/// A call with no recording gets -32601, as geth answers a method it does not serve, and is
/// remembered in `unmatched` so that a test can tell the replay was not faithful.
final class ReplayUpstream: Sendable {
    enum Fault: Sendable, Equatable {
        case none
        /// Stops listening and drops its connections (connection refused).
        case killed
        /// HTTP 200 with a body that is not JSON.
        case garbage
    }

    private struct State {
        var fault: Fault = .none
        var served = 0
        var unmatched: [String] = []
    }

    /// The state the server's handler shares with the face.
    private final class Ledger: Sendable {
        let state = Mutex(State())
    }

    let id: String
    let domain: (provider: String, cloud: String, region: String)
    private let ledger: Ledger
    private let server: LoopbackHTTPServer

    init(id: String, provider: String, cloud: String, region: String, book: ReplayBook) {
        self.id = id
        domain = (provider, cloud, region)
        let ledger = Ledger()
        self.ledger = ledger
        server = LoopbackHTTPServer(port: 0) { request in
            Self.reply(to: request, book: book, ledger: ledger)
        }
    }

    var url: String { "http://127.0.0.1:\(server.port)" }
    var served: Int { ledger.state.withLock { $0.served } }
    var unmatched: [String] { ledger.state.withLock { $0.unmatched } }

    @discardableResult
    func start() async throws -> Int { try await server.start() }

    func stop() async { await server.stop() }

    /// Sets a fault; `.none` after `.killed` listens again on the same port.
    func setFault(_ fault: Fault) async throws {
        let previous = ledger.state.withLock { state in
            defer { state.fault = fault }
            return state.fault
        }
        if fault == .killed { await server.stop() }
        if previous == .killed && fault != .killed { try await server.start() }
    }

    private static func reply(to request: HTTPRequest, book: ReplayBook, ledger: Ledger) -> HTTPReply {
        if ledger.state.withLock({ $0.fault }) == .garbage {
            return .respond(status: .ok, headers: [("Content-Type", "application/json")], body: "<html><body>502 upstream hiccup</body></html>")
        }
        guard let json = try? JSONValue.parse(request.body) else {
            return .json(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#)
        }
        if case .array(let calls) = json {
            guard !calls.isEmpty else {
                return .json(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"empty batch"}}"#)
            }
            let answers = calls.compactMap { answer(to: $0, book: book, ledger: ledger) }
            return .json(answers.isEmpty ? "" : "[" + answers.joined(separator: ",") + "]")
        }
        return .json(answer(to: json, book: book, ledger: ledger) ?? "")
    }

    /// The JSON text answering one call; nil for a notification (no id), as geth does.
    private static func answer(to call: JSONValue, book: ReplayBook, ledger: Ledger) -> String? {
        guard case .object(let fields) = call, case .string(let method)? = fields["method"] else {
            return #"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}"#
        }
        guard let id = fields["id"] else { return nil }
        var out = #"{"jsonrpc":"2.0","id":"#
        id.write(to: &out)
        if let answer = book.answer(method: method, params: fields["params"]) {
            ledger.state.withLock { $0.served += 1 }
            out += ",\"" + answer.member + "\":" + answer.valueText + "}"
        } else {
            ledger.state.withLock { $0.unmatched.append(call.serialized()) }
            out += #","error":{"code":-32601,"message":"#
            JSONValue.string("the method \(method) does not exist/is not available").write(to: &out)
            out += "}}"
        }
        return out
    }
}
