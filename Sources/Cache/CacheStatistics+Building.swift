extension CacheStatistics {
    /// Entry totals of one chain and method, as a store adds them up.
    struct Usage: Sendable, Equatable {
        var entries = 0
        var bytes = 0

        mutating func add(bytes size: Int) {
            entries += 1
            bytes += size
        }
    }

    /// Joins entry totals and counters per chain and method; a method appears when it has either.
    init(usage: [CacheCounterKey: Usage], counters: [CacheCounterKey: CacheCounters]) {
        var methods: [Method] = []
        methods.reserveCapacity(usage.count + counters.count)
        for (key, totals) in usage {
            methods.append(Method(
                chain: key.chain, method: key.method, entries: totals.entries, bytes: totals.bytes,
                counters: counters[key] ?? CacheCounters()
            ))
        }
        for (key, counts) in counters where usage[key] == nil {
            methods.append(Method(chain: key.chain, method: key.method, entries: 0, bytes: 0, counters: counts))
        }
        self.init(methods: methods)
    }
}
