import EthereumKit
import Failsafe
import Logging
import NIOCore
import Routing
import Synchronization

/// One chain behind the gateway.
public struct GatewayChain: Sendable {
    public var name: String
    public var router: ChainRouter
    /// The chain's method allow/deny policy (SPEC section 2, `methods`).
    public var allows: @Sendable (String) -> Bool

    public init(name: String, router: ChainRouter, allows: @escaping @Sendable (String) -> Bool = { _ in true }) {
        self.name = name
        self.router = router
        self.allows = allows
    }
}

/// Limits of the HTTP edge (SPEC section 2, `server`).
public struct GatewayLimits: Sendable {
    public var maxBodyBytes = 1_048_576
    public var maxBatchSize = 100
    public var requestTimeout: Duration = .seconds(10)
    /// Request line and headers together; more gets HTTP 431.
    public var maxHeaderBytes = 16_384
    /// Nesting of arrays and objects in a request body; deeper gets -32700.
    public var maxJsonDepth = 64
    /// A request must arrive whole within this from its first byte (HTTP 408 and closed otherwise).
    public var readTimeout: Duration = .seconds(10)
    /// A connection without a request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Client connections open at once.
    public var maxConnections = 4_096

    public init() {}
}

/// An HTTP answer of the edge, before it is written to the connection.
public struct EdgeResponse: Sendable {
    public var status: Int
    /// Its headers: as given, or a JSON-RPC answer's (written from `AnswerHeaders` without a list of strings).
    enum Head: Sendable {
        case lines([(String, String)])
        case answer(AnswerHeaders)
    }

    /// The headers of a JSON-RPC answer: `Content-Type: application/json` and the `X-Bulwark-*` ones.
    struct AnswerHeaders: Sendable {
        var cache: CacheStatus
        /// The upstream(s) that answered; nil or empty: none.
        var upstream: String?
        var verified: Bool?
        var retryAfter: String?

        var lines: [(String, String)] {
            var headers: [(String, String)] = [("Content-Type", "application/json"), ("X-Bulwark-Cache", cache.name)]
            if case .stale(let age) = cache { headers.append(("X-Bulwark-Stale-Age", String(age.components.seconds))) }
            if let upstream, !upstream.isEmpty { headers.append(("X-Bulwark-Upstream", upstream)) }
            if let verified { headers.append(("X-Bulwark-Verified", verified ? "true" : "false")) }
            if let retryAfter { headers.append(("Retry-After", retryAfter)) }
            return headers
        }
    }

    var head: Head

    public var headers: [(String, String)] {
        get {
            switch head {
            case .lines(let lines): lines
            case .answer(let answer): answer.lines
            }
        }
        set { head = .lines(newValue) }
    }

    /// What the body is made of: text, or a call's JSON-RPC answer, written straight into the
    /// connection's buffer (an upstream's bytes do not become a String on their way through).
    enum Content: Sendable {
        case text(String)
        case answer(CallOutcome, id: JSONValue?, idText: String?)
        /// A batch's answer: the array of its elements' answers.
        case batch([Content])
    }

    var content: Content

    public init(status: Int, headers: [(String, String)], body: String) {
        self.status = status
        head = .lines(headers)
        content = .text(body)
    }

    init(status: Int, headers: AnswerHeaders, answer: CallOutcome, id: JSONValue?, idText: String?) {
        self.status = status
        head = .answer(headers)
        content = .answer(answer, id: id, idText: idText)
    }

    init(status: Int, headers: AnswerHeaders, batch: [Content]) {
        self.status = status
        head = .answer(headers)
        content = .batch(batch)
    }

    /// The body as text.
    public var body: String {
        var text = ""
        Self.write(content, into: &text)
        return text
    }

    /// Writes the body into `buffer`.
    func writeBody(into buffer: inout ByteBuffer) {
        Self.write(content, into: &buffer)
    }

    private static func write(_ content: Content, into out: inout some JSONTextOutput) {
        switch content {
        case .text(let text): out.append(text)
        case .answer(let outcome, let id, let idText): outcome.writeResponse(id: id, idText: idText, into: &out)
        case .batch(let elements):
            out.append("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(",") }
                write(element, into: &out)
            }
            out.append("]")
        }
    }
}

