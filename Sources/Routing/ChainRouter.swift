import EthereumKit
import Failsafe
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Upstreams

/// Routes one chain's calls over its upstreams so that failures of upstreams and whole
/// failure domains stay invisible to the client (SPEC section 4): failover to another
/// domain, hedging, circuit breaking, `maxRps`, consensus head with lag exclusion,
/// `latest` pinning, coalescing, and broadcast of transactions. The policy lives in
/// `Failsafe`'s state machines; this is the I/O shell around them. Runs as a `Service`
/// that polls upstream heads.
public final class ChainRouter: Service, Sendable {
    struct Upstream: Sendable {
        let spec: UpstreamSpec
        let transport: UpstreamTransport
    }

    /// What the router knows of one upstream.
    struct UpstreamState: Sendable {
        var health: UpstreamHealth<MonotonicClock>
        var head: UInt64?
        /// Hash of the upstream's head block, as of the last poll.
        var headHash: String?
        /// The upstream's `finalized` block; nil when it reports none (then `finalityDepth` applies).
        var finalized: UInt64?
        /// Nil until the upstream's chain id was read.
        var chainIdMatches: Bool?
        var lastFailure: String?
        var successes = 0
        var failures = 0
        /// Verified mode: excluded until then after an answer failed verification.
        var lyingUntil: MonotonicClock.Instant?
        var verifiedAnswers = 0
        var failedVerifications = 0

        func isLying(now: MonotonicClock.Instant) -> Bool { lyingUntil.map { now < $0 } ?? false }
    }

    struct State: Sendable {
        var upstreams: [UpstreamState]
        var consensus: ConsensusHead<Int, String>?
        /// When an upstream last answered a head poll; the consensus head is current until `headFreshness` after it.
        var lastHeadAnswer: MonotonicClock.Instant?
        /// The highest `finalized` block two failure domains agree on.
        var finalized: UInt64?
        var polls = 0
        var random = SplitMix64()
        /// Each upstream's score, whether it may be tried and its hedging latency, as of
        /// `candidatesAt`: computing them walks latency windows, too much for every call.
        /// Admission stays exact (`admit`); a failure or a head poll refreshes them at once.
        var candidates: [Candidate] = []
        var candidatesAt: MonotonicClock.Instant?
        /// The median of the upstreams' recent p95s, as of `candidatesAt`.
        var typicalLatency: Duration?
        /// What `capacity` reports, as of `candidatesAt`.
        var capacity: Double?
    }

    struct Candidate {
        var score: Double
        var mayTryNow: Bool
        /// The upstream's recent p95, or the chain's typical p95 when it has too few samples.
        var hedgingLatency: Duration?
    }

    public let configuration: RouterConfiguration
    /// Answers kept for later (SPEC section 6); nil: caching off.
    public let cache: ResponseCache?
    /// Headers proven by a quorum of failure domains (verified mode); nil when verification is off.
    let trustedHeaders: TrustedHeaders?
    let upstreams: [Upstream]
    private let state: Mutex<State>
    /// What every call reads of the heads, without the lock (written under it after each poll):
    /// the consensus head and the cache's finality boundary, in one 128-bit word so that both
    /// come from the same poll (`UInt.max`: no head yet), and when an upstream last answered a
    /// head poll, in nanoseconds since `startedAt` (`Int64.min`: never).
    private let publishedHeads = Atomic<WordPair>(WordPair(first: .max, second: .max))
    private let lastHeadAnswerNanoseconds = Atomic<Int64>(.min)
    private let startedAt = MonotonicClock.now
    private let requestIds = Atomic<Int>(0)
    let upstreamIds: [String]
    /// Calls in flight by method and parameters, with the calls waiting for their answer:
    /// identical concurrent calls share one upstream call.
    private let inFlight = Mutex<[CoalescingKey: [@Sendable (CallOutcome) -> Void]]>([:])
    private let selector = UpstreamSelector(strategy: .powerOfTwoChoices)
    /// Which calls go upstream when capacity is short, by priority.
    private let admission = CallAdmission()
    /// Whether some upstream has a `maxRps` (else no call is ever shed).
    private let hasRateLimits: Bool
    /// The largest `maxBatch` of the upstreams (1: no upstream takes batches).
    private let maxBatch: Int
    let logger: Logger
    let metrics: RoutingMetrics

    public init(configuration: RouterConfiguration, cache: ResponseCache? = nil,
                logger: Logger = Logger(label: "bulwark.routing")) throws(UpstreamTransportError) {
        self.configuration = configuration
        self.cache = cache
        trustedHeaders = configuration.verification.map { TrustedHeaders(quorumDomains: $0.quorumDomains) }
        self.logger = logger
        var upstreams: [Upstream] = []
        var states: [UpstreamState] = []
        for spec in configuration.upstreams {
            var transportConfiguration = UpstreamTransport.Configuration()
            transportConfiguration.headers = spec.headers
            transportConfiguration.pipelineDepth = spec.pipeline
            transportConfiguration.http2 = spec.http2
            upstreams.append(Upstream(spec: spec, transport: try UpstreamTransport(url: spec.url, configuration: transportConfiguration)))
            states.append(UpstreamState(health: UpstreamHealth(configuration: Self.healthConfiguration(configuration.health, maxRps: spec.maxRps))))
        }
        self.upstreams = upstreams
        upstreamIds = upstreams.map(\.spec.id)
        hasRateLimits = configuration.upstreams.contains { $0.maxRps != nil }
        maxBatch = configuration.upstreams.map(\.maxBatch).max() ?? 1
        state = Mutex(State(upstreams: states))
        metrics = RoutingMetrics(chain: configuration.chainName, upstreamIds: configuration.upstreams.map(\.id))
    }

    /// The chain's health settings with this upstream's `maxRps` as its rate limit.
    static func healthConfiguration(_ base: UpstreamHealthConfiguration, maxRps: Double?) -> UpstreamHealthConfiguration {
        guard let maxRps, maxRps > 0, let limit = try? TokenBucketConfiguration(rate: maxRps, burst: max(1, maxRps)) else { return base }
        return (try? UpstreamHealthConfiguration(
            circuitBreaker: base.circuitBreaker, rateLimit: limit, defaultRetryAfter: base.defaultRetryAfter,
            maximumRetryAfter: base.maximumRetryAfter, window: base.window, windowBuckets: base.windowBuckets,
            minimumSamplesForP95: base.minimumSamplesForP95, failurePenalty: base.failurePenalty, assumedLatency: base.assumedLatency
        )) ?? base
    }

