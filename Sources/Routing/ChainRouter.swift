import EthereumKit
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Upstreams

/// Routes one chain's calls over its upstreams so that failures of upstreams and whole
/// failure domains stay invisible to the client (SPEC section 4): failover to another
/// domain, hedging, circuit breaking, consensus head with lag exclusion, `latest`
/// pinning, and broadcast of transactions. Runs as a `Service` that polls upstream heads.
public final class ChainRouter: Service, Sendable {
    struct Upstream: Sendable {
        let spec: UpstreamSpec
        let transport: UpstreamTransport
    }

    struct State: Sendable {
        var health: [UpstreamHealthRecord]
        var consensusHead: UInt64?
        var nextRequestId = 1
        /// Upstreams taken out of service by a fault drill, and until when.
        var drill: (upstreams: Set<Int>, until: ContinuousClock.Instant)?

        func inDrill(_ index: Int, now: ContinuousClock.Instant) -> Bool {
            guard let drill, now < drill.until else { return false }
            return drill.upstreams.contains(index)
        }
    }

    public let configuration: RouterConfiguration
    let upstreams: [Upstream]
    private let state: Mutex<State>
    private let logger: Logger
    private let metrics: RoutingMetrics

    public init(configuration: RouterConfiguration, logger: Logger = Logger(label: "bulwark.routing")) throws(UpstreamTransportError) {
        self.configuration = configuration
        self.logger = logger
        var upstreams: [Upstream] = []
        for spec in configuration.upstreams {
            var transportConfiguration = UpstreamTransport.Configuration()
            transportConfiguration.headers = spec.headers
            upstreams.append(Upstream(spec: spec, transport: try UpstreamTransport(url: spec.url, configuration: transportConfiguration)))
        }
        self.upstreams = upstreams
        state = Mutex(State(health: Array(repeating: UpstreamHealthRecord(), count: upstreams.count)))
        metrics = RoutingMetrics(chain: configuration.chainName, upstreamIds: configuration.upstreams.map(\.id))
    }

    // MARK: Calls

    /// Answers one call before `deadline`.
    public func execute(_ call: RPCCall, deadline: ContinuousClock.Instant) async -> CallOutcome {
        switch call.method {
        case "eth_chainId":
            return .local(result: .quantity(configuration.chainId))
        case "eth_blockNumber":
            if let head = consensusHead { return .local(result: .quantity(head)) }
        case "eth_sendRawTransaction":
            return await broadcast(call, deadline: deadline)
        default:
            break
        }
        var pinned = call
        if let head = consensusHead { pinned.params = BlockTagPinning.pin(method: call.method, params: call.params, head: head) }
        return await forward(pinned, deadline: deadline)
    }