/// The gateway's HTTP edge (SPEC section 3): parses JSON-RPC, enforces limits and method
/// policy, hands each call to its chain's router, and writes answers with the
/// `X-Bulwark-*` headers. `handle` is the whole edge without sockets, for tests.
public final class Gateway: Sendable {
    public let chains: [GatewayChain]
    public let limits: GatewayLimits
    let logger: Logger
    let metrics = GatewayMetrics()
    /// Key required on `/admin/*` (`X-Api-Key` or `Authorization: Bearer`); nil leaves them open.
    public let adminKey: String?
    /// The clients and their API keys (SPEC section 2, `auth.keys`); empty leaves the JSON-RPC routes open.
    public let clients: [GatewayClient]

    public init(chains: [GatewayChain], limits: GatewayLimits = .init(), adminKey: String? = nil, clients: [GatewayClient] = [],
                logger: Logger = Logger(label: "bulwark.server")) {
        self.chains = chains
        self.limits = limits
        self.adminKey = adminKey
        self.clients = clients
        self.logger = logger
    }

    /// The client a JSON-RPC request comes from: anyone without configured keys, else the owner
    /// of `apiKey` (every key compared in constant time); nil: answer 401.
    public func client(apiKey: String?) -> GatewayClient? {
        guard !clients.isEmpty else { return .anonymous }
        guard let apiKey else { return nil }
        let offered = Array(apiKey.utf8)
        var owner: GatewayClient?
        for client in clients where GatewayClient.constantTimeEqual(client.key, offered) { owner = client }
        return owner
    }

    /// Handles `POST /{chain}` (or `POST /` when `route` is nil) with `body`.
    public func handle(route: String?, body: [UInt8], client: GatewayClient = .anonymous) async -> EdgeResponse {
        await handle(route: route, body: ByteBuffer(bytes: body), client: client)
    }

    /// Handles `POST /{chain}` (or `POST /` when `route` is nil) with `body` as it arrived.
    public func handle(route: String?, body: ByteBuffer, client: GatewayClient = .anonymous) async -> EdgeResponse {
        switch prepare(route: route, body: body, client: client) {
        case .respond(let response): response
        case .execute(let request): await finish(request)
        }
    }

    /// A parsed JSON-RPC request that needs the upstreams (or the cache store).
    public struct PendingRequest: Sendable {
        enum Calls: Sendable {
            case single(RPCCall)
            case batch([BatchItem])
        }

        let chain: GatewayChain
        let calls: Calls
        let client: GatewayClient
        let deadline: MonotonicClock.Instant
    }

    /// What to do with a request body: answer at once (an error, a local answer, a hit in
    /// memory), or `finish` it.
    public enum Step: Sendable {
        case respond(EdgeResponse)
        case execute(PendingRequest)
    }