    // MARK: Calls

    /// The answer of a call if it takes no waiting: what the gateway knows itself, or a cached
    /// answer held in memory. Nil: `execute` it.
    public func answerNow(_ call: RPCCall) -> CallOutcome? {
        if let local = localAnswer(call) { return local }
        guard let cache, call.method != "eth_sendRawTransaction" else { return nil }
        let heads = self.heads()
        let pinned = pinnedToHead(call, head: heads.consensus)
        let rule = CachePolicy.rule(method: pinned.method, params: pinned.params)
        guard rule != .never, let value = cache.lookupInMemory(method: call.method, params: Self.cacheText(pinned), rule: rule, chain: heads.cacheChain) else {
            return nil
        }
        return .cached(value: value, staleAge: nil)
    }

    private func localAnswer(_ call: RPCCall) -> CallOutcome? {
        switch call.method {
        case "eth_chainId": .local(result: .quantity(configuration.chainId))
        case "eth_blockNumber": confirmedHead.map { .local(result: .quantity($0)) }
        default: nil
        }
    }

    /// The call with `latest` and similar tags replaced by the consensus head's number, its
    /// params written once for the keys and the upstream body.
    private func pinnedToHead(_ call: RPCCall) -> RPCCall {
        pinnedToHead(call, head: consensusHead)
    }

    private func pinnedToHead(_ call: RPCCall, head: UInt64?) -> RPCCall {
        var pinned = call
        if let head, let params = BlockTagPinning.pinned(method: call.method, params: call.params, head: head) {
            pinned.params = params
            pinned.paramsText = nil
        }
        return pinned.withParamsText()
    }

    /// Answers one call before `deadline`. A call that must go upstream while their capacity is
    /// short may be shed for its `priority` (429, -32005).
    public func execute(_ call: RPCCall, deadline: MonotonicClock.Instant, priority: Priority = .normal) async -> CallOutcome {
        if let local = localAnswer(call) { return local }
        if call.method == "eth_sendRawTransaction" {
            if let shed = shed(priority) { return shed }
            return await broadcast(call, deadline: deadline)
        }
        let pinned = pinnedToHead(call)
        guard let cache else {
            if let shed = shed(priority) { return shed }
            return await coalesced(pinned, deadline: deadline, caching: nil)
        }
        let rule = CachePolicy.rule(method: pinned.method, params: pinned.params)
        guard rule != .never else {
            if let shed = shed(priority) { return shed }
            return await coalesced(pinned, deadline: deadline, caching: nil)
        }

        let params = Self.cacheText(pinned)
        if let value = await cache.lookup(method: call.method, params: params, rule: rule, chain: cacheChainView) {
            return .cached(value: value, staleAge: nil)
        }
        if let shed = shed(priority) { return shed }
        let clientParams = Self.cacheText(call.params)
        let outcome = await coalesced(pinned, deadline: deadline, caching: Caching(cache: cache, rule: rule, params: params,
                                                                                  clientParams: clientParams, generation: cache.generation))
        if case .failed(let error) = outcome, error.code == GatewayError.noUpstream([]).code,
           let stale = await cache.stale(method: call.method, clientParams: clientParams) {
            return .cached(value: stale.value, staleAge: stale.age)
        }
        return outcome
    }

    /// `execute`, handing the answer to `then` (on an event loop): a call that is only forwarded
    /// (no cache to consult or fill, no verification) runs without a task.
    public func execute(_ call: RPCCall, deadline: MonotonicClock.Instant, priority: Priority = .normal,
                        then: @escaping @Sendable (CallOutcome) -> Void) {
        if let local = localAnswer(call) { return then(local) }
        if call.method != "eth_sendRawTransaction" {
            let pinned = pinnedToHead(call)
            if bypassesCache(pinned) {
                if let shed = shed(priority) { return then(shed) }
                return coalesced(pinned, deadline: deadline, caching: nil, then: then)
            }
        }
        Task { then(await execute(call, deadline: deadline, priority: priority)) }
    }

    /// Whether the cache has nothing to do with a (pinned) call: no cache, or a call it never keeps.
    private func bypassesCache(_ pinned: RPCCall) -> Bool {
        cache == nil || CachePolicy.rule(method: pinned.method, params: pinned.params) == .never
    }

    /// Whether calls of `method` are answered by forwarding alone (not verified, not cross-checked).
    private func isOnlyForwarded(_ method: String) -> Bool {
        !(trustedHeaders != nil && Self.verifiableMethods.contains(method)) && !configuration.crossCheckedMethods.contains(method)
    }

    /// The calls of a client batch, answered together through `then` (on an event loop). Calls
    /// that are only forwarded go to an upstream that takes batches (`maxBatch`) as one
    /// JSON-RPC batch, each coalesced with an identical call already on its way; every other
    /// call is made as `execute` makes it.
    public func executeBatch(_ calls: [RPCCall], deadline: MonotonicClock.Instant, priority: Priority = .normal,
                             then: @escaping @Sendable ([CallOutcome]) -> Void) {
        let join = BatchJoin(count: calls.count, then: then)
        var batched: [(position: Int, call: RPCCall)] = []
        batched.reserveCapacity(calls.count)
        if maxBatch > 1 {
            for (position, call) in calls.enumerated() where call.method != "eth_sendRawTransaction" && localAnswer(call) == nil {
                let pinned = pinnedToHead(call)
                guard bypassesCache(pinned), isOnlyForwarded(call.method) else { continue }
                batched.append((position, pinned))
            }
        }
        if batched.count < 2 { batched = [] }
        let batchedPositions = Set(batched.map(\.position))
        for (position, call) in calls.enumerated() where !batchedPositions.contains(position) {
            execute(call, deadline: deadline, priority: priority) { join.settle(position, $0) }
        }
        var admitted: [(position: Int, call: RPCCall)] = []
        admitted.reserveCapacity(batched.count)
        for entry in batched {
            if let shed = shed(priority) { join.settle(entry.position, shed) } else { admitted.append(entry) }
        }
        guard !admitted.isEmpty, let first = upstreams.first else { return }
        // Coalesced as single calls are: a call identical to one already on its way (from another
        // client, or earlier in this batch) waits for that one's answer instead of going out again.
        var sent: [(position: Int, call: RPCCall, key: CoalescingKey)] = []
        sent.reserveCapacity(admitted.count)
        inFlight.withLock { inFlight in
            for entry in admitted {
                let call = entry.call.withParamsText()
                let key = CoalescingKey(call)
                if Self.claim(key, in: &inFlight, orWait: { join.settle(entry.position, $0) }, metrics: metrics) {
                    sent.append((entry.position, call, key))
                }
            }
        }
        guard !sent.isEmpty else { return }
        ForwardedBatch(sent.map(\.call), router: self, deadline: deadline, loop: first.transport.group.any()) { outcomes in
            for (entry, outcome) in zip(sent, outcomes) {
                self.release(entry.key, outcome)
                join.settle(entry.position, outcome)
            }
        }.start()
    }