    /// Tries upstreams one after another (a failure moves to another failure domain first),
    /// starting a hedge when the current attempt is slower than the upstreams' recent p95.
    private func forward(_ call: RPCCall, deadline: ContinuousClock.Instant) async -> CallOutcome {
        let order = candidateOrder()
        guard !order.isEmpty else {
            return .failed(.noUpstream(upstreams.map { Attempt(upstream: $0.spec.id, outcome: describeUnavailable($0.spec.id)) },
                                      reason: "no upstream of chain '\(configuration.chainName)' is available"))
        }
        let hedgeDelay = self.hedgeDelay()
        return await withTaskGroup(of: AttemptEvent.self) { group -> CallOutcome in
            var attempts: [Attempt] = []
            var started = 0
            var running = 0
            var triedDomains: Set<FailureDomainLabels> = []
            var methodNotFound: CallOutcome?
            var remaining = order
            var inFlight: [Int: ContinuousClock.Instant] = [:]

            /// The attempts still running lost; their elapsed time is a lower bound on their latency.
            func recordLosers(except winner: Int) {
                let now = ContinuousClock.now
                for (index, start) in inFlight where index != winner {
                    state.withLock { $0.health[index].recordLatencyLowerBound(now - start) }
                }
            }

            func startNext() -> Bool {
                guard started < configuration.maxAttempts, ContinuousClock.now < deadline else { return false }
                // Prefer an upstream in a failure domain not tried yet for this call.
                guard let pick = remaining.firstIndex(where: { !triedDomains.contains(upstreams[$0].spec.domain) }) ?? remaining.indices.first else {
                    return false
                }
                let index = remaining.remove(at: pick)
                guard admit(index) else { return startNext() }
                triedDomains.insert(upstreams[index].spec.domain)
                started += 1
                running += 1
                let body = ByteBuffer(string: call.upstreamBody(id: nextRequestId()))
                let timeout = min(configuration.attemptTimeout, deadline - ContinuousClock.now)
                let upstream = upstreams[index]
                inFlight[index] = ContinuousClock.now
                group.addTask {
                    let start = ContinuousClock.now
                    let reply: UpstreamReply
                    do {
                        reply = ReplyClassifier.classify(try await upstream.transport.post(body, timeout: timeout))
                    } catch {
                        reply = .upstreamFailure(Self.failure(from: error, timeout: timeout))
                    }
                    return .finished(index: index, reply: reply, latency: ContinuousClock.now - start)
                }
                if hedgeDelay > .zero && !remaining.isEmpty {
                    group.addTask {
                        try? await Task.sleep(for: hedgeDelay)
                        return .hedgeTimer
                    }
                }
                return true
            }

            guard startNext() else {
                return .failed(.noUpstream(attempts, reason: "no upstream could be tried before the deadline"))
            }
            while let event = await group.next() {
                switch event {
                case .hedgeTimer:
                    if running > 0 && !Task.isCancelled && startNext() { metrics.hedges.increment() }
                case .finished(let index, let reply, let latency):
                    running -= 1
                    inFlight[index] = nil
                    let id = upstreams[index].spec.id
                    switch reply {
                    case .answered(let member, let value, let code, _):
                        record(index, success: latency)
                        if code == -32601 {
                            // This upstream lacks the method; another may have it.
                            methodNotFound = .answered(member: member, value: value, upstream: id)
                            attempts.append(Attempt(upstream: id, outcome: "method not available"))
                            if running == 0 && !startNext() {
                                group.cancelAll()
                                return methodNotFound!
                            }
                            continue
                        }
                        recordLosers(except: index)
                        if !attempts.isEmpty { metrics.failovers.increment() }
                        group.cancelAll()
                        return .answered(member: member, value: value, upstream: id)
                    case .upstreamFailure(let failure):
                        record(index, failure: failure)
                        attempts.append(Attempt(upstream: id, outcome: failure.description))
                        logger.debug("upstream attempt failed", metadata: ["upstream.id": "\(id)", "rpc.method": "\(call.method)", "upstream.failure": "\(failure.description)"])
                        if running == 0 {
                            guard startNext() else {
                                group.cancelAll()
                                if let methodNotFound { return methodNotFound }
                                return .failed(.noUpstream(attempts))
                            }
                            metrics.retries.increment()
                        }
                    }
                }
            }
            return .failed(.noUpstream(attempts))
        }
    }

    enum AttemptEvent: Sendable {
        case finished(index: Int, reply: UpstreamReply, latency: Duration)
        case hedgeTimer
    }