    /// Parses and checks a request and answers it if that needs no waiting; the edge calls this
    /// on the connection's event loop, so that cache hits cost no task.
    public func prepare(route: String?, body: ByteBuffer, client: GatewayClient) -> Step {
        let chain: GatewayChain
        if let route {
            guard let match = chains.first(where: { $0.name == route }) else {
                return .respond(EdgeResponse(status: 404, headers: [("Content-Type", "application/json")],
                                             body: GatewayError.invalidRequest("unknown chain '\(route.prefix(64))'; this gateway serves \(chains.map(\.name).joined(separator: ", "))").responseJSON(id: nil)))
            }
            chain = match
        } else {
            guard chains.count == 1 else {
                return .respond(EdgeResponse(status: 404, headers: [("Content-Type", "application/json")],
                                             body: GatewayError.invalidRequest("several chains are configured: POST to /{chain} (\(chains.map(\.name).joined(separator: ", ")))").responseJSON(id: nil)))
            }
            chain = chains[0]
        }
        guard body.readableBytes <= limits.maxBodyBytes else {
            return .respond(Self.error(.init(code: -32600, httpStatus: 413, message: "request too large", data: .string("the body is \(body.readableBytes) bytes; this gateway accepts at most \(limits.maxBodyBytes)"))))
        }
        let deadline = MonotonicClock.now + limits.requestTimeout
        // The usual body, one valid call, is read as members: no dictionary, params and id kept as written.
        let view = body.readableBytesView
        // (A batch is not tried as an object: the failed attempt would cost an error message.)
        let fast = JSONValue.firstSignificantByte(view) == UInt8(ascii: "{")
            ? body.withUnsafeReadableBytes { raw in raw.withMemoryRebound(to: UInt8.self, memberCall) } : nil
        if let fast { return prepare(fast, chain: chain, client: client, deadline: deadline) }
        // A batch: checked whole as `parse` would check it, then each element read like a single call.
        let elements = body.withUnsafeReadableBytes { raw in
            raw.withMemoryRebound(to: UInt8.self) { try? JSONValue.elementSpans($0, maxDepth: limits.maxJsonDepth) }
        }
        if let elements {
            guard !elements.isEmpty else { return .respond(Self.error(.invalidRequest("empty batch"))) }
            guard elements.count <= limits.maxBatchSize else {
                return .respond(Self.error(.init(code: -32600, httpStatus: 413, message: "batch too large",
                                                 data: .string("the batch has \(elements.count) calls; this gateway accepts at most \(limits.maxBatchSize)"))))
            }
            if let refusal = overRateLimit(client, calls: elements.count) { return .respond(refusal) }
            let batch = prepareBatch(elements, body: body, chain: chain, client: client)
            if !batch.contains(where: { if case .pending = $0 { true } else { false } }) {
                return .respond(Self.batchResponse(batch.map { if case .answered(let answer) = $0 { answer } else { BatchAnswer(cache: .miss) } }))
            }
            return .execute(PendingRequest(chain: chain, calls: .batch(batch), client: client, deadline: deadline))
        }
        let request: JSONValue
        do { request = try JSONValue.parse(view, maxDepth: limits.maxJsonDepth) } catch {
            return .respond(Self.error(.parseError(error.message)))
        }
        let call: RPCCall
        do throws(GatewayError) { call = try Self.validatedCall(request, writtenAs: view) } catch {
            return .respond(Self.error(error, id: error.id))
        }
        return prepare(call, chain: chain, client: client, deadline: deadline)
    }

    /// A valid call read from the members of its object in `bytes` (no dictionary; params and id
    /// kept as written); nil for anything unusual, which `validatedCall` then reads or refuses.
    private func memberCall(_ bytes: UnsafeBufferPointer<UInt8>) -> RPCCall? {
        (try? JSONValue.parseMembers(bytes, maxDepth: limits.maxJsonDepth)).flatMap { RPCCall(members: $0, in: bytes) }
    }

    /// `request`, parsed from `bytes`, as a valid call, with its id as written when writing the
    /// parsed number back would change it; or the reason it is not one.
    private static func validatedCall(_ request: JSONValue, writtenAs bytes: some Collection<UInt8>) throws(GatewayError) -> RPCCall {
        var call = try RPCCall(validating: request)
        if call.idNeedsItsText { call.idText = memberText("id", of: bytes) }
        return call
    }

    /// `prepare` for one valid call.
    private func prepare(_ call: RPCCall, chain: GatewayChain, client: GatewayClient, deadline: MonotonicClock.Instant) -> Step {
        if let refusal = overRateLimit(client, calls: 1) { return .respond(refusal) }
        let start = MonotonicClock.now
        guard let outcome = triage(call, chain: chain, client: client) else {
            return .execute(PendingRequest(chain: chain, calls: .single(call), client: client, deadline: deadline))
        }
        metrics.record(chain: chain, method: call.method, outcome: outcome, latency: MonotonicClock.now - start)
        return .respond(response(call, outcome, chain: chain))
    }

    /// A top-level member's value as written in `object`.
    static func memberText(_ name: String, of object: some Collection<UInt8>) -> String? {
        let bytes = Array(object)
        guard let member = try? JSONValue.parseMembers(bytes).first(where: { $0.key == name }) else { return nil }
        return String(decoding: bytes[member.span], as: UTF8.self)
    }

    /// A 429 when `calls` more would take the client over its key's rate limit.
    private func overRateLimit(_ client: GatewayClient, calls: Int) -> EdgeResponse? {
        guard let rateLimit = client.rateLimit, let wait = client.overRateLimit(calls: calls, now: .now) else { return nil }
        for _ in 0..<calls { client.rateLimited.increment() }
        return Self.error(.rateLimited(client: client.name, rps: rateLimit.rate, burst: rateLimit.burst, retryAfter: wait))
    }

