import Cache
import EthereumKit
import Failsafe

/// Verified mode (SPEC section 5): answers proven against headers that a quorum of failure
/// domains agree on, so that no single provider can make a client see a wrong value.
///
/// - Account reads (`eth_getBalance`, `eth_getTransactionCount`, `eth_getCode`,
///   `eth_getStorageAt`, `eth_getProof`) are answered from an `eth_getProof` verified against
///   the trusted header's `stateRoot` (code against `codeHash`).
/// - Blocks: the header hash is recomputed and must be the trusted one (by number) or the one
///   asked for (by hash); with full transactions, `transactionsRoot` is rebuilt.
/// - Receipts: the block's receipts must rebuild the trusted header's `receiptsRoot`.
/// - Logs: built from proven receipts of every block whose bloom can match (`VerifiedLogs.swift`).
///
/// An upstream whose answer fails is excluded for the cooling period and the call moves on to
/// another; when no answer can be proven the client gets -32011, never the unproven value.
extension ChainRouter {
    /// Methods whose answers verified mode proves; every other method is answered unverified.
    public static let verifiableMethods: Set<String> = [
        "eth_getBalance", "eth_getTransactionCount", "eth_getCode", "eth_getStorageAt", "eth_getProof",
        "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getTransactionReceipt", "eth_getBlockReceipts", "eth_getLogs",
    ]

    /// Whether an answer of `method` through this router counts as verified (`X-Bulwark-Verified`); nil when verification is off.
    public func verificationStatus(method: String, outcome: CallOutcome) -> Bool? {
        guard trustedHeaders != nil else { return nil }
        switch outcome {
        case .verified: return true
        // The cache keeps only proven answers of these methods (and `eth_chainId` is the configuration's own).
        case .cached: return Self.verifiableMethods.contains(method)
        case .local: return method == "eth_chainId"
        case .answered, .failed: return false
        }
    }

    func verified(_ call: RPCCall, deadline: MonotonicClock.Instant) async -> CallOutcome {
        guard case .array(let params)? = call.params ?? .array([]) else { return .failed(.unproven("params must be an array in verified mode")) }
        // Pending state belongs to no block and cannot be proven; it is what a client needs to send
        // (the next nonce), so it is answered as an upstream gives it, marked unverified.
        if params.contains(.string("pending")) { return await forward(call, deadline: deadline) }
        switch call.method {
        case "eth_getBalance", "eth_getTransactionCount", "eth_getCode":
            return await accountRead(call.method, address: params.first, slots: [], block: params.count > 1 ? params[1] : nil, deadline: deadline)
        case "eth_getStorageAt":
            guard params.count >= 2 else { return .failed(.unproven("eth_getStorageAt needs an address and a slot")) }
            return await accountRead(call.method, address: params[0], slots: [params[1]], block: params.count > 2 ? params[2] : nil, deadline: deadline)
        case "eth_getProof":
            guard params.count >= 2, case .array(let slots) = params[1] else { return .failed(.unproven("eth_getProof needs an address and a list of slots")) }
            return await accountRead(call.method, address: params[0], slots: slots, block: params.count > 2 ? params[2] : nil, deadline: deadline)
        case "eth_getBlockByNumber", "eth_getBlockByHash":
            return await block(call, params: params, deadline: deadline)
        case "eth_getTransactionReceipt":
            return await receipt(call, deadline: deadline)
        case "eth_getBlockReceipts":
            return await blockReceipts(call, params: params, deadline: deadline)
        case "eth_getLogs":
            return await verifiedLogs(call, deadline: deadline)
        default:
            return await forward(call, deadline: deadline)
        }
    }

    // MARK: Trusted headers