    /// Sends a transaction to upstreams in at least `broadcastDomains` failure domains (all
    /// available ones, in fact) and answers with its hash as soon as one accepted it.
    /// "already known" counts as accepted.
    private func broadcast(_ call: RPCCall, deadline: ContinuousClock.Instant) async -> CallOutcome {
        guard case .array(let params)? = call.params, let raw = params.first?.stringValue, let bytes = try? Hex.decode(raw), !bytes.isEmpty else {
            return await forward(call, deadline: deadline)
        }
        let hash = Keccak256.hash(bytes)
        let targets = candidateOrder().filter { admit($0) }
        guard !targets.isEmpty else {
            return .failed(.noUpstream([], reason: "no upstream of chain '\(configuration.chainName)' is available to send the transaction"))
        }
        let body = ByteBuffer(string: call.upstreamBody(id: nextRequestId()))
        let timeout = min(configuration.attemptTimeout, deadline - ContinuousClock.now)
        let results = await withTaskGroup(of: (Int, UpstreamReply, Duration).self) { group in
            for index in targets {
                let upstream = upstreams[index]
                group.addTask {
                    let start = ContinuousClock.now
                    do {
                        return (index, ReplyClassifier.classify(try await upstream.transport.post(body, timeout: timeout)), ContinuousClock.now - start)
                    } catch {
                        return (index, .upstreamFailure(Self.failure(from: error, timeout: timeout)), ContinuousClock.now - start)
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

    // MARK: Selection and health

    /// Upstreams to try, best first: available, serving the consensus head, not on another chain.
    func candidateOrder() -> [Int] {
        let now = ContinuousClock.now
        return state.withLock { state in
            let eligible = state.health.indices.filter { index in
                guard !state.inDrill(index, now: now) else { return false }
                let record = state.health[index]
                guard record.chainIdMatches != false, !record.isOpen(now: now) else { return false }
                if let paused = record.pausedUntil, now < paused { return false }
                return true
            }
            let current = eligible.filter { index in
                guard let head = state.consensusHead, let own = state.health[index].head else { return true }
                return own + UInt64(configuration.maxLag) >= head
            }
            let pool = current.isEmpty ? eligible : current
            let open = state.health.indices.filter {
                state.health[$0].isOpen(now: now) && state.health[$0].chainIdMatches != false && !state.health[$0].probeInFlight && !state.inDrill($0, now: now)
            }
            // Open circuits past their period come last, as probes.
            let probes = open.filter { state.health[$0].openUntil.map { now >= $0 } ?? false }
            return pool.sorted { state.health[$0].score < state.health[$1].score } + probes
        }
    }

    private func admit(_ index: Int) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { $0.health[index].admit(now: now) }
    }

    private func record(_ index: Int, success latency: Duration) {
        let now = ContinuousClock.now
        state.withLock { $0.health[index].recordSuccess(latency: latency, now: now) }
        metrics.attempt(upstream: upstreams[index].spec.id, outcome: "ok", latency: latency)
    }

    private func record(_ index: Int, failure: UpstreamFailure) {
        let now = ContinuousClock.now
        state.withLock { $0.health[index].recordFailure(failure, now: now) }
        metrics.attempt(upstream: upstreams[index].spec.id, outcome: RoutingMetrics.outcome(failure), latency: nil)
    }

    private func nextRequestId() -> Int {
        state.withLock { state in
            defer { state.nextRequestId &+= 1 }
            return state.nextRequestId
        }
    }

    private func describeUnavailable(_ id: String) -> String {
        guard let index = upstreams.firstIndex(where: { $0.spec.id == id }) else { return "unknown" }
        return state.withLock { state in
            let record = state.health[index]
            if record.chainIdMatches == false { return "serves another chain" }
            return "circuit open after: \(record.lastFailure ?? "failures")"
        }
    }

    /// How long to wait for an attempt before hedging: the median of the upstreams' recent p95, bounded.
    func hedgeDelay() -> Duration {
        let p95s = state.withLock { $0.health.compactMap(\.p95) }.sorted()
        guard !p95s.isEmpty else { return configuration.hedgeDelayCeiling / 4 }
        return min(max(p95s[p95s.count / 2], configuration.hedgeDelayFloor), configuration.hedgeDelayCeiling)
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
        guard !matched.isEmpty else { return [] }
        let until = ContinuousClock.now + length
        state.withLock { $0.drill = (Set(matched), until) }
        return matched.map { upstreams[$0].spec.id }
    }

    public func endDrill() {
        state.withLock { $0.drill = nil }
    }

    // MARK: Heads

    /// The highest block that upstreams from at least two failure domains have reached
    /// (with only one domain reporting, that domain's highest head).
    public var consensusHead: UInt64? { state.withLock { $0.consensusHead } }

    /// Polls every upstream's head (and chain id) once and recomputes the consensus head.
    public func pollHeads() async {
        let body = ByteBuffer(string: #"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"}]"#)
        let timeout = min(configuration.attemptTimeout, configuration.headPollInterval * 2)
        let results = await withTaskGroup(of: (Int, Result<(UInt64, UInt64), UpstreamFailure>, Duration).self) { group in
            for (index, upstream) in upstreams.enumerated() {
                group.addTask {
                    let start = ContinuousClock.now
                    do {
                        let response = try await upstream.transport.post(body, timeout: timeout)
                        return (index, Self.parseHeadPoll(response), ContinuousClock.now - start)
                    } catch {
                        return (index, .failure(Self.failure(from: error, timeout: timeout)), ContinuousClock.now - start)
                    }
                }
            }
            var all: [(Int, Result<(UInt64, UInt64), UpstreamFailure>, Duration)] = []
            for await result in group { all.append(result) }
            return all
        }
        let now = ContinuousClock.now
        state.withLock { state in
            for (index, result, latency) in results {
                switch result {
                case .success(let (chainId, head)):
                    state.health[index].chainIdMatches = chainId == configuration.chainId
                    state.health[index].head = head
                    state.health[index].recordSuccess(latency: latency, now: now)
                case .failure(let failure):
                    state.health[index].recordFailure(failure, now: now)
                }
            }
            var heads: [(FailureDomainLabels, UInt64)] = []
            for (index, record) in state.health.enumerated() where record.chainIdMatches == true && !record.isOpen(now: now) {
                if let head = record.head { heads.append((upstreams[index].spec.domain, head)) }
            }
            state.consensusHead = ConsensusHeadRule.head(of: heads) ?? state.consensusHead
            for (index, record) in state.health.enumerated() {
                let up = record.state(now: now, consensusHead: state.consensusHead, maxLag: configuration.maxLag) == .healthy
                metrics.state(upstream: upstreams[index].spec.id, up: up, head: record.head)
            }
        }
    }

    static func parseHeadPoll(_ response: UpstreamHTTPResponse) -> Result<(UInt64, UInt64), UpstreamFailure> {
        guard response.status == 200 else {
            return .failure(UpstreamFailure(response.status == 429 ? .rateLimited : .http5xx, "HTTP \(response.status)"))
        }
        guard let answers = (try? JSONValue.parse(Array(response.body.readableBytesView)))?.arrayValue else {
            return .failure(UpstreamFailure(.invalidResponse, "invalid JSON from the upstream"))
        }
        func result(_ id: Double) -> UInt64? {
            guard let text = answers.first(where: { $0["id"] == .number(id) })?["result"]?.stringValue,
                  let bytes = try? Hex.decodeQuantity(text), bytes.count <= 8 else { return nil }
            return bytes.reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard let chainId = result(1), let head = result(2) else {
            return .failure(UpstreamFailure(.invalidResponse, "no chain id or head in the answer"))
        }
        return .success((chainId, head))
    }

    /// Polls heads every `headPollInterval` until shutdown.
    public func run() async throws {
        await pollHeads()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.configuration.headPollInterval)
                if Task.isCancelled { break }
                await self.pollHeads()
            }
        }
    }

    // MARK: Status

    /// One upstream as `/status` reports it.
    public struct UpstreamStatus: Sendable {
        public var id: String
        public var domain: FailureDomainLabels
        public var state: String
        public var head: UInt64?
        public var p50Milliseconds: Double?
        public var p95Milliseconds: Double?
        public var successes: Int
        public var failures: Int
        public var lastFailure: String?
        public var inDrill: Bool
    }

    public func status() -> (consensusHead: UInt64?, upstreams: [UpstreamStatus]) {
        let now = ContinuousClock.now
        return state.withLock { state in
            (state.consensusHead, state.health.enumerated().map { index, record in
                UpstreamStatus(
                    id: upstreams[index].spec.id, domain: upstreams[index].spec.domain,
                    state: state.inDrill(index, now: now) ? "down" : record.state(now: now, consensusHead: state.consensusHead, maxLag: configuration.maxLag).rawValue,
                    head: record.head, p50Milliseconds: record.p50.map(Self.milliseconds), p95Milliseconds: record.p95.map(Self.milliseconds),
                    successes: record.successCount, failures: record.failureCount, lastFailure: record.lastFailure,
                    inDrill: state.inDrill(index, now: now)
                )
            })
        }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    /// Whether at least one upstream can take calls.
    public var isReady: Bool { !candidateOrder().isEmpty }

    public func shutdown() async {
        for upstream in upstreams { await upstream.transport.shutdown() }
    }
}

/// The consensus-head rule of SPEC section 4, as a pure function.
enum ConsensusHeadRule {
    static func head(of reports: [(FailureDomainLabels, UInt64)]) -> UInt64? {
        var best: [FailureDomainLabels: UInt64] = [:]
        for (domain, head) in reports { best[domain] = max(best[domain] ?? 0, head) }
        let heads = best.values.sorted(by: >)
        guard let highest = heads.first else { return nil }
        return heads.count >= 2 ? heads[1] : highest
    }
}
