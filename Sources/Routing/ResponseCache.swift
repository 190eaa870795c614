import Cache
import Failsafe
import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One chain's cache (SPEC section 6): final answers in the configured store, head answers
/// in memory for as long as the head stays the same, and — with `staleIfError` — the last
/// good answer of each call, served when no upstream can answer. `CachePolicy` decides
/// what goes where; a failing store only turns hits into misses (the cache fails open).
public final class ResponseCache: Sendable {
    public struct Configuration: Sendable {
        /// Where final answers are kept.
        public var store: any CacheStore
        /// How old a last good answer may be to be served when no upstream can answer; nil: never.
        public var staleIfError: Duration?
        /// Bound of the in-memory tier of answers at the current head.
        public var headTierBytes = 32 << 20
        /// Bound of the in-memory last-good answers kept for `staleIfError`.
        public var staleTierBytes = 64 << 20
        /// How often lookup counters are added to the store (for `bulwark cache stats`).
        public var counterFlushInterval: Duration = .seconds(10)

        public init(store: any CacheStore, staleIfError: Duration? = nil) {
            self.store = store
            self.staleIfError = staleIfError
        }
    }

    /// The head the head tier belongs to.
    struct HeadEpoch: Equatable {
        var number: UInt64
        var hash: String?
    }

    public let configuration: Configuration
    let chainName: String
    let store: any CacheStore
    /// `store` when it is the memory store: read without waiting.
    private let memoryStore: MemoryCacheStore?
    private let headTier: MemoryCacheStore
    private let staleTier: MemoryCacheStore?
    /// The head the head tier holds answers for; nil while no head is confirmed (then the head tier is empty).
    private let epoch = Mutex<(head: HeadEpoch?, generation: Int)>((nil, 0))
    /// Lookup counters by method since the last flush, and since start: one lock for both.
    private let counters = Mutex<(byMethod: [String: CacheCounters], total: CacheCounters)>(([:], CacheCounters()))
    private let storeTrouble = Mutex<(failing: Bool, lastWarning: MonotonicClock.Instant?)>((false, nil))
    private let metrics: CacheMetrics
    private let logger: Logger

    public init(chainName: String, configuration: Configuration, logger: Logger = Logger(label: "bulwark.cache")) {
        self.chainName = chainName
        self.configuration = configuration
        store = configuration.store
        memoryStore = configuration.store as? MemoryCacheStore
        headTier = MemoryCacheStore(maxBytes: configuration.headTierBytes)
        staleTier = configuration.staleIfError == nil ? nil : MemoryCacheStore(maxBytes: configuration.staleTierBytes)
        metrics = CacheMetrics(chain: chainName, store: configuration.store.kind)
        self.logger = logger
    }

    // MARK: Lookups

    /// The cached answer of a call, if any: from the store when it may be final, else from the head tier.
    func lookup(method: String, params: String, rule: CachePolicy.Rule, chain: CachePolicy.Chain?) async -> [UInt8]? {
        let key = CacheKey(chain: chainName, method: method, params: params)
        if Self.mayBeFinal(rule, chain: chain), let entry = await storeGet(key) {
            count(method) { $0.hits += 1 }
            metrics.hits.increment()
            return entry.value
        }
        // Head answers only while the head is current (`chain` is nil once no upstream has confirmed it for a while).
        if chain != nil, epoch.withLock({ $0.head != nil }), let entry = headTier.entry(for: key) {
            count(method) { $0.hits += 1 }
            metrics.hits.increment()
            return entry.value
        }
        count(method) { $0.misses += 1 }
        metrics.misses.increment()
        return nil
    }

    /// A hit held in memory (the head tier, or the store when it is the memory store), found
    /// without waiting; nil says nothing (not counted as a miss): `lookup` then asks everything.
    func lookupInMemory(method: String, params: String, rule: CachePolicy.Rule, chain: CachePolicy.Chain?) -> [UInt8]? {
        let key = CacheKey(chain: chainName, method: method, params: params)
        var entry: CacheEntry?
        if Self.mayBeFinal(rule, chain: chain), let memoryStore { entry = memoryStore.entry(for: key) }
        if entry == nil, chain != nil, epoch.withLock({ $0.head != nil }) { entry = headTier.entry(for: key) }
        guard let entry else { return nil }
        count(method) { $0.hits += 1 }
        metrics.hits.increment()
        return entry.value
    }

    /// Whether an answer under `rule` may be in the store of final answers.
    static func mayBeFinal(_ rule: CachePolicy.Rule, chain: CachePolicy.Chain?) -> Bool {
        switch rule {
        case .never, .head: false
        case .forever, .blockInAnswer, .transaction: true
        case .block(let number): chain.map { number <= $0.finalized } ?? true
        }
    }

    /// The head generation a call starts under: an answer is kept in the head tier only if the
    /// head has not moved while it was fetched.
    var generation: Int { epoch.withLock { $0.generation } }

    /// Keeps an upstream's answer where the policy says. `clientParams` is the call as the client
    /// wrote it (`latest`, not the pinned number): its last good answer, for `staleIfError`.
    func remember(method: String, params: String, clientParams: String, result: [UInt8], rule: CachePolicy.Rule,
                  chain: CachePolicy.Chain?, generation: Int) async {
        let placement = chain.map { CachePolicy.placement(rule, result: result, chain: $0) } ?? .none
        let entry = CacheEntry(value: result, storedAt: Self.wallClockMilliseconds())
        let key = CacheKey(chain: chainName, method: method, params: params)
        switch placement {
        case .final:
            await storePut(key, entry)
        case .head:
            if self.generation == generation { headTier.store(key, entry) }
        case .none:
            break
        }
        if let staleTier, placement != .final, rule != .never {
            staleTier.store(CacheKey(chain: chainName, method: method, params: clientParams), entry)
        }
    }

