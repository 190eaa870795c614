import EthereumKit
import Failsafe
import NIOCore

/// Verified `eth_getLogs` (SPEC section 5): the answer is built from receipts that rebuild the
/// `receiptsRoot` of trusted headers, for every block of the range whose `logsBloom` can match
/// the filter — so a provider can neither forge a log nor leave one out.
extension ChainRouter {
    /// The widest range verified mode proves in one call; wider ranges get -32011 (split them).
    static let maximumVerifiedLogRange: UInt64 = 1_000

    /// An `eth_getLogs` filter: which addresses and which topic at each position may match (nil: any).
    struct LogFilter {
        var addresses: [[UInt8]]?
        var topics: [[[UInt8]]?]

        init?(_ filter: [String: JSONValue]) {
            func bytes(_ value: JSONValue) -> [UInt8]? { value.stringValue.flatMap { try? Hex.decode($0) } }
            switch filter["address"] {
            case nil, .null?: addresses = nil
            case .string?: guard let one = filter["address"].flatMap(bytes) else { return nil }; addresses = [one]
            case .array(let list)?:
                let decoded = list.compactMap(bytes)
                guard decoded.count == list.count else { return nil }
                addresses = decoded.isEmpty ? nil : decoded
            default: return nil
            }
            topics = []
            if case .array(let positions)? = filter["topics"] {
                for position in positions {
                    switch position {
                    case .null: topics.append(nil)
                    case .string: guard let one = bytes(position) else { return nil }; topics.append([one])
                    case .array(let alternatives):
                        let decoded = alternatives.compactMap(bytes)
                        guard decoded.count == alternatives.count else { return nil }
                        topics.append(decoded.isEmpty ? nil : decoded)
                    default: return nil
                    }
                }
            } else if filter["topics"] != nil && filter["topics"] != .null {
                return nil
            }
        }

        /// Whether a block with this bloom can hold a matching log.
        func mayMatch(_ bloom: LogsBloom) -> Bool {
            if let addresses, !addresses.contains(where: bloom.mayContain) { return false }
            for case let alternatives? in topics where !alternatives.contains(where: bloom.mayContain) { return false }
            return true
        }

        func matches(_ log: JSONValue) -> Bool {
            guard let address = log["address"]?.stringValue.flatMap({ try? Hex.decode($0) }) else { return false }
            if let addresses, !addresses.contains(address) { return false }
            let logTopics = log["topics"]?.arrayValue?.compactMap { $0.stringValue.flatMap { try? Hex.decode($0) } } ?? []
            for (position, alternatives) in topics.enumerated() {
                guard let alternatives else { continue }
                guard position < logTopics.count, alternatives.contains(logTopics[position]) else { return false }
            }
            return true
        }
    }

    func verifiedLogs(_ call: RPCCall, deadline: MonotonicClock.Instant) async -> CallOutcome {
        guard case .array(let params)? = call.params, params.count == 1, case .object(let object) = params[0],
              let filter = LogFilter(object) else {
            return .failed(.unproven("eth_getLogs takes one filter object with address and topics as hex"))
        }
        // Filters geth refuses are refused the same way (its -32602 and its words).
        if object["blockHash"] != nil && (object["fromBlock"] != nil || object["toBlock"] != nil) {
            return .failed(Self.invalidParams("invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other"))
        }
        if let to = object["toBlock"]?.quantityValue, let head = consensusHead, to > head {
            return .failed(Self.invalidParams("block range extends beyond current head block"))
        }
        if let from = object["fromBlock"]?.quantityValue, let to = object["toBlock"]?.quantityValue, from > to {
            return .failed(Self.invalidParams("invalid block range params"))
        }
        // The range, as trusted headers: by hash one block; else from..to, proven from the top down.
        var headers: [TrustedHeaders.Entry] = []
        if let hash = object["blockHash"] {
            switch await trustedHeader(for: hash, deadline: deadline) {
            case .success(let entry): headers = [entry]
            case .failure(let error): return .failed(error)
            }
        } else {
            let top: TrustedHeaders.Entry, bottom: TrustedHeaders.Entry
            switch await trustedHeader(for: object["toBlock"], deadline: deadline) {
            case .success(let entry): top = entry
            case .failure(let error): return .failed(error)
            }
            switch await trustedHeader(for: object["fromBlock"], deadline: deadline) {
            case .success(let entry): bottom = entry
            case .failure(let error): return .failed(error)
            }
            let from = bottom.header.blockNumber, to = top.header.blockNumber
            guard from <= to else { return .failed(Self.invalidParams("invalid block range params")) }
            guard to - from < Self.maximumVerifiedLogRange else {
                return .failed(.unproven("a range of \(to - from + 1) blocks is more than verified mode proves in one call (\(Self.maximumVerifiedLogRange)); split it"))
            }
            switch await headerChain(from: from, to: top, deadline: deadline) {
            case .success(let chain): headers = chain
            case .failure(let error): return .failed(error)
            }
        }

        // Receipts of every block whose bloom can match, each set proven against its receiptsRoot.
        var logs: [JSONValue] = []
        var answeredBy = ""
        for entry in headers {
            guard let bloom = LogsBloom(bytes: entry.header.logsBloom), filter.mayMatch(bloom) else { continue }
            let (outcome, proven) = await provenReceipts(of: entry, deadline: deadline, auxiliary: true)
            guard case .verified(_, let upstream) = outcome, let receipts = proven else {
                if case .failed(let error) = outcome { return .failed(error) }
                return .failed(.unproven("the receipts of block \(entry.header.blockNumber) could not be proven"))
            }
            answeredBy = upstream
            for receipt in receipts {
                for log in receipt["logs"]?.arrayValue ?? [] where filter.matches(log) { logs.append(log) }
            }
        }
        return .verified(value: Array(JSONValue.array(logs).serialized().utf8), upstream: answeredBy)
    }