    /// The refusal of a call of `priority` while the upstreams' capacity is kept for more important ones; nil: go ahead.
    private func shed(_ priority: Priority) -> CallOutcome? {
        // Without any `maxRps` the capacity is never known: nothing to keep for anyone.
        guard hasRateLimits else { return nil }
        let capacity = self.capacity
        guard case .shed(let retryAfter) = admission.admit(priority, capacity: capacity) else { return nil }
        metrics.shed.increment()
        return .failed(.shed(priority: priority, chain: configuration.chainName, capacity: capacity ?? 0, retryAfter: retryAfter))
    }

    /// Identical calls: same method, same params (as compact JSON).
    struct CoalescingKey: Hashable {
        let method: String
        let params: String?
        /// Method and params hashed once (seeded, like every `Hasher`): the key is looked up on
        /// claim and on release, and each lookup hashed both strings again.
        private let digest: Int

        /// The key of `call`, whose params have been written (`withParamsText`).
        init(_ call: RPCCall) {
            method = call.method
            params = call.paramsText
            var hasher = Hasher()
            hasher.combine(method)
            hasher.combine(params)
            digest = hasher.finalize()
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(digest)
        }

        static func == (lhs: CoalescingKey, rhs: CoalescingKey) -> Bool {
            lhs.digest == rhs.digest && lhs.method == rhs.method && lhs.params == rhs.params
        }
    }

    /// Under the `inFlight` lock: true when no call under `key` is on its way (the caller now makes
    /// it, and `release`s its answer); otherwise `then` waits for that call's answer.
    private static func claim(_ key: CoalescingKey, in inFlight: inout [CoalescingKey: [@Sendable (CallOutcome) -> Void]],
                              orWait then: @escaping @Sendable (CallOutcome) -> Void, metrics: RoutingMetrics) -> Bool {
        guard inFlight[key] != nil else {
            inFlight[key] = []
            return true
        }
        inFlight[key]!.append { outcome in
            metrics.coalesced.increment()
            then(outcome)
        }
        return false
    }

    /// Hands the answer of a call made under `key` to the calls that waited for it.
    private func release(_ key: CoalescingKey, _ outcome: CallOutcome) {
        for waiter in inFlight.withLock({ $0.removeValue(forKey: key) ?? [] }) { waiter(outcome) }
    }

    /// What the owner of a call does with its answer.
    struct Caching: Sendable {
        let cache: ResponseCache
        let rule: CachePolicy.Rule
        let params: String
        let clientParams: String
        let generation: Int
    }

    /// A call's (written) parameters as a cache key: compact JSON, `[]` when absent.
    static func cacheText(_ call: RPCCall) -> String {
        call.paramsText ?? cacheText(call.params)
    }

    /// Parameters as a cache key: compact JSON, `[]` when absent.
    static func cacheText(_ params: JSONValue?) -> String {
        guard let params else { return "[]" }
        var text = ""
        params.write(to: &text)
        return text
    }

    /// The head and finality boundary the cache judges answers by; nil while no head is confirmed.
    var cacheChainView: CachePolicy.Chain? { heads().cacheChain }

    /// The consensus head (what calls are pinned to) and the cache's view of the chain, in one look.
    private func heads() -> (consensus: UInt64?, cacheChain: CachePolicy.Chain?) {
        let heads = publishedHeads.load(ordering: .acquiring)
        guard heads.first != .max else { return (nil, nil) }
        let head = UInt64(heads.first)
        let last = lastHeadAnswerNanoseconds.load(ordering: .acquiring)
        guard last != .min, MonotonicClock.now - startedAt - .nanoseconds(last) <= configuration.headFreshness else { return (head, nil) }
        return (head, CachePolicy.Chain(head: head, finalized: UInt64(heads.second)))
    }

    /// Publishes the heads of `state` for `heads()`; under the lock, after a poll changed them.
    private func publishHeads(_ state: State) {
        if let head = state.consensus?.number {
            let byDepth = head >= UInt64(configuration.finalityDepth) ? head - UInt64(configuration.finalityDepth) : 0
            publishedHeads.store(WordPair(first: UInt(head), second: UInt(min(head, state.finalized ?? byDepth))), ordering: .releasing)
        }
        if let last = state.lastHeadAnswer { lastHeadAnswerNanoseconds.store((last - startedAt).inNanoseconds, ordering: .releasing) }
    }