    /// The last good answer of a call and its age, if younger than `staleIfError`.
    func stale(method: String, clientParams: String) async -> (value: [UInt8], age: Duration)? {
        guard let staleTier, let limit = configuration.staleIfError,
              let entry = staleTier.entry(for: CacheKey(chain: chainName, method: method, params: clientParams)) else { return nil }
        let age = Duration.milliseconds(max(0, Self.wallClockMilliseconds() - entry.storedAt))
        guard age <= limit else { return nil }
        count(method) { $0.stale += 1 }
        metrics.staleAnswers.increment()
        return (entry.value, age)
    }

    // MARK: Head

    /// The consensus head is current (`answeredNow`: an upstream confirmed it in this very poll).
    /// A different head (number or hash) drops every head-tier answer.
    func headConfirmed(number: UInt64, hash: String?, answeredNow: Bool) async {
        let next = HeadEpoch(number: number, hash: hash)
        let changed = epoch.withLock { state -> Bool in
            guard state.head != next else { return false }
            state.head = next
            state.generation += 1
            return true
        }
        if changed { headTier.removeAll() }
        if let staleTier, answeredNow {
            let entry = CacheEntry(value: Array("\"0x\(String(number, radix: 16))\"".utf8), storedAt: Self.wallClockMilliseconds())
            staleTier.store(CacheKey(chain: chainName, method: "eth_blockNumber", params: "[]"), entry)
        }
    }

    /// No upstream has confirmed the head for a while: what the head tier holds may be outdated, so drop it.
    func headLost() {
        let changed = epoch.withLock { state -> Bool in
            guard state.head != nil else { return false }
            state.head = nil
            state.generation += 1
            return true
        }
        if changed { headTier.removeAll() }
    }

    // MARK: Store access that fails open

    private func storeGet(_ key: CacheKey) async -> CacheEntry? {
        do {
            let entry = try await store.get(key)
            storeRecovered()
            return entry
        } catch {
            storeFailed(error)
            return nil
        }
    }

    private func storePut(_ key: CacheKey, _ entry: CacheEntry) async {
        do {
            try await store.put(key, entry)
            storeRecovered()
        } catch {
            storeFailed(error)
        }
    }

    private func storeFailed(_ error: any Error) {
        metrics.storeErrors.increment()
        let now = MonotonicClock.now
        let warn = storeTrouble.withLock { trouble -> Bool in
            trouble.failing = true
            guard trouble.lastWarning.map({ now - $0 > .seconds(30) }) ?? true else { return false }
            trouble.lastWarning = now
            return true
        }
        metrics.storeAvailable.record(0)
        if warn {
            logger.warning("cache store failing; serving without it (cache misses)", metadata: [
                "cache.store": "\(store.kind)", "error": "\(error)",
            ])
        }
    }

    private func storeRecovered() {
        let recovered = storeTrouble.withLock { trouble -> Bool in
            defer { trouble.failing = false }
            return trouble.failing
        }
        if recovered {
            metrics.storeAvailable.record(1)
            logger.info("cache store answering again", metadata: ["cache.store": "\(store.kind)"])
        }
    }

    // MARK: Counters

    private func count(_ method: String, _ change: (inout CacheCounters) -> Void) {
        counters.withLock { counters in
            change(&counters.byMethod[method, default: CacheCounters()])
            change(&counters.total)
        }
    }

    /// Lookups since start: hits, misses and stale answers, for `/status`.
    public var totals: CacheCounters { counters.withLock { $0.total } }

    /// Whether the store answered its last operation.
    public var storeIsAvailable: Bool { storeTrouble.withLock { !$0.failing } }

    /// Lookup counters since the last flush, added to the store.
    func flushCounters() async {
        let pending = counters.withLock { counters in
            defer { counters.byMethod.removeAll(keepingCapacity: true) }
            return counters.byMethod
        }
        guard !pending.isEmpty else { return }
        var byKey: [CacheCounterKey: CacheCounters] = [:]
        for (method, counts) in pending { byKey[CacheCounterKey(chain: chainName, method: method)] = counts }
        do { try await store.addCounters(byKey) } catch { storeFailed(error) }
    }

    static func wallClockMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// The cache's metrics: lookups by result, stale answers served, store failures and availability.
struct CacheMetrics: Sendable {
    let hits: Counter
    let misses: Counter
    let staleAnswers: Counter
    let storeErrors: Counter
    let storeAvailable: Gauge

    init(chain: String, store: String) {
        hits = Counter(label: "bulwark_cache_lookups_total", dimensions: [("chain", chain), ("result", "hit")])
        misses = Counter(label: "bulwark_cache_lookups_total", dimensions: [("chain", chain), ("result", "miss")])
        staleAnswers = Counter(label: "bulwark_cache_stale_answers_total", dimensions: [("chain", chain)])
        storeErrors = Counter(label: "bulwark_cache_store_errors_total", dimensions: [("chain", chain), ("store", store)])
        storeAvailable = Gauge(label: "bulwark_cache_store_up", dimensions: [("chain", chain), ("store", store)])
        storeAvailable.record(1)
    }
}