    /// Where a block parameter points: a trusted header, or why none can be had.
    func trustedHeader(for parameter: JSONValue?, deadline: MonotonicClock.Instant) async -> Result<TrustedHeaders.Entry, GatewayError> {
        guard let parameter, parameter != .string("latest") else {
            guard let head = consensusHead else { return .failure(.unproven("no consensus head yet")) }
            return await trustedHeader(number: head, deadline: deadline)
        }
        switch parameter {
        case .string("earliest"):
            return await trustedHeader(number: 0, deadline: deadline)
        case .string("finalized"), .string("safe"):
            guard let finalized = finalizedBlock else { return .failure(.unproven("no finalized block known yet")) }
            return await trustedHeader(number: finalized, deadline: deadline)
        case .string("pending"):
            return .failure(.unproven("pending state cannot be proven: it belongs to no block yet"))
        case .object(let object):
            if let number = object["blockNumber"] { return await trustedHeader(for: number, deadline: deadline) }
            if let hash = object["blockHash"]?.stringValue { return await headerByHash(hash, deadline: deadline) }
            return .failure(.unproven("a block parameter object needs blockNumber or blockHash"))
        case .string(let text) where text.count == 66:
            return await headerByHash(text, deadline: deadline)
        case let value:
            guard let number = value.quantityValue else { return .failure(.unproven("\(value.serialized()) is not a block number or tag")) }
            return await trustedHeader(number: number, deadline: deadline)
        }
    }

    /// The trusted header at `number`: known already, the parent of a trusted one, or proven now
    /// by upstreams in `quorumDomains` failure domains returning the same hash (asking further
    /// domains while they disagree).
    func trustedHeader(number: UInt64, deadline: MonotonicClock.Instant) async -> Result<TrustedHeaders.Entry, GatewayError> {
        guard let trustedHeaders else { return .failure(.unproven("verification is off")) }
        if let known = trustedHeaders.header(number: number) { return .success(known) }
        if let kept = await keptHeader(number: number) { return .success(kept) }
        if let head = consensusHead, number > head { return .failure(.unproven("block \(number) is beyond the consensus head \(head)")) }
        let call = RPCCall(id: nil, method: "eth_getBlockByNumber", params: .array([.quantity(number), .bool(false)]))

        // One step down a trusted hash chain costs one call and proves itself.
        if let child = trustedHeaders.header(number: number + 1) {
            for index in plan(block: number).prefix(2) {
                if let block = await forward(call, deadline: deadline, only: [index]).resultBytes.flatMap({ try? JSONValue.parse($0) }),
                   let header = try? BlockHeader(json: block), let entry = trustedHeaders.trustParent(header, of: child) {
                    await keep(entry)
                    return .success(entry)
                }
            }
        }

        var witnesses: [TrustedHeaders.Witness] = []
        var witnessIndices: [Int] = []
        var askedDomains: Set<String> = []
        var attempts: [Attempt] = []
        var anyAnswered = false
        while MonotonicClock.now < deadline {
            let needed = max(1, trustedHeaders.quorumDomains - Set(witnesses.map(\.domain)).count)
            var chosen: [Int] = []
            for index in plan(block: number) where chosen.count < needed {
                let domain = domainKey(index)
                if askedDomains.contains(domain) || chosen.contains(where: { domainKey($0) == domain }) { continue }
                chosen.append(index)
            }
            guard !chosen.isEmpty else { break }
            askedDomains.formUnion(chosen.map(domainKey))
            let answers = await withTaskGroup(of: (Int, CallOutcome).self) { group in
                for index in chosen { group.addTask { (index, await self.forward(call, deadline: deadline, only: [index])) } }
                var answers: [(Int, CallOutcome)] = []
                for await answer in group { answers.append(answer) }
                return answers
            }
            for (index, outcome) in answers {
                if case .answered = outcome { anyAnswered = true }
                if let bytes = outcome.resultBytes, let block = try? JSONValue.parse(bytes), block != .null {
                    witnesses.append(.init(domain: domainKey(index), block: block))
                    witnessIndices.append(index)
                } else {
                    attempts.append(Attempt(upstream: upstreams[index].spec.id, outcome: Self.describe(outcome)))
                }
            }
            let (verdict, liars) = trustedHeaders.judge(witnesses)
            if case .trusted(let entry) = verdict {
                for liar in liars { recordLie(witnessIndices[liar], method: "eth_getBlockByNumber", evidence: "header \(number) differs from the one \(trustedHeaders.quorumDomains) failure domains agree on") }
                await keep(entry)
                return .success(entry)
            }
        }
        let domains = Set(witnesses.map(\.domain)).count
        if !anyAnswered && !attempts.isEmpty && !hasLyingUpstreams { return .failure(.noUpstream(attempts)) }
        return .failure(.unproven("no \(trustedHeaders.quorumDomains) failure domains agreed on the header of block \(number) (\(domains) answered)", attempts: attempts))
    }

