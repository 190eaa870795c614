import Synchronization

/// The in-process cache store: least-recently-used entries bounded by key and value bytes, with
/// O(1) lookups under one short lock. It sits on the gateway's hot path, so the synchronous
/// `entry(for:)` and `store(_:_:)` are there for callers that want to skip the async hop.
/// Entries and counters live as long as the process.
public final class MemoryCacheStore: CacheStore {
    private struct State {
        var table: LRUTable
        var counters: [CacheCounterKey: CacheCounters] = [:]
        var isClosed = false
    }

    public var kind: String { "memory" }

    /// The most key and value bytes kept; an entry larger than this is not stored.
    public let maxBytes: Int

    private let state: Mutex<State>

    public init(maxBytes: Int) {
        self.maxBytes = max(0, maxBytes)
        self.state = Mutex(State(table: LRUTable(maxBytes: maxBytes)))
    }

    // MARK: - Synchronous access for the hot path

    /// The entry under `key`, which becomes the most recently used; nil when absent or after `close()`.
    public func entry(for key: CacheKey) -> CacheEntry? {
        state.withLock { state in
            state.isClosed ? nil : state.table.entry(for: key)
        }
    }

    /// Stores `entry` under `key` as the most recently used, evicting the least recently used
    /// entries to stay within `maxBytes`. An entry larger than `maxBytes` is not stored (and what
    /// was under `key` is removed). Does nothing after `close()`.
    public func store(_ key: CacheKey, _ entry: CacheEntry) {
        state.withLock { state in
            guard !state.isClosed else { return }
            state.table.store(key, entry)
        }
    }

    /// Drops every entry (a reorg invalidated them, say); counters stay.
    public func removeAll() {
        state.withLock { $0.table.removeAll() }
    }

    /// How many entries are kept.
    public var count: Int { state.withLock { $0.table.count } }

    /// Key and value bytes of the entries kept.
    public var bytes: Int { state.withLock { $0.table.bytes } }

    // MARK: - CacheStore

    public func get(_ key: CacheKey) async throws -> CacheEntry? {
        try state.withLock { state throws(CacheStoreError) in
            guard !state.isClosed else { throw Self.closedError }
            return state.table.entry(for: key)
        }
    }

    public func put(_ key: CacheKey, _ entry: CacheEntry) async throws {
        try state.withLock { state throws(CacheStoreError) in
            guard !state.isClosed else { throw Self.closedError }
            state.table.store(key, entry)
        }
    }

    public func addCounters(_ counters: [CacheCounterKey: CacheCounters]) async throws {
        try state.withLock { state throws(CacheStoreError) in
            guard !state.isClosed else { throw Self.closedError }
            for (key, counts) in counters {
                state.counters[key, default: CacheCounters()] += counts
            }
        }
    }

    public func statistics(chain: String?) async throws -> CacheStatistics {
        let (usage, counters) = try state.withLock { state throws(CacheStoreError) in
            guard !state.isClosed else { throw Self.closedError }
            var usage: [CacheCounterKey: CacheStatistics.Usage] = [:]
            state.table.forEach { key, size in
                guard chain == nil || key.chain == chain else { return }
                usage[CacheCounterKey(chain: key.chain, method: key.method), default: .init()].add(bytes: size)
            }
            let counters = state.counters.filter { chain == nil || $0.key.chain == chain }
            return (usage, counters)
        }
        return CacheStatistics(usage: usage, counters: counters)
    }

    public func purge(chain: String?, method: String?) async throws -> Int {
        try state.withLock { state throws(CacheStoreError) in
            guard !state.isClosed else { throw Self.closedError }
            func inScope(_ entryChain: String, _ entryMethod: String) -> Bool {
                (chain == nil || entryChain == chain) && (method == nil || entryMethod == method)
            }
            state.counters = state.counters.filter { !inScope($0.key.chain, $0.key.method) }
            return state.table.removeAll { inScope($0.chain, $0.method) }
        }
    }

    public func close() async {
        state.withLock { state in
            state.isClosed = true
            state.table.removeAll()
            state.counters = [:]
        }
    }

    private static let closedError = CacheStoreError(.closed, "the memory cache store is closed")
}