    /// Asks upstreams in two cloud regions and answers when they agree; on a disagreement asks
    /// a third region and takes the majority (SPEC section 3, -32012 otherwise). Votes count
    /// per cloud region, not per provider: providers behind one misbehaving region (a shared
    /// load balancer, a bad snapshot) must not outvote the rest.
    private func crossChecked(_ call: RPCCall, deadline: MonotonicClock.Instant) async -> CallOutcome {
        func region(_ index: Int) -> String { upstreams[index].spec.domain.cloud + "/" + upstreams[index].spec.domain.region }
        var votes: [(upstream: Int, outcome: CallOutcome)] = []
        var excluded: Set<Int> = []
        var attempts: [Attempt] = []
        var passes = 0
        while votes.count < 3 {
            let needed = votes.isEmpty ? 2 : 1
            let usedRegions = Set(votes.map { region($0.upstream) })
            let picks = plan(block: BlockTagPinning.requestedBlock(method: call.method, params: call.params))
                .filter { !excluded.contains($0) && !usedRegions.contains(region($0)) }
            var chosen: [Int] = []
            for index in picks where chosen.count < needed && !chosen.contains(where: { region($0) == region(index) }) {
                chosen.append(index)
            }
            if chosen.isEmpty {
                // Every other region failed to answer this time; if the votes disagree and time is
                // left, give the failed ones more chances (backing off) before declaring no quorum.
                passes += 1
                guard passes < 5, votes.count == 2, !attempts.isEmpty, deadline - .now > .milliseconds(250) else { break }
                excluded = Set(votes.map(\.upstream))
                try? await Task.sleep(for: .milliseconds(50 << passes))
                continue
            }
            excluded.formUnion(chosen)
            let answers = await withTaskGroup(of: (Int, CallOutcome).self) { group in
                for index in chosen {
                    group.addTask { (index, await self.forward(call, deadline: deadline, only: [index])) }
                }
                var answers: [(Int, CallOutcome)] = []
                for await answer in group { answers.append(answer) }
                return answers
            }
            for (index, outcome) in answers {
                if case .answered = outcome {
                    votes.append((index, outcome))
                } else if case .failed(let error) = outcome {
                    attempts.append(Attempt(upstream: upstreams[index].spec.id, outcome: error.message))
                }
            }
            // Two agreeing domains settle it.
            if let agreed = Self.majority(votes.map(\.outcome), needed: 2) {
                for vote in votes where !Self.sameAnswer(vote.outcome, agreed) {
                    record(vote.upstream, failure: UpstreamFailure(.invalidResponse, "outvoted: its answer differed from two other failure domains"))
                    metrics.outvoted.increment()
                    logger.warning("upstream outvoted", metadata: ["upstream.id": "\(upstreams[vote.upstream].spec.id)", "rpc.method": "\(call.method)"])
                }
                return agreed
            }
        }
        // Only one domain could answer: its answer is all there is.
        if votes.count == 1 { return votes[0].outcome }
        if votes.isEmpty { return .failed(.noUpstream(attempts)) }
        return .failed(.quorumNotReached(attempts + votes.map { Attempt(upstream: upstreams[$0.upstream].spec.id, outcome: "answered differently") }))
    }

    static func sameAnswer(_ a: CallOutcome, _ b: CallOutcome) -> Bool {
        guard case .answered(let memberA, let valueA, _) = a, case .answered(let memberB, let valueB, _) = b else { return false }
        if memberA == memberB && valueA == valueB { return true }
        // Same JSON written differently (key order, spacing) is the same answer.
        return memberA == memberB && (try? JSONValue.parse(valueA)) == (try? JSONValue.parse(valueB))
    }

    static func majority(_ outcomes: [CallOutcome], needed: Int) -> CallOutcome? {
        for candidate in outcomes where outcomes.filter({ sameAnswer($0, candidate) }).count >= needed {
            return candidate
        }
        return nil
    }

    /// Joins an identical call already in flight, or makes it while later identical calls wait
    /// for its answer. The call that makes it keeps its answer in the cache (`caching`).
    private func coalesced(_ call: RPCCall, deadline: MonotonicClock.Instant, caching: Caching?) async -> CallOutcome {
        await withCheckedContinuation { continuation in
            coalesced(call, deadline: deadline, caching: caching) { continuation.resume(returning: $0) }
        }
    }

    private func coalesced(_ call: RPCCall, deadline: MonotonicClock.Instant, caching: Caching?, then: @escaping @Sendable (CallOutcome) -> Void) {
        let call = call.withParamsText()
        let key = CoalescingKey(call)
        guard inFlight.withLock({ Self.claim(key, in: &$0, orWait: then, metrics: metrics) }) else { return }
        make(call, deadline: deadline, caching: caching) { outcome in
            self.release(key, outcome)
            then(outcome)
        }
    }

    /// `make`, without a task when the call is only forwarded.
    private func make(_ call: RPCCall, deadline: MonotonicClock.Instant, caching: Caching?, then: @escaping @Sendable (CallOutcome) -> Void) {
        if caching == nil && isOnlyForwarded(call.method) { return forward(call, deadline: deadline, then: then) }
        Task { then(await make(call, deadline: deadline, caching: caching)) }
    }

    /// Asks the upstreams (verifying or cross-checking where configured) and keeps the answer.
    private func make(_ call: RPCCall, deadline: MonotonicClock.Instant, caching: Caching?) async -> CallOutcome {
        let outcome: CallOutcome
        if trustedHeaders != nil, Self.verifiableMethods.contains(call.method) {
            outcome = await verified(call, deadline: deadline)
        } else if configuration.crossCheckedMethods.contains(call.method) {
            outcome = await crossChecked(call, deadline: deadline)
        } else {
            outcome = await forward(call, deadline: deadline)
        }
        // Verified mode keeps only proven answers of the methods it verifies.
        let keep: [UInt8]? = switch outcome {
        case .verified(let value, _): value
        case .answered("result", let value, _) where trustedHeaders == nil || !Self.verifiableMethods.contains(call.method): value
        default: nil
        }
        if let caching, let value = keep {
            await caching.cache.remember(method: call.method, params: caching.params, clientParams: caching.clientParams, result: value,
                                         rule: caching.rule, chain: cacheChainView, generation: caching.generation)
        }
        return outcome
    }

    /// Answers `call` from the upstreams (see `ForwardedCall`); `only`: just these upstreams.
    func forward(_ call: RPCCall, deadline: MonotonicClock.Instant, only: Set<Int>? = nil) async -> CallOutcome {
        await withCheckedContinuation { continuation in
            forward(call, deadline: deadline, only: only) { continuation.resume(returning: $0) }
        }
    }

    /// Answers `call` from the upstreams and hands the answer to `then`, on an event loop.
    func forward(_ call: RPCCall, deadline: MonotonicClock.Instant, only: Set<Int>? = nil, then: @escaping @Sendable (CallOutcome) -> Void) {
        guard let first = upstreams.first else { return then(.failed(.noUpstream([]))) }
        ForwardedCall(call, router: self, deadline: deadline, only: only, loop: first.transport.group.any(), completion: then).start()
    }

    /// What the attempts of one call found so far.
    struct RoundRecord {
        var attempts: [Attempt] = []
        var methodNotFound: CallOutcome?
        /// JSON-RPC errors judged only once the call is over: (upstream, error value).
        var heldBack: [(index: Int, value: [UInt8], failure: UpstreamFailure)] = []
        /// Whether any attempt failed at the transport (no JSON-RPC answer at all).
        var transportFailures = 0
        /// Attempts started so far.
        var started = 0
        /// In the last round, the shortest wait for a `maxRps` token of an upstream held back only by its rate limit.
        var rateLimitedWait: Duration?
        let upstreamIds: [String]