    /// Final trusted headers are kept in the cache store (as RLP), so that a restarted gateway —
    /// or another one sharing the store — trusts them without asking a quorum again.
    func keep(_ entry: TrustedHeaders.Entry) async {
        guard let cache, let finalized = cacheChainView?.finalized, entry.header.blockNumber <= finalized else { return }
        let value = Array(JSONValue.string(Hex.encode(entry.header.encoded)).serialized().utf8)
        try? await cache.configuration.store.put(Self.headerKey(configuration.chainName, entry.header.blockNumber),
                                                 CacheEntry(value: value, storedAt: ResponseCache.wallClockMilliseconds()))
    }

    func keptHeader(number: UInt64) async -> TrustedHeaders.Entry? {
        guard let cache, let trustedHeaders,
              let stored = try? await cache.configuration.store.get(Self.headerKey(configuration.chainName, number)),
              let text = (try? JSONValue.parse(stored.value))?.stringValue, let bytes = try? Hex.decode(text),
              let item = try? RLP.decode(bytes), let header = try? BlockHeader(rlp: item), header.blockNumber == number else { return nil }
        return trustedHeaders.adopt(header)
    }

    static func headerKey(_ chain: String, _ number: UInt64) -> CacheKey {
        CacheKey(chain: chain, method: "bulwark_trustedHeader", params: "[\(number)]")
    }

    /// A header named by its hash proves itself: any upstream's copy that hashes to it will do.
    func headerByHash(_ text: String, deadline: MonotonicClock.Instant) async -> Result<TrustedHeaders.Entry, GatewayError> {
        guard let bytes = try? Hex.decode(text), let hash = Bytes32(bytes) else { return .failure(.unproven("\(text) is not a block hash")) }
        if let known = trustedHeaders?.header(hash: hash) { return .success(known) }
        let call = RPCCall(id: nil, method: "eth_getBlockByHash", params: .array([.string(text), .bool(false)]))
        var found: TrustedHeaders.Entry?
        let outcome = await proven(call, deadline: deadline, auxiliary: true) { bytes, _ in
            guard let block = try? JSONValue.parse(bytes), block != .null else { return .unprovable("no block with that hash") }
            guard let header = try? BlockHeader(json: block), let entry = TrustedHeaders.selfCertified(header, hash: hash) else {
                return .lie("the header does not hash to \(text)")
            }
            found = entry
            return .proven(bytes)
        }
        if let found { return .success(found) }
        if case .failed(let error) = outcome { return .failure(error) }
        return .failure(.unproven("no upstream had the block \(text)"))
    }

    // MARK: Account reads

