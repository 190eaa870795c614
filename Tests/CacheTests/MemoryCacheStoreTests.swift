import Testing
@testable import Cache

@Suite("MemoryCacheStore")
struct MemoryCacheStoreTests {
    @Test func anEntryComesBackAsStoredAndAnUnknownKeyMisses() async throws {
        let store = MemoryCacheStore(maxBytes: 10_000)
        let block = entry(#"{"number":"0x1"}"#, storedAt: 42)
        try await store.put(key(), block)

        #expect(try await store.get(key()) == block)
        #expect(store.entry(for: key()) == block)
        #expect(try await store.get(key(params: #"["0x2",false]"#)) == nil)
        #expect(try await store.get(key(chain: "10")) == nil)
        #expect(store.kind == "memory")
    }

    @Test func aPutReplacesTheEntryAndItsBytesAreCountedOnce() async throws {
        let store = MemoryCacheStore(maxBytes: 10_000)
        try await store.put(key(), entry("first answer"))
        store.store(key(), entry("second"))

        #expect(try await store.get(key()) == entry("second"))
        #expect(store.count == 1)
        #expect(store.bytes == key().byteCount + "second".utf8.count)
    }

    @Test func theLeastRecentlyReadEntryIsEvictedFirst() async throws {
        let (a, b, c, d) = (key(params: "[a]"), key(params: "[b]"), key(params: "[c]"), key(params: "[d]"))
        let store = MemoryCacheStore(maxBytes: 300)
        try await store.put(a, entry(filling: 100, under: a))
        try await store.put(b, entry(filling: 100, under: b))
        try await store.put(c, entry(filling: 100, under: c))
        // `a` is the oldest write but was just read: `b` is now the least recently used.
        _ = try await store.get(a)
        try await store.put(d, entry(filling: 100, under: d))

        #expect(store.entry(for: b) == nil)
        #expect(store.entry(for: a) != nil)
        #expect(store.entry(for: c) != nil)
        #expect(store.entry(for: d) != nil)
        // The checks above read a, then c, then d: `a` is now the least recently used.
        let e = key(params: "[e]")
        try await store.put(e, entry(filling: 100, under: e))
        #expect(store.entry(for: a) == nil)
        #expect(store.count == 3)
        #expect(store.bytes == 300)
    }

    @Test func anEntryLargerThanTheBoundIsNotStoredAndEvictsNothing() async throws {
        let store = MemoryCacheStore(maxBytes: 200)
        let small = key(params: "[small]")
        try await store.put(small, entry(filling: 150, under: small))
        try await store.put(key(), entry(filling: 201, under: key()))

        #expect(try await store.get(key()) == nil)
        #expect(try await store.get(small) != nil)
        #expect(store.bytes == 150)
    }

    @Test func anOverLargeReplacementRemovesTheOlderAnswer() async throws {
        let store = MemoryCacheStore(maxBytes: 200)
        try await store.put(key(), entry("old"))
        try await store.put(key(), entry(filling: 500, under: key()))

        #expect(try await store.get(key()) == nil)
        #expect(store.bytes == 0)
    }

    @Test func theByteBoundHoldsThroughManyPuts() async throws {
        let store = MemoryCacheStore(maxBytes: 5_000)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<2_000 {
            let name = key(params: "[\(index % 300)]")
            store.store(name, entry(filling: Int.random(in: 0...400, using: &generator), under: name))
            #expect(store.bytes <= 5_000)
        }
        let newest = key(params: "[\(1_999 % 300)]")
        #expect(store.entry(for: newest) != nil)
        let statistics = try await store.statistics(chain: nil)
        #expect(statistics.bytes == store.bytes)
        #expect(statistics.entries == store.count)
    }

    @Test func aZeroOrNegativeBoundStoresNothing() async throws {
        for bound in [0, -5] {
            let store = MemoryCacheStore(maxBytes: bound)
            try await store.put(key(), entry("x"))
            #expect(try await store.get(key()) == nil)
            #expect(store.bytes == 0)
        }
    }

    @Test func statisticsAddUpEntriesBytesAndCountersPerChainAndMethod() async throws {
        let store = MemoryCacheStore(maxBytes: 100_000)
        let blocks = [key("1", "eth_getBlockByNumber", "[1]"), key("1", "eth_getBlockByNumber", "[2]")]
        let receipt = key("1", "eth_getTransactionReceipt", "[\"0xab\"]")
        let other = key("137", "eth_getBlockByNumber", "[1]")
        for name in blocks + [receipt, other] {
            try await store.put(name, entry(filling: 100, under: name))
        }
        try await store.addCounters([
            CacheCounterKey(chain: "1", method: "eth_getBlockByNumber"): CacheCounters(hits: 3, misses: 1),
            CacheCounterKey(chain: "1", method: "eth_chainId"): CacheCounters(hits: 5),
        ])
        try await store.addCounters([
            CacheCounterKey(chain: "1", method: "eth_getBlockByNumber"): CacheCounters(hits: 3, misses: 1, stale: 2),
        ])

        let all = try await store.statistics(chain: nil)
        #expect(all.entries == 4)
        #expect(all.bytes == 400)
        #expect(all.methods.map { "\($0.chain)/\($0.method)" } == [
            "1/eth_chainId", "1/eth_getBlockByNumber", "1/eth_getTransactionReceipt", "137/eth_getBlockByNumber",
        ])
        let blockStats = try #require(all.methods.first { $0.chain == "1" && $0.method == "eth_getBlockByNumber" })
        #expect(blockStats.entries == 2)
        #expect(blockStats.bytes == 200)
        #expect(blockStats.counters == CacheCounters(hits: 6, misses: 2, stale: 2))
        #expect(blockStats.hitRatio == 0.75)
        let chainIdStats = try #require(all.methods.first { $0.method == "eth_chainId" })
        #expect(chainIdStats.entries == 0)
        #expect(chainIdStats.hitRatio == 1)
        #expect(all.methods.first { $0.method == "eth_getTransactionReceipt" }?.hitRatio == nil)