        /// Every attempt answered with a held-back JSON-RPC error: the request's fault.
        var agreedRequestError: CallOutcome? {
            guard transportFailures == 0, let last = heldBack.last else { return nil }
            return .answered(member: "error", value: last.value, upstream: upstreamIds[last.index])
        }
    }

    /// Records held-back errors against their upstreams (`blame`) or as no verdict.
    func settle(_ heldBack: [(index: Int, value: [UInt8], failure: UpstreamFailure)], blame: Bool) {
        let now = MonotonicClock.now
        for entry in heldBack {
            if blame {
                record(entry.index, failure: entry.failure)
            } else {
                state.withLock { _ = $0.upstreams[entry.index].health.record(.cancelled, now: now) }
            }
        }
    }

    /// Sends a transaction to upstreams in at least `broadcastDomains` failure domains (every
    /// available one, in fact) and answers with its hash as soon as one accepted it.
    /// "already known" counts as accepted.
    private func broadcast(_ call: RPCCall, deadline: MonotonicClock.Instant) async -> CallOutcome {
        guard case .array(let params)? = call.params, let raw = params.first?.stringValue, let bytes = try? Hex.decode(raw), !bytes.isEmpty else {
            return await forward(call, deadline: deadline)
        }
        let hash = Self.transactionHash(bytes)
        let targets = plan().filter { if case .admitted = admit($0) { true } else { false } }
        guard !targets.isEmpty else {
            return .failed(.noUpstream(upstreams.map { Attempt(upstream: $0.spec.id, outcome: describeUnavailable($0.spec.id)) },
                                      reason: "no upstream of chain '\(configuration.chainName)' is available to send the transaction"))
        }
        let body = call.upstreamBody(id: nextRequestId())
        let timeout = min(configuration.attemptTimeout, deadline - MonotonicClock.now)
        let results = await withTaskGroup(of: (Int, UpstreamReply, Duration).self) { group in
            for index in targets {
                let upstream = upstreams[index]
                group.addTask {
                    let start = MonotonicClock.now
                    do {
                        return (index, ReplyClassifier.classify(try await upstream.transport.post(body, timeout: timeout), method: call.method), MonotonicClock.now - start)
                    } catch {
                        return (index, .upstreamFailure(Self.failure(from: error, timeout: timeout)), MonotonicClock.now - start)
                    }
                }
            }
            var results: [(Int, UpstreamReply, Duration)] = []
            for await result in group { results.append(result) }
            return results
        }
        var attempts: [Attempt] = []
        var requestError: CallOutcome?
        var acceptedBy: String?
        for (index, reply, latency) in results {
            let id = upstreams[index].spec.id
            switch reply {
            case .answered(let member, let value, _, let message):
                record(index, success: latency)
                let known = (message ?? "").lowercased()
                if member == "result" || known.contains("already known") || known.contains("known transaction") {
                    acceptedBy = acceptedBy ?? id
                } else if requestError == nil {
                    requestError = .answered(member: member, value: value, upstream: id)
                }
                attempts.append(Attempt(upstream: id, outcome: member == "result" ? "accepted" : "rejected: \(message ?? "")"))
            case .upstreamFailure(let failure):
                record(index, failure: failure)
                attempts.append(Attempt(upstream: id, outcome: failure.description))
            }
        }
        if let acceptedBy {
            return .answered(member: "result", value: Array("\"\(hash)\"".utf8), upstream: acceptedBy)
        }
        return requestError ?? .failed(.noUpstream(attempts, reason: "no upstream accepted the transaction"))
    }

    /// The hash a node reports for raw transaction bytes. A blob transaction travels as
    /// `0x03 || rlp([tx, (version,) blobs, commitments, proofs])` but its hash covers only
    /// `0x03 || rlp(tx)`.
    static func transactionHash(_ bytes: [UInt8]) -> Bytes32 {
        if bytes.first == 0x03, case .list(let items)? = try? RLP.decode(Array(bytes.dropFirst())),
           (4...5).contains(items.count), case .list = items[0] {
            return Keccak256.hash([0x03] + RLP.encode(items[0]))
        }
        return Keccak256.hash(bytes)
    }

    // MARK: Selection and health

    /// Upstreams to try, in order: those that may be tried now and have the block asked for
    /// (`block`, or else the consensus head), alternating failure domains, spread by
    /// power-of-two choices over their scores.
    func plan(block: UInt64? = nil) -> [Int] {
        let now = MonotonicClock.now
        return state.withLock { state in order(&state, block: block, now: now) }
    }

    /// A round of a forwarded call planned in one look at the shared state: the upstreams in
    /// order, the first of them already asked to admit the attempt, and its hedging latency.
    struct RoundPlan {
        var order: [Int]
        /// `admit(order[0])`, taken; an admitted attempt that is not made must be `abandoned`.
        var firstAdmission: Admission?
        var firstHedgingLatency: Duration?
    }

    func planRound(block: UInt64?) -> RoundPlan {
        let now = MonotonicClock.now
        return state.withLock { state in
            let order = order(&state, block: block, now: now)
            guard let first = order.first else { return RoundPlan(order: order) }
            return RoundPlan(order: order, firstAdmission: Self.admit(&state.upstreams[first], now: now),
                             firstHedgingLatency: state.candidates[first].hedgingLatency)
        }
    }

    /// `plan`, inside the lock.
    private func order(_ state: inout State, block: UInt64?, now: MonotonicClock.Instant) -> [Int] {
        refreshCandidates(&state, now: now)
        let candidates = state.upstreams.indices.map { index in
            // Heads are known as of the last poll, so near the consensus head an upstream within
            // `maxLag` counts as having the block (it will by the time it answers); beyond the
            // consensus head, or further back, only a head at or past the block does. An upstream
            // whose head is not known is not taken to be ahead of the consensus: for a block
            // beyond it, it would otherwise be the only one asked (one answering garbage to head
            // polls failed every call for a block not mined yet, which the others answer).
            let current = state.consensus?.mayServeHeadDependentCalls(index) ?? true
            let hasBlock: Bool
            if let block, let head = state.consensus?.number, block <= head, block + UInt64(configuration.maxLag) >= head {
                hasBlock = current || (state.upstreams[index].head.map { $0 >= block } ?? true)
            } else if let block {
                let beyondConsensus = state.consensus.map { block > $0.number } ?? false
                hasBlock = state.upstreams[index].head.map { $0 >= block } ?? !beyondConsensus
            } else {
                hasBlock = current
            }
            return UpstreamSelector.Candidate(
                id: index, domain: upstreams[index].spec.domain, score: state.candidates[index].score,
                mayTryNow: state.candidates[index].mayTryNow, hasBlock: hasBlock
            )
        }
        var plan = selector.order(candidates, using: &state.random)
        if plan.isEmpty {
            // Every upstream lags: serve from them rather than not at all.
            plan = selector.order(candidates.map { var c = $0; c.hasBlock = true; return c }, using: &state.random)
        }
        return plan
    }