    func accountRead(_ method: String, address: JSONValue?, slots: [JSONValue], block: JSONValue?, deadline: MonotonicClock.Instant) async -> CallOutcome {
        guard let addressText = address?.stringValue, let addressBytes = try? Hex.decode(addressText), addressBytes.count == 20 else {
            return .failed(.unproven("invalid address"))
        }
        let header: TrustedHeaders.Entry
        switch await trustedHeader(for: block, deadline: deadline) {
        case .success(let entry): header = entry
        case .failure(let error): return .failed(error)
        }
        let blockNumber = JSONValue.quantity(header.header.blockNumber)
        let proofCall = RPCCall(id: nil, method: "eth_getProof", params: .array([.string(addressText), .array(slots), blockNumber]))
        var proven: AccountProof?
        let outcome = await self.proven(proofCall, deadline: deadline, auxiliary: method != "eth_getProof") { bytes, _ in
            guard let json = try? JSONValue.parse(bytes) else { return .lie("not JSON") }
            let proof: AccountProof
            do {
                proof = try AccountProof(json: json)
                guard proof.address == addressBytes else { return .lie("a proof for another address") }
                guard proof.storageProofs.count == slots.count else { return .lie("\(proof.storageProofs.count) storage proofs for \(slots.count) slots") }
                _ = try proof.verify(stateRoot: header.header.stateRoot)
            } catch {
                return .lie("eth_getProof does not verify against the state root of block \(header.header.blockNumber): \(error)")
            }
            proven = proof
            return .proven(bytes)
        }
        guard let proof = proven, case .verified(let proofBytes, let upstream) = outcome else { return outcome }
        switch method {
        case "eth_getBalance":
            return .verified(value: Array(JSONValue.string(Hex.encodeQuantity(proof.balance)).serialized().utf8), upstream: upstream)
        case "eth_getTransactionCount":
            return .verified(value: Array(JSONValue.string(Hex.encodeQuantity(proof.nonce)).serialized().utf8), upstream: upstream)
        case "eth_getStorageAt":
            let value = proof.storageProofs[0].value
            let word = [UInt8](repeating: 0, count: max(0, 32 - value.count)) + value.suffix(32)
            return .verified(value: Array(JSONValue.string(Hex.encode(word)).serialized().utf8), upstream: upstream)
        case "eth_getCode":
            if proof.codeHash == Bytes32.emptyCodeHash { return .verified(value: Array(#""0x""#.utf8), upstream: upstream) }
            let codeCall = RPCCall(id: nil, method: "eth_getCode", params: .array([.string(addressText), blockNumber]))
            return await self.proven(codeCall, deadline: deadline, auxiliary: true) { bytes, _ in
                guard let code = (try? JSONValue.parse(bytes))?.stringValue.flatMap({ try? Hex.decode($0) }) else { return .lie("code is not hex") }
                do { try proof.verify(code: code) } catch { return .lie("code does not hash to the proven codeHash") }
                return .proven(bytes)
            }
        default:
            return .verified(value: proofBytes, upstream: upstream)
        }
    }

    // MARK: Blocks and receipts

    func block(_ call: RPCCall, params: [JSONValue], deadline: MonotonicClock.Instant) async -> CallOutcome {
        guard let first = params.first else { return .failed(.unproven("a block number or hash is needed")) }
        let expected: TrustedHeaders.Entry
        var forwarded = call
        if call.method == "eth_getBlockByHash" {
            guard let text = first.stringValue, let bytes = try? Hex.decode(text), let hash = Bytes32(bytes) else { return .failed(.unproven("invalid block hash")) }
            return await proven(call, deadline: deadline) { bytes, _ in
                // Absence cannot be proven: a `null` passes, unverified, once no upstream has the block.
                bytes.elementsEqual("null".utf8) ? .unprovable("no block with that hash", passing: bytes) : Self.checkBlock(bytes, hash: hash)
            }
        }
        // A block beyond the consensus head does not exist yet as far as this gateway can tell: geth's answer is `null`.
        if let number = first.quantityValue, let head = consensusHead, number > head {
            return .answered(member: "result", value: Array("null".utf8), upstream: "")
        }
        switch await trustedHeader(for: first, deadline: deadline) {
        case .success(let entry): expected = entry
        case .failure(let error): return .failed(error)
        }
        // A tag becomes the number its trusted header has, so every upstream answers for the same block.
        var rewritten = params
        rewritten[0] = .quantity(expected.header.blockNumber)
        forwarded.params = .array(rewritten)
        return await proven(forwarded, deadline: deadline) { bytes, _ in Self.checkBlock(bytes, hash: expected.hash) }
    }

    static func checkBlock(_ bytes: [UInt8], hash: Bytes32) -> Check {
        guard let json = try? JSONValue.parse(bytes), json != .null else { return .unprovable("no block where the trusted chain has one") }
        do {
            _ = try BlockVerifier.verify(block: json)
        } catch {
            return .lie("the block does not verify: \(error)")
        }
        guard let header = try? BlockHeader(json: json), header.hash == hash else { return .lie("a block other than \(hash)") }
        return .proven(bytes)
    }

    func receipt(_ call: RPCCall, deadline: MonotonicClock.Instant) async -> CallOutcome {
        guard case .array(let params)? = call.params, let hashText = params.first?.stringValue else { return .failed(.unproven("a transaction hash is needed")) }
        return await proven(call, deadline: deadline) { bytes, _ in
            // Absence cannot be proven: `null` (not mined, unknown) passes, unverified.
            if bytes.elementsEqual("null".utf8) { return .unprovable("no receipt", passing: bytes) }
            guard let receipt = try? JSONValue.parse(bytes), let number = receipt["blockNumber"]?.quantityValue,
                  let blockHash = receipt["blockHash"]?.stringValue else { return .lie("a receipt without its block") }
            // Mined in a block this gateway's head has not reached: not yet, as far as it can tell.
            if let head = self.consensusHead, number > head { return .unprovable("block \(number) is beyond the consensus head", passing: Array("null".utf8)) }
            guard case .success(let header) = await self.trustedHeader(number: number, deadline: deadline) else {
                return .unprovable("no trusted header for block \(number)")
            }
            guard header.hash.description == blockHash.lowercased() else { return .lie("a receipt from a block not on the trusted chain") }
            // The receipt must be one of the block's receipts, and those must rebuild receiptsRoot.
            guard let proven = await self.provenReceipts(of: header, deadline: deadline, auxiliary: true).receipts else { return .unprovable("the receipts of block \(number) could not be proven") }
            guard let match = proven.first(where: { $0["transactionHash"]?.stringValue?.lowercased() == hashText.lowercased() }) else {
                return .lie("the transaction is not among the proven receipts of the block it names")
            }
            guard match == receipt else { return .lie("the receipt differs from the block's proven receipt") }
            return .proven(bytes)
        }
    }

    func blockReceipts(_ call: RPCCall, params: [JSONValue], deadline: MonotonicClock.Instant) async -> CallOutcome {
        let header: TrustedHeaders.Entry
        switch await trustedHeader(for: params.first, deadline: deadline) {
        case .success(let entry): header = entry
        case .failure(let error): return .failed(error)
        }
        return await provenReceipts(of: header, deadline: deadline, auxiliary: false).outcome
    }

    /// The receipts of a trusted block, asked by its hash and proven against its `receiptsRoot`
    /// (`auxiliary`: asked to prove another answer, so upstream errors only mean "not proven").
    func provenReceipts(of block: TrustedHeaders.Entry, deadline: MonotonicClock.Instant, auxiliary: Bool) async -> (outcome: CallOutcome, receipts: [JSONValue]?) {
        let call = RPCCall(id: nil, method: "eth_getBlockReceipts", params: .array([.string(block.hash.description)]))
        let number = block.header.blockNumber
        var receipts: [JSONValue]?
        let outcome = await proven(call, deadline: deadline, auxiliary: auxiliary) { bytes, _ in
            guard let json = try? JSONValue.parse(bytes), json != .null else { return .unprovable("no receipts for block \(number), which the trusted chain has") }
            guard case .array(let items) = json else { return .lie("not a list of receipts") }
            do { _ = try ReceiptsVerifier.verify(receipts: json, receiptsRoot: block.header.receiptsRoot) } catch {
                return .lie("the receipts of block \(number) do not rebuild its receiptsRoot: \(error)")
            }
            receipts = items
            return .proven(bytes)
        }
        return (outcome, receipts)
    }

    // MARK: Asking until something is proven

    /// What a check makes of one upstream's answer.
    enum Check {
        /// Proven; these bytes are the answer.
        case proven([UInt8])
        /// Contradicts what is proven: the upstream lied (or serves another chain) and is excluded for the cooling period.
        case lie(String)
        /// Cannot be proven, and nothing contradicts it (a missing block, a header not yet trusted):
        /// ask another upstream; `passing` is answered, unverified, if none does better.
        case unprovable(String, passing: [UInt8]? = nil)
    }

    /// Asks upstreams one at a time (each next one in another failure domain; one slower than its
    /// recent p95 is hedged with the next, as unverified calls are) until an answer passes `check`. An upstream whose answer contradicts what is proven is recorded as lying
    /// and excluded; one that cannot be proven is just passed over. A JSON-RPC error that two
    /// upstreams give belongs to the request and passes through — unless the call is `auxiliary`
    /// (asked by the gateway to prove another), where errors only mean "not proven". When nothing
    /// is proven: an unprovable answer's `passing` value (unverified), else -32011.
    func proven(_ call: RPCCall, deadline: MonotonicClock.Instant, auxiliary: Bool = false,
                check: ([UInt8], Int) async -> Check) async -> CallOutcome {
        var tried: Set<Int> = []
        var attempts: [Attempt] = []
        var requestErrors: [CallOutcome] = []
        var passing: CallOutcome?
        var answered = false
        let block = BlockTagPinning.requestedBlock(method: call.method, params: call.params)

        enum Event: Sendable {
            case answer(Int, CallOutcome)
            case hedge
        }
        let decided: CallOutcome? = await withTaskGroup(of: Event.self) { group in
            var running = 0
            /// Asks the next upstream; while one is slower than its recent p95, a second is asked too (a hedge).
            func startNext() -> Bool {
                guard MonotonicClock.now < deadline, let index = plan(block: block).first(where: { !tried.contains($0) }) else { return false }
                tried.insert(index)
                running += 1
                group.addTask { .answer(index, await self.forward(call, deadline: deadline, only: [index])) }
                if running == 1, let delay = configuration.hedging.hedgeDelay(
                    for: .idempotent, upstreamP95: hedgingLatency(index), remaining: deadline - .now, hedgesStarted: 0
                ) {
                    group.addTask {
                        try? await Task.sleep(for: delay)
                        return .hedge
                    }
                }
                return true
            }
            guard startNext() else { return nil }
            while let event = await group.next() {
                switch event {
                case .hedge:
                    if running == 1 { _ = startNext() }
                    continue
                case .answer(let index, let outcome):
                    running -= 1
                    if case .answered = outcome { answered = true }
                    switch outcome {
                    case .answered("result", let value, let upstream):
                        switch await check(value, index) {
                        case .proven(let proven):
                            recordVerified(index)
                            group.cancelAll()
                            return .verified(value: proven, upstream: upstream)
                        case .lie(let reason):
                            recordLie(index, method: call.method, evidence: reason)
                            attempts.append(Attempt(upstream: upstream, outcome: "failed verification: \(reason)"))
                        case .unprovable(let reason, let value):
                            attempts.append(Attempt(upstream: upstream, outcome: "could not be proven: \(reason)"))
                            if let value, passing == nil { passing = .answered(member: "result", value: value, upstream: upstream) }
                        }
                    case .answered(_, _, let upstream):
                        attempts.append(Attempt(upstream: upstream, outcome: "answered with an error"))
                        if !auxiliary {
                            requestErrors.append(outcome)
                            if requestErrors.count >= 2 {
                                group.cancelAll()
                                return outcome
                            }
                        }
                    default:
                        attempts.append(Attempt(upstream: upstreams[index].spec.id, outcome: Self.describe(outcome)))
                    }
                    if running == 0 && !startNext() {
                        group.cancelAll()
                        return nil
                    }
                }
            }
            return nil
        }
        if let decided { return decided }
        if let passing { return passing }
        if let only = requestErrors.first { return only }
        // Nobody answered at all: an outage, not a failed proof (and the cache may have a stale
        // answer) — unless the upstreams left out are those whose answers failed verification.
        if !answered && !hasLyingUpstreams { return .failed(.noUpstream(attempts)) }
        return .failed(.unproven("no upstream gave an answer that could be proven", attempts: attempts))
    }

    func domainKey(_ index: Int) -> String {
        let domain = upstreams[index].spec.domain
        return domain.provider + "/" + domain.cloud + "/" + domain.region
    }

    static func describe(_ outcome: CallOutcome) -> String {
        switch outcome {
        case .failed(let error): error.message
        case .answered(let member, _, _): member == "result" ? "answered" : "answered with an error"
        default: "answered"
        }
    }
}