    /// What becomes of one valid call before anything waits: refused by a method policy, answered
    /// at once, or nil: to be made (and maybe shed, by the router, for the client's priority).
    private func triage(_ call: RPCCall, chain: GatewayChain, client: GatewayClient) -> CallOutcome? {
        if !chain.allows(call.method) {
            client.notAllowed.increment()
            return .failed(.methodNotAllowed(call.method))
        }
        if !client.allows(call.method) {
            client.notAllowed.increment()
            return .failed(.methodNotAllowed(call.method, client: client.name))
        }
        if let answer = chain.router.answerNow(call) {
            client.answered.increment()
            return answer
        }
        return nil
    }

    /// Answers a prepared request.
    public func finish(_ request: PendingRequest) async -> EdgeResponse {
        await withCheckedContinuation { continuation in
            finish(request) { continuation.resume(returning: $0) }
        }
    }

    /// Answers a prepared request through `then`, on an event loop. A single call that is only
    /// forwarded runs without a task (see `ChainRouter.execute(_:deadline:priority:then:)`).
    public func finish(_ request: PendingRequest, then: @escaping @Sendable (EdgeResponse) -> Void) {
        switch request.calls {
        case .batch(let items):
            finishBatch(items, chain: request.chain, client: request.client, deadline: request.deadline, then: then)
        case .single(let call):
            let start = MonotonicClock.now
            request.chain.router.execute(call, deadline: request.deadline, priority: request.client.priority) { outcome in
                self.executed(call, outcome, chain: request.chain, client: request.client, since: start)
                then(self.response(call, outcome, chain: request.chain))
            }
        }
    }

    private func response(_ call: RPCCall, _ outcome: CallOutcome, chain: GatewayChain) -> EdgeResponse {
        guard call.id != nil else { return EdgeResponse(status: 204, headers: [], body: "") }
        var status = 200
        var headers = EdgeResponse.AnswerHeaders(cache: outcome.cacheStatus, upstream: outcome.upstream,
                                                 verified: chain.router.verificationStatus(method: call.method, outcome: outcome))
        if case .failed(let error) = outcome {
            status = error.httpStatus
            headers.retryAfter = error.retryAfterHeader
        }
        return EdgeResponse(status: status, headers: headers, answer: outcome, id: call.id, idText: call.idText)
    }

    /// One part of a batch's answer.
    struct BatchAnswer: Sendable {
        /// Its element of the answer array; nil for a notification.
        var element: EdgeResponse.Content?
        var upstream: String?
        var cache: CacheStatus
        var verified: Bool?
    }

    /// A batch item answered at once (invalid, not allowed, local or a hit in memory), or the call
    /// still to be made.
    enum BatchItem: Sendable {
        case answered(BatchAnswer)
        case pending(RPCCall)
    }

    /// Validates every element of a batch (`elements`: their byte ranges in `body`) and answers
    /// those that need no waiting. A valid call is read from its members, like a single call (no
    /// dictionary; params and id kept as written); anything else is parsed to say what is wrong.
    private func prepareBatch(_ elements: [Range<Int>], body: ByteBuffer, chain: GatewayChain, client: GatewayClient) -> [BatchItem] {
        let calls: [Result<RPCCall, GatewayError>] = body.withUnsafeReadableBytes { raw in
            raw.withMemoryRebound(to: UInt8.self) { bytes in
                elements.map { span in
                    let element = UnsafeBufferPointer(rebasing: bytes[span])
                    if let call = memberCall(element) { return .success(call) }
                    // The whole batch was checked as JSON: only the call itself can be wrong here.
                    let request = (try? JSONValue.parse(element, maxDepth: limits.maxJsonDepth)) ?? .null
                    do throws(GatewayError) { return .success(try Self.validatedCall(request, writtenAs: element)) } catch {
                        return .failure(error)
                    }
                }
            }
        }
        return calls.map { validated in
            let call: RPCCall
            switch validated {
            case .success(let valid): call = valid
            case .failure(let error):
                return .answered(BatchAnswer(element: .text(error.responseJSON(id: error.id)), cache: .miss,
                                             verified: chain.router.verificationStatus(method: "", outcome: .failed(error))))
            }
            let start = MonotonicClock.now
            guard let outcome = triage(call, chain: chain, client: client) else { return .pending(call) }
            metrics.record(chain: chain, method: call.method, outcome: outcome, latency: MonotonicClock.now - start)
            return .answered(Self.batchAnswer(call, outcome, chain: chain))
        }
    }