        let polygon = try await store.statistics(chain: "137")
        #expect(polygon.methods.map(\.chain) == ["137"])
        #expect(polygon.entries == 1)
        #expect(polygon.bytes == 100)
    }

    @Test func purgeRemovesEntriesAndCountersOfAChainOrAMethod() async throws {
        let store = MemoryCacheStore(maxBytes: 100_000)
        let names = [
            key("1", "eth_getBlockByNumber", "[1]"), key("1", "eth_getBlockByNumber", "[2]"),
            key("1", "eth_getLogs", "[{}]"), key("137", "eth_getBlockByNumber", "[1]"), key("137", "eth_getLogs", "[{}]"),
        ]
        for name in names {
            try await store.put(name, entry("answer"))
        }
        try await store.addCounters([
            CacheCounterKey(chain: "1", method: "eth_getLogs"): CacheCounters(hits: 1),
            CacheCounterKey(chain: "137", method: "eth_getLogs"): CacheCounters(hits: 1),
            CacheCounterKey(chain: "137", method: "eth_getBlockByNumber"): CacheCounters(misses: 1),
        ])

        #expect(try await store.purge(chain: nil, method: "eth_getLogs") == 2)
        #expect(try await store.get(names[2]) == nil)
        #expect(try await store.get(names[4]) == nil)
        #expect(try await store.get(names[0]) != nil)
        var remaining = try await store.statistics(chain: nil)
        #expect(remaining.methods.allSatisfy { $0.method == "eth_getBlockByNumber" })

        #expect(try await store.purge(chain: "137", method: nil) == 1)
        remaining = try await store.statistics(chain: nil)
        #expect(remaining.methods.map(\.chain) == ["1"])
        #expect(remaining.entries == 2)

        #expect(try await store.purge(chain: "1", method: "eth_getBlockByNumber") == 2)
        #expect(try await store.purge(chain: nil, method: nil) == 0)
        #expect(try await store.statistics(chain: nil).methods.isEmpty)
    }

    @Test func removeAllDropsEntriesButKeepsCounters() async throws {
        let store = MemoryCacheStore(maxBytes: 10_000)
        try await store.put(key(), entry("answer"))
        try await store.addCounters([CacheCounterKey(chain: "1", method: "eth_getBlockByNumber"): CacheCounters(hits: 2)])
        store.removeAll()

        #expect(try await store.get(key()) == nil)
        let statistics = try await store.statistics(chain: nil)
        #expect(statistics.entries == 0)
        #expect(statistics.methods.first?.counters.hits == 2)
        try await store.put(key(), entry("again"))
        #expect(try await store.get(key()) == entry("again"))
    }

    @Test func aClosedStoreThrowsClosedAndItsSynchronousAccessMisses() async throws {
        let store = MemoryCacheStore(maxBytes: 10_000)
        try await store.put(key(), entry("answer"))
        await store.close()

        await #expect(throws: CacheStoreError.self) { try await store.get(key()) }
        do {
            try await store.put(key(), entry("again"))
            Issue.record("put after close succeeded")
        } catch let error as CacheStoreError {
            #expect(error.kind == .closed)
        }
        await #expect(throws: CacheStoreError.self) { try await store.statistics(chain: nil) }
        await #expect(throws: CacheStoreError.self) { try await store.purge(chain: nil, method: nil) }
        await #expect(throws: CacheStoreError.self) { try await store.addCounters([:]) }
        #expect(store.entry(for: key()) == nil)
        store.store(key(), entry("ignored"))
        #expect(store.count == 0)
        await store.close()
    }

    @Test func concurrentGetsAndPutsStayConsistent() async throws {
        let store = MemoryCacheStore(maxBytes: 1_000_000)
        let shared = key(params: "[shared]")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<500 {
                        let own = key("\(worker)", "eth_getBalance", "[\(index)]")
                        let answer = entry("\(worker)-\(index)")
                        try await store.put(own, answer)
                        #expect(try await store.get(own) == answer)
                        try await store.put(shared, entry("shared-\(worker)"))
                        let seen = try #require(try await store.get(shared))
                        #expect(String(decoding: seen.value, as: UTF8.self).hasPrefix("shared-"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let statistics = try await store.statistics(chain: nil)
        #expect(statistics.entries == 8 * 500 + 1)
        #expect(statistics.bytes == store.bytes)
    }
}

@Suite("LRUTable")
struct LRUTableTests {
    @Test func readsAndWritesMoveAnEntryToTheFrontAndRemovedSlotsAreReused() {
        var table = LRUTable(maxBytes: 1_000)
        let names = (0..<4).map { key(params: "[\($0)]") }
        for name in names {
            table.store(name, entry("v"))
        }
        #expect(table.keysByRecency == names.reversed())
        _ = table.entry(for: names[0])
        table.store(names[2], entry("w"))
        #expect(table.keysByRecency == [names[2], names[0], names[3], names[1]])
        #expect(table.peek(names[1]) == entry("v"))
        #expect(table.keysByRecency.last == names[1])

        let removed = table.remove(names[0])
        let removedAgain = table.remove(names[0])
        #expect(removed && !removedAgain)
        #expect(table.keysByRecency == [names[2], names[3], names[1]])
        table.store(names[0], entry("again"))
        #expect(table.keysByRecency == [names[0], names[2], names[3], names[1]])
        #expect(table.count == 4)
        #expect(table.bytes == names.reduce(0) { $0 + $1.byteCount } + 3 + "again".utf8.count)
    }
}