    static func invalidParams(_ message: String) -> GatewayError {
        GatewayError(code: -32602, httpStatus: 200, message: message)
    }

    /// The trusted headers from `from` up to `top`, each proven by its hash being its child's
    /// `parentHash`; fetched in one batch from one upstream (another if that one's do not link).
    func headerChain(from: UInt64, to top: TrustedHeaders.Entry, deadline: MonotonicClock.Instant) async -> Result<[TrustedHeaders.Entry], GatewayError> {
        guard let trustedHeaders else { return .failure(.unproven("verification is off")) }
        let numbers = Array(from..<top.header.blockNumber)
        let missing = numbers.filter { trustedHeaders.header(number: $0) == nil }
        var attempts: [Attempt] = []
        if !missing.isEmpty {
            var linked = false
            for index in plan(block: top.header.blockNumber) where !linked && MonotonicClock.now < deadline {
                let blocks = await batch(missing.map { RPCCall(id: nil, method: "eth_getBlockByNumber", params: .array([.quantity($0), .bool(false)])) },
                                         to: index, deadline: deadline)
                var byNumber: [UInt64: BlockHeader] = [:]
                for case let block? in blocks {
                    if let header = try? BlockHeader(json: block) { byNumber[header.blockNumber] = header }
                }
                // Walk down from the trusted top: each header must hash to the parentHash above it.
                var child = top
                var broken: UInt64?
                for number in numbers.reversed() {
                    if let known = trustedHeaders.header(number: number), known.hash == child.header.parentHash {
                        child = known
                        continue
                    }
                    guard let header = byNumber[number], let entry = trustedHeaders.trustParent(header, of: child) else {
                        broken = number
                        break
                    }
                    child = entry
                }
                if let broken {
                    let upstream = upstreams[index].spec.id
                    if byNumber[broken] != nil { recordLie(index, method: "eth_getBlockByNumber", evidence: "header \(broken) is not the parent of the trusted header above it") }
                    attempts.append(Attempt(upstream: upstream, outcome: byNumber[broken] == nil ? "did not return header \(broken)" : "header \(broken) does not link"))
                } else {
                    linked = true
                    recordVerified(index)
                }
            }
            guard linked else { return .failure(.unproven("the headers of blocks \(from)…\(top.header.blockNumber) could not be linked to a trusted header", attempts: attempts)) }
        }
        return .success(numbers.compactMap { trustedHeaders.header(number: $0) } + [top])
    }

    /// Sends `calls` as one JSON-RPC batch to upstream `index`; the results by position (nil where missing or an error).
    func batch(_ calls: [RPCCall], to index: Int, deadline: MonotonicClock.Instant) async -> [JSONValue?] {
        guard !calls.isEmpty else { return [] }
        let body = "[" + calls.enumerated().map { $0.element.upstreamBodyText(id: $0.offset) }.joined(separator: ",") + "]"
        let timeout = min(configuration.attemptTimeout * 2, deadline - .now)
        let start = MonotonicClock.now
        guard timeout > .zero, let response = try? await upstreams[index].transport.post(ByteBuffer(string: body), timeout: timeout),
              response.status == 200, case .array(let answers)? = try? JSONValue.parse(Array(response.body.readableBytesView)) else {
            record(index, failure: UpstreamFailure(.invalidResponse, "a batch went unanswered"))
            return Array(repeating: nil, count: calls.count)
        }
        record(index, success: MonotonicClock.now - start)
        var results = [JSONValue?](repeating: nil, count: calls.count)
        for answer in answers {
            guard case .number(let id)? = answer["id"], let position = Int(exactly: id), results.indices.contains(position) else { continue }
            results[position] = answer["result"]
        }
        return results
    }
}