    static func batchAnswer(_ call: RPCCall, _ outcome: CallOutcome, chain: GatewayChain) -> BatchAnswer {
        BatchAnswer(element: call.id == nil ? nil : .answer(outcome, id: call.id, idText: call.idText), upstream: outcome.upstream, cache: outcome.cacheStatus,
                    verified: chain.router.verificationStatus(method: call.method, outcome: outcome))
    }

    /// Makes the calls still pending, concurrently (see `ChainRouter.executeBatch`), and writes the batch's answer.
    private func finishBatch(_ items: [BatchItem], chain: GatewayChain, client: GatewayClient, deadline: MonotonicClock.Instant,
                             then: @escaping @Sendable (EdgeResponse) -> Void) {
        var answered: [BatchAnswer] = []
        answered.reserveCapacity(items.count)
        var pending: [(position: Int, call: RPCCall)] = []
        pending.reserveCapacity(items.count)
        for (position, item) in items.enumerated() {
            switch item {
            case .answered(let answer): answered.append(answer)
            case .pending(let call):
                answered.append(BatchAnswer(cache: .miss))
                pending.append((position, call))
            }
        }
        let start = MonotonicClock.now
        chain.router.executeBatch(pending.map(\.call), deadline: deadline, priority: client.priority) { [answered, pending] outcomes in
            var answers = answered
            for ((position, call), outcome) in zip(pending, outcomes) {
                self.executed(call, outcome, chain: chain, client: client, since: start)
                answers[position] = Self.batchAnswer(call, outcome, chain: chain)
            }
            then(Self.batchResponse(answers))
        }
    }

    static func batchResponse(_ answers: [BatchAnswer]) -> EdgeResponse {
        let elements = answers.compactMap(\.element)
        guard !elements.isEmpty else { return EdgeResponse(status: 204, headers: [], body: "") }
        let verified = answers.compactMap(\.verified)
        return EdgeResponse(status: 200, headers: headers(upstreams: answers.map(\.upstream), cache: .combined(answers.map(\.cache)),
                                                          verified: verified.isEmpty ? nil : !verified.contains(false)),
                            batch: elements)
    }

    /// Counts a call made (or shed) for its client and its chain.
    private func executed(_ call: RPCCall, _ outcome: CallOutcome, chain: GatewayChain, client: GatewayClient, since start: MonotonicClock.Instant) {
        if case .failed(let error) = outcome, error.isShed { client.shed.increment() } else { client.answered.increment() }
        metrics.record(chain: chain, method: call.method, outcome: outcome, latency: MonotonicClock.now - start)
    }

    static func headers(upstreams: [String?], cache: CacheStatus, verified: Bool? = nil) -> EdgeResponse.AnswerHeaders {
        var seen: [String] = []
        for case let id? in upstreams where !id.isEmpty && !seen.contains(id) { seen.append(id) }
        return EdgeResponse.AnswerHeaders(cache: cache, upstream: seen.isEmpty ? nil : seen.joined(separator: ","), verified: verified)
    }

    static func error(_ error: GatewayError, id: JSONValue? = nil) -> EdgeResponse {
        var headers = [("Content-Type", "application/json")]
        if let retryAfter = error.retryAfterHeader { headers.append(("Retry-After", retryAfter)) }
        return EdgeResponse(status: error.httpStatus, headers: headers, body: error.responseJSON(id: id))
    }

    // MARK: Fault drills