    /// Recomputes the upstreams' scores, availability and the chain's capacity when they are older than `candidateRefresh`.
    private func refreshCandidates(_ state: inout State, now: MonotonicClock.Instant) {
        guard state.candidatesAt.map({ now - $0 > Self.candidateRefresh }) ?? true else { return }
        let p95s = state.upstreams.map { $0.health.hedgingLatency(now: now) }
        state.typicalLatency = Self.median(p95s.compactMap { $0 })
        state.candidates = state.upstreams.indices.map { index in
            let upstream = state.upstreams[index]
            return Candidate(score: upstream.health.score(now: now),
                             mayTryNow: upstream.chainIdMatches != false && !upstream.isLying(now: now) && upstream.health.mayTry(now: now),
                             hedgingLatency: p95s[index] ?? state.typicalLatency)
        }
        // Head polls take one call per upstream per interval out of each `maxRps`.
        let pollsPerSecond = 1 / max(configuration.headPollInterval.inSeconds, 0.001)
        var capacity: Double? = 0
        for upstream in state.upstreams where upstream.chainIdMatches != false && !upstream.isLying(now: now) {
            guard let own = upstream.health.capacity(now: now), let total = capacity else {
                capacity = nil
                break
            }
            capacity = total + max(0, own - (own > 0 ? pollsPerSecond : 0))
        }
        state.capacity = capacity
        state.candidatesAt = now
    }

    /// Calls per second the chain's upstreams can take now (their `maxRps`, less those down,
    /// out of service, lying or paused by 429s); nil when an available upstream has no `maxRps`.
    public var capacity: Double? {
        let now = MonotonicClock.now
        return state.withLock { state in
            refreshCandidates(&state, now: now)
            return state.capacity
        }
    }

    /// How long the scores behind `plan` are reused while nothing failed.
    static let candidateRefresh: Duration = .milliseconds(20)

    enum Admission {
        case admitted
        /// Out of `maxRps` tokens (or paused by a 429) for this long.
        case rateLimited(Duration)
        case refused
    }

    func admit(_ index: Int) -> Admission {
        let now = MonotonicClock.now
        return state.withLock { Self.admit(&$0.upstreams[index], now: now) }
    }

    private static func admit(_ upstream: inout UpstreamState, now: MonotonicClock.Instant) -> Admission {
        switch upstream.health.beginAttempt(now: now) {
        case .allow, .allowProbe: .admitted
        case .reject(.rateLimited(let wait)): .rateLimited(wait)
        case .reject: .refused
        }
    }

    func record(_ index: Int, success latency: Duration) {
        let now = MonotonicClock.now
        state.withLock {
            $0.upstreams[index].health.record(.success(latency: latency), now: now)
            $0.upstreams[index].successes += 1
        }
        metrics.attempt(upstream: index, failure: nil, latency: latency)
    }

    /// An attempt lost to another upstream's answer: no verdict, or a timeout when it was far slower.
    func abandoned(_ index: Int, asTimeout: Bool, now: MonotonicClock.Instant) {
        state.withLock { _ = $0.upstreams[index].health.record(asTimeout ? .failure(.timeout) : .cancelled, now: now) }
    }

    func record(_ index: Int, failure: UpstreamFailure) {
        let now = MonotonicClock.now
        state.withLock {
            $0.upstreams[index].health.record(.failure(Self.healthFailure(failure)), now: now)
            $0.upstreams[index].failures += 1
            $0.upstreams[index].lastFailure = failure.description
            $0.candidatesAt = nil
        }
        metrics.attempt(upstream: index, failure: failure, latency: nil)
    }

    static func healthFailure(_ failure: UpstreamFailure) -> UpstreamHealth<MonotonicClock>.Failure {
        switch failure.kind {
        case .connectionRefused, .connectionClosed, .tls: .connectionError
        case .timeout: .timeout
        case .rateLimited: .rateLimited(retryAfter: failure.retryAfter)
        case .invalidResponse, .wrongChain: .invalidResponse
        case .http5xx, .rpcUpstreamError, .other: .serverError
        }
    }

    /// The upstream's recent p95, or the chain's typical p95 when it has too few samples (as of
    /// the last refresh of the candidates).
    func hedgingLatency(_ index: Int) -> Duration? {
        let now = MonotonicClock.now
        return state.withLock { state in
            refreshCandidates(&state, now: now)
            return state.candidates[index].hedgingLatency
        }
    }

    /// An attempt slower than four times the chain's typical p95 is treated as timed out when it loses.
    func slowThreshold() -> Duration {
        let now = MonotonicClock.now
        let typical = state.withLock { state in
            refreshCandidates(&state, now: now)
            return state.typicalLatency
        }
        return (typical ?? .milliseconds(250)) * 4
    }

    static func median(_ values: [Duration]) -> Duration? {
        values.isEmpty ? nil : values.sorted()[values.count / 2]
    }