    /// `POST /admin/drill` body: `{"fail": {"cloud": "aws", "region": "us-east-1"}, "for": "60s"}`.
    public func startDrill(body: [UInt8]) -> EdgeResponse {
        guard let json = try? JSONValue.parse(body), let fail = json["fail"]?.objectValue, !fail.isEmpty else {
            return Self.adminError(400, #"expected {"fail": {"cloud": "...", "region": "..."}, "for": "60s"}"#)
        }
        var criteria: [String: String] = [:]
        for (key, value) in fail {
            guard ["id", "provider", "cloud", "region"].contains(key), let text = value.stringValue else {
                return Self.adminError(400, "fail.\(key): use id, provider, cloud or region with a string value")
            }
            criteria[key] = text
        }
        var length: Duration = .seconds(60)
        if let text = json["for"]?.stringValue {
            guard let parsed = DrillDuration.parse(text) else { return Self.adminError(400, "for: '\(text)' is not a duration like 30s, 5m or 1h") }
            length = parsed
        }
        var matched: [String] = []
        for chain in chains { matched += chain.router.startDrill(matching: criteria, for: length) }
        guard !matched.isEmpty else { return Self.adminError(404, "no upstream matches \(criteria.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))") }
        logger.warning("fault drill started", metadata: ["drill.upstreams": "\(matched.joined(separator: ","))"])
        return EdgeResponse(status: 200, headers: [("Content-Type", "application/json")],
                            body: JSONValue.object(["drill": .string("started"), "upstreams": .array(matched.map { .string($0) }),
                                                    "seconds": .number(Double(length.components.seconds))]).serialized())
    }

    /// `DELETE /admin/drill`.
    public func endDrill() -> EdgeResponse {
        for chain in chains { chain.router.endDrill() }
        return EdgeResponse(status: 200, headers: [("Content-Type", "application/json")], body: #"{"drill":"ended"}"#)
    }

    /// Whether an admin request carries the admin key (constant-time comparison).
    /// Without client keys and without an admin key the gateway is open, admin endpoints too;
    /// with client keys but no admin key, the admin endpoints are closed.
    public func isAdmin(apiKey: String?) -> Bool {
        guard let adminKey else { return clients.isEmpty }
        guard let apiKey else { return false }
        return GatewayClient.constantTimeEqual(Array(adminKey.utf8), Array(apiKey.utf8))
    }

    static func adminError(_ status: Int, _ message: String) -> EdgeResponse {
        EdgeResponse(status: status, headers: [("Content-Type", "application/json")], body: JSONValue.object(["error": .string(message)]).serialized())
    }

    // MARK: Health and status

    /// `/readyz`: ready when every chain has at least one upstream that can take calls.
    public func readiness() -> (ready: Bool, reason: String) {
        let unavailable = chains.filter { !$0.router.isReady }.map(\.name)
        return unavailable.isEmpty ? (true, "ready") : (false, "no healthy upstream for: \(unavailable.joined(separator: ", "))")
    }

    static func cacheStatus(_ cache: ResponseCache) -> JSONValue {
        let totals = cache.totals
        let fields: [String: JSONValue] = [
            "store": .string(cache.configuration.store.kind), "storeAvailable": .bool(cache.storeIsAvailable),
            "hits": .number(Double(totals.hits)), "misses": .number(Double(totals.misses)), "stale": .number(Double(totals.stale)),
        ]
        return .object(fields)
    }

    /// `/status` as JSON.
    public func statusJSON() -> JSONValue {
        .object(["chains": .array(chains.map { chain in
            let status = chain.router.status()
            return .object([
                "name": .string(chain.name),
                "chainId": .quantity(chain.router.configuration.chainId),
                "consensusHead": status.consensusHead.map { .quantity($0) } ?? .null,
                "cache": chain.router.cache.map(Self.cacheStatus) ?? .null,
                "upstreams": .array(status.upstreams.map { upstream in
                    .object([
                        "id": .string(upstream.id),
                        "labels": .object(["provider": .string(upstream.domain.provider), "cloud": .string(upstream.domain.cloud), "region": .string(upstream.domain.region)]),
                        "state": .string(upstream.state),
                        "head": upstream.head.map { .quantity($0) } ?? .null,
                        "latencyMs": .object(["p50": upstream.p50Milliseconds.map { .number(($0 * 100).rounded() / 100) } ?? .null,
                                              "p95": upstream.p95Milliseconds.map { .number(($0 * 100).rounded() / 100) } ?? .null]),
                        "requests": .object(["ok": .number(Double(upstream.successes)), "failed": .number(Double(upstream.failures))]),
                        "errorRate": .number(upstream.successes + upstream.failures == 0 ? 0 : (Double(upstream.failures) / Double(upstream.successes + upstream.failures) * 1000).rounded() / 1000),
                        "lastFailure": upstream.lastFailure.map { .string($0) } ?? .null,
                        "inDrill": .bool(upstream.inDrill),
                        "verification": chain.router.configuration.verification == nil ? .null
                            : .object(["verified": .number(Double(upstream.verifiedAnswers)), "failed": .number(Double(upstream.failedVerifications))]),
                    ])
                }),
            ])
        })])
    }
}