    func nextRequestId() -> Int {
        requestIds.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func describeUnavailable(_ id: String) -> String {
        guard let index = upstreams.firstIndex(where: { $0.spec.id == id }) else { return "unknown" }
        let now = MonotonicClock.now
        return state.withLock { state in
            let upstream = state.upstreams[index]
            if upstream.chainIdMatches == false { return "serves another chain" }
            if upstream.isLying(now: now) { return "excluded: an answer failed verification" }
            if upstream.health.isOutOfService(now: now) { return "out of service (fault drill)" }
            switch upstream.health.state(now: now) {
            case .down, .openCircuit: return "circuit open after: \(upstream.lastFailure ?? "failures")"
            case .lagging: return "lagging behind the consensus head"
            case .healthy: return upstream.health.mayTry(now: now) ? "not tried" : "rate limited (maxRps or 429)"
            }
        }
    }

    static func failure(from error: any Error, timeout: Duration) -> UpstreamFailure {
        guard let transportError = error as? UpstreamTransportError else { return UpstreamFailure(.other, "\(type(of: error))") }
        switch transportError.kind {
        case .connectionRefused: return UpstreamFailure(.connectionRefused, "connection refused")
        case .connectTimeout: return UpstreamFailure(.timeout, "connect timed out")
        case .timeout:
            let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
            return UpstreamFailure(.timeout, "no answer within \(ms) ms")
        case .connectionClosed: return UpstreamFailure(.connectionClosed, transportError.message)
        case .tls: return UpstreamFailure(.tls, "TLS error")
        case .invalidResponse, .responseTooLarge: return UpstreamFailure(.invalidResponse, transportError.message)
        case .invalidURL, .shutdown, .cancelled: return UpstreamFailure(.other, transportError.message)
        }
    }

    // MARK: Verification outcomes

    /// An answer of `index` failed verification: it is excluded for the cooling period and counted.
    func recordLie(_ index: Int, method: String, evidence: String) {
        let now = MonotonicClock.now
        let cooling = configuration.verification?.coolingPeriod ?? .seconds(60)
        state.withLock {
            $0.upstreams[index].lyingUntil = now + cooling
            $0.candidatesAt = nil
            $0.upstreams[index].failedVerifications += 1
            $0.upstreams[index].lastFailure = "failed verification: \(evidence)"
        }
        metrics.failedVerification(upstream: index)
        logger.warning("upstream answer failed verification; excluded for the cooling period", metadata: [
            "upstream.id": "\(upstreams[index].spec.id)", "rpc.method": "\(method)", "verification.evidence": "\(evidence)",
            "verification.cooling": "\(cooling)",
        ])
    }

    /// Whether some upstream is excluded for an answer that failed verification.
    var hasLyingUpstreams: Bool {
        let now = MonotonicClock.now
        return state.withLock { $0.upstreams.contains { $0.isLying(now: now) } }
    }

    func recordVerified(_ index: Int) {
        state.withLock { $0.upstreams[index].verifiedAnswers += 1 }
    }

    /// The finalized block two failure domains report, else `finalityDepth` below the head.
    var finalizedBlock: UInt64? { cacheChainView?.finalized }

    // MARK: Fault drills

    /// Takes every upstream matching all `criteria` (id, provider, cloud, region) out of
    /// service for `length`, as if its failure domain had failed. Returns the ids taken out.
    public func startDrill(matching criteria: [String: String], for length: Duration) -> [String] {
        let matched = upstreams.indices.filter { index in
            let spec = upstreams[index].spec
            return criteria.allSatisfy { key, value in
                switch key {
                case "id": spec.id == value
                case "provider": spec.domain.provider == value
                case "cloud": spec.domain.cloud == value
                case "region": spec.domain.region == value
                default: false
                }
            }
        }
        let until = MonotonicClock.now + length
        state.withLock { state in
            for index in matched { state.upstreams[index].health.takeOutOfService(until: until) }
            state.candidatesAt = nil
        }
        return matched.map { upstreams[$0].spec.id }
    }

    public func endDrill() {
        state.withLock { state in
            for index in state.upstreams.indices { state.upstreams[index].health.returnToService() }
            state.candidatesAt = nil
        }
    }

    // MARK: Heads

    /// The highest block that upstreams from at least two failure domains have reached
    /// (with only one domain reporting, that domain's highest head).
    public var consensusHead: UInt64? {
        let head = publishedHeads.load(ordering: .acquiring).first
        return head == .max ? nil : UInt64(head)
    }

    /// The consensus head while it is current (an upstream answered a head poll within `headFreshness`), else nil.
    var confirmedHead: UInt64? { heads().cacheChain?.head }

    static func isCurrent(_ state: State, now: MonotonicClock.Instant, freshness: Duration) -> Bool {
        guard let last = state.lastHeadAnswer else { return false }
        return now - last <= freshness
    }

    /// Polls the head block (and chain id, and every few polls the `finalized` block) of every
    /// upstream that admits a call now — an open circuit is polled only when it lets a probe
    /// through — and recomputes the consensus head and the finality boundary.
    public func pollHeads() async {
        let pollsFinalized = state.withLock { state in
            defer { state.polls += 1 }
            return state.polls % max(1, configuration.finalizedPollEvery) == 0
        }
        let body = ByteBuffer(string: pollsFinalized ? Self.headPollWithFinalized : Self.headPoll)
        // Long enough that a busy but healthy upstream is not counted as failing; a stalled one
        // holds the round up for at most this long.
        let timeout = min(configuration.attemptTimeout, max(configuration.headPollInterval * 2, .seconds(1)))
        let polled = upstreams.indices.filter { if case .admitted = admit($0) { true } else { false } }
        let results = await withTaskGroup(of: (Int, Result<HeadPoll, UpstreamFailure>, Duration).self) { group in
            for index in polled {
                let upstream = upstreams[index]
                group.addTask {
                    let start = MonotonicClock.now
                    do {
                        let response = try await upstream.transport.post(body, timeout: timeout)
                        return (index, Self.parseHeadPoll(response), MonotonicClock.now - start)
                    } catch {
                        return (index, .failure(Self.failure(from: error, timeout: timeout)), MonotonicClock.now - start)
                    }
                }
            }
            var all: [(Int, Result<HeadPoll, UpstreamFailure>, Duration)] = []
            for await result in group { all.append(result) }
            return all
        }
        let now = MonotonicClock.now
        let answered = results.contains { if case .success(let poll) = $0.1 { poll.chainId == configuration.chainId } else { false } }
        let confirmed = state.withLock { state -> (number: UInt64, hash: String?)? in
            for (index, result, latency) in results {
                switch result {
                case .success(let poll):
                    state.upstreams[index].chainIdMatches = poll.chainId == configuration.chainId
                    state.upstreams[index].head = poll.head
                    state.upstreams[index].headHash = poll.hash
                    if pollsFinalized { state.upstreams[index].finalized = poll.finalized }
                    state.upstreams[index].health.record(.success(latency: latency), now: now)
                case .failure(let failure):
                    state.upstreams[index].health.record(.failure(Self.healthFailure(failure)), now: now)
                    state.upstreams[index].lastFailure = "head poll: \(failure.description)"
                    state.upstreams[index].failures += 1
                }
            }
            let answering = state.upstreams.indices.filter { index in
                let upstream = state.upstreams[index]
                return upstream.chainIdMatches == true && upstream.head != nil && [.healthy, .lagging].contains(upstream.health.state(now: now))
            }
            let reports = answering.map { index in
                ConsensusHead<Int, String>.Report(id: index, domain: upstreams[index].spec.domain, number: state.upstreams[index].head!,
                                                  hash: state.upstreams[index].headHash)
            }
            if let consensus = ConsensusHead(reports: reports, maxLag: UInt64(configuration.maxLag)) {
                state.consensus = consensus
            }
            // The finality boundary is a height two failure domains call finalized (one domain: its own word).
            let finalizedReports = answering.compactMap { index in
                state.upstreams[index].finalized.map { ConsensusHead<Int, String>.Report(id: index, domain: upstreams[index].spec.domain, number: $0) }
            }
            state.finalized = ConsensusHead(reports: finalizedReports)?.number
            if answered { state.lastHeadAnswer = now }
            publishHeads(state)
            state.candidatesAt = nil
            for index in state.upstreams.indices {
                state.upstreams[index].health.isLagging = !(state.consensus?.mayServeHeadDependentCalls(index) ?? true)
                let up = state.upstreams[index].chainIdMatches != false && state.upstreams[index].health.state(now: now) == .healthy
                metrics.state(upstream: index, up: up, head: state.upstreams[index].head)
            }
            guard Self.isCurrent(state, now: now, freshness: configuration.headFreshness), let consensus = state.consensus else { return nil }
            return (consensus.number, consensus.hash)
        }
        if let trustedHeaders, let consensus = consensusHead {
            // Verified mode: the polls' head blocks are witnesses for the consensus head's header.
            var witnesses: [TrustedHeaders.Witness] = []
            var indices: [Int] = []
            for (index, result, _) in results {
                guard case .success(let poll) = result, poll.chainId == configuration.chainId, poll.head == consensus, let block = poll.block else { continue }
                witnesses.append(.init(domain: domainKey(index), block: block))
                indices.append(index)
            }
            if trustedHeaders.header(number: consensus) == nil, case (.trusted, let liars) = trustedHeaders.judge(witnesses) {
                for liar in liars {
                    recordLie(indices[liar], method: "head poll", evidence: "head block \(consensus) differs from the one a quorum of failure domains agree on")
                }
            }
        }
        if let cache {
            if let confirmed {
                await cache.headConfirmed(number: confirmed.number, hash: confirmed.hash, answeredNow: answered)
            } else {
                cache.headLost()
            }
        }
    }

    static let headPoll = #"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_getBlockByNumber","params":["latest",false]}]"#
    static let headPollWithFinalized = #"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_getBlockByNumber","params":["latest",false]},{"jsonrpc":"2.0","id":3,"method":"eth_getBlockByNumber","params":["finalized",false]}]"#

    /// What one head poll of one upstream found.
    struct HeadPoll: Equatable {
        var chainId: UInt64
        var head: UInt64
        var hash: String?
        /// Nil when not asked or when the upstream knows no `finalized` block.
        var finalized: UInt64?
        /// The head block as answered (without transactions): a witness for trusting its header.
        var block: JSONValue?
    }

    static func parseHeadPoll(_ response: UpstreamHTTPResponse) -> Result<HeadPoll, UpstreamFailure> {
        guard response.status == 200 else {
            return .failure(UpstreamFailure(response.status == 429 ? .rateLimited : .http5xx, "HTTP \(response.status)"))
        }
        guard let answers = (try? JSONValue.parse(Array(response.body.readableBytesView)))?.arrayValue else {
            return .failure(UpstreamFailure(.invalidResponse, "invalid JSON from the upstream"))
        }
        func result(_ id: Double) -> JSONValue? { answers.first(where: { $0["id"] == .number(id) })?["result"] }
        let block = result(2)
        guard let chainId = result(1)?.quantityValue, let head = block?["number"]?.quantityValue else {
            return .failure(UpstreamFailure(.invalidResponse, "no chain id or head block in the answer"))
        }
        let hash = block?["hash"]?.stringValue.flatMap { $0.count == 66 ? $0.lowercased() : nil }
        return .success(HeadPoll(chainId: chainId, head: head, hash: hash, finalized: result(3)?["number"]?.quantityValue, block: block))
    }

    /// Polls heads every `headPollInterval` until shutdown, and adds the cache's lookup counters to its store now and then.
    public func run() async throws {
        await pollHeads()
        await cancelWhenGracefulShutdown {
            var lastFlush = MonotonicClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: self.configuration.headPollInterval)
                if Task.isCancelled { break }
                await self.pollHeads()
                if let cache = self.cache, MonotonicClock.now - lastFlush >= cache.configuration.counterFlushInterval {
                    lastFlush = .now
                    await cache.flushCounters()
                }
            }
        }
        // The last counts, in a task of their own: this one may be cancelled, and the store would refuse.
        if let cache { await Task { await cache.flushCounters() }.value }
    }

    // MARK: Status

    /// One upstream as `/status` reports it.
    public struct UpstreamStatus: Sendable {
        public var id: String
        public var domain: FailureDomain
        public var state: String
        public var head: UInt64?
        public var p50Milliseconds: Double?
        public var p95Milliseconds: Double?
        public var successes: Int
        public var failures: Int
        public var lastFailure: String?
        public var inDrill: Bool
        /// Verified mode: answers proven, and answers that failed verification.
        public var verifiedAnswers: Int
        public var failedVerifications: Int
    }

    public func status() -> (consensusHead: UInt64?, upstreams: [UpstreamStatus]) {
        let now = MonotonicClock.now
        return state.withLock { state in
            (state.consensus?.number, state.upstreams.enumerated().map { index, upstream in
                let latency = upstream.health.latencySummary(now: now)
                return UpstreamStatus(
                    id: upstreams[index].spec.id, domain: upstreams[index].spec.domain,
                    state: upstream.chainIdMatches == false ? "wrong-chain" : upstream.isLying(now: now) ? "lying" : upstream.health.state(now: now).rawValue,
                    head: upstream.head, p50Milliseconds: latency.map { Self.milliseconds($0.p50) },
                    p95Milliseconds: latency.map { Self.milliseconds($0.p95) },
                    successes: upstream.successes, failures: upstream.failures, lastFailure: upstream.lastFailure,
                    inDrill: upstream.health.isOutOfService(now: now),
                    verifiedAnswers: upstream.verifiedAnswers, failedVerifications: upstream.failedVerifications
                )
            })
        }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// Whether at least one upstream can take calls.
    public var isReady: Bool { !plan().isEmpty }

    public func shutdown() async {
        for upstream in upstreams { await upstream.transport.shutdown() }
    }
}
