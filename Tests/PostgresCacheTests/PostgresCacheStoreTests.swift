import Cache
import PostgresCache
import PostgresTesting
import Testing

/// The store against a real PostgreSQL server; each test has its own database on the suite's server.
@Suite(
    "PostgresCacheStore",
    .enabled(if: PostgresRequirement.shouldRun, PostgresRequirement.skipReason),
    .postgresServer
)
struct PostgresCacheStoreTests {
    @Test("an entry put is read back, by this store at once and by a new store once flushed")
    func roundTrip() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        let writer = try await makeStore(url: url)
        let binary = CacheEntry(value: [0, 255, 10, 13, 0x22, 0x5C] + Array(repeating: 0xAB, count: 1 << 20), storedAt: 1_700_000_000_123)
        #expect(try await writer.get(key("[\"0x1\",false]")) == nil)

        try await writer.put(key("[\"0x1\",false]"), entry("{\"number\":\"0x1\"}"))
        try await writer.put(key("eth_getProof", "[\"0xabc\"]"), binary)
        #expect(try await writer.get(key("[\"0x1\",false]")) == entry("{\"number\":\"0x1\"}"))
        try await writer.flush()

        let reader = try await makeStore(url: url)
        #expect(try await reader.get(key("[\"0x1\",false]")) == entry("{\"number\":\"0x1\"}"))
        #expect(try await reader.get(key("eth_getProof", "[\"0xabc\"]")) == binary)
        #expect(try await reader.get(key("[\"0x2\",false]")) == nil)
        #expect(try await reader.get(key("[\"0x1\",false]", chain: "evm:10")) == nil)
        #expect(reader.kind == "postgres")
        await writer.close()
        await reader.close()
    }

    @Test("a second put of a key replaces the first, in the database too")
    func upsertReplaces() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        let store = try await makeStore(url: url)
        let k = key("[\"0x10\",true]")
        try await store.put(k, entry("first answer, longer than the second", at: 1))
        try await store.flush()
        try await store.put(k, entry("second", at: 2))
        try await store.flush()

        let other = try await makeStore(url: url)
        #expect(try await other.get(k) == entry("second", at: 2))
        let statistics = try await other.statistics(chain: nil)
        #expect(statistics.entries == 1)
        #expect(statistics.bytes == k.byteCount + "second".utf8.count)
        await store.close()
        await other.close()
    }

    @Test("two stores on one database see each other's entries and add up their counters")
    func storesShareEntriesAndCounters() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        let first = try await makeStore(url: url)
        let second = try await makeStore(url: url)

        try await first.put(key("[\"0xa\"]"), entry("from the first gateway"))
        try await second.put(key("[\"0xb\"]"), entry("from the second gateway"))
        let counterKey = CacheCounterKey(chain: "evm:1", method: "eth_getBlockByNumber")
        try await first.addCounters([counterKey: CacheCounters(hits: 3, misses: 1)])
        try await second.addCounters([counterKey: CacheCounters(hits: 2, misses: 1, stale: 1)])
        try await first.addCounters([counterKey: CacheCounters(hits: 1)])
        try await first.flush()
        try await second.flush()

        #expect(try await first.get(key("[\"0xb\"]")) == entry("from the second gateway"))
        #expect(try await second.get(key("[\"0xa\"]")) == entry("from the first gateway"))
        for store in [first, second] {
            let statistics = try await store.statistics(chain: "evm:1")
            let method = try #require(statistics.methods.first { $0.method == "eth_getBlockByNumber" })
            #expect(method.entries == 2)
            #expect(method.counters == CacheCounters(hits: 6, misses: 2, stale: 1))
            #expect(method.hitRatio == 0.75)
        }
        await first.close()
        await second.close()
    }

    @Test("statistics per chain and method, and purge by chain, by method and of everything")
    func statisticsAndPurge() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        let store = try await makeStore(url: url)
        for block in 0..<5 {
            try await store.put(key("[\"0x\(block)\",false]"), entry("block \(block)"))
        }
        for block in 0..<3 {
            try await store.put(key("eth_getBlockReceipts", "[\"0x\(block)\"]"), entry("receipts \(block)"))
        }
        try await store.put(key("[\"0x1\",false]", chain: "evm:10"), entry("optimism block"))
        try await store.addCounters([
            CacheCounterKey(chain: "evm:1", method: "eth_getBlockByNumber"): CacheCounters(hits: 4, misses: 5),
            CacheCounterKey(chain: "evm:10", method: "eth_getBlockByNumber"): CacheCounters(misses: 1),
            CacheCounterKey(chain: "evm:1", method: "eth_call"): CacheCounters(misses: 7),
        ])

        // statistics flushes this store's queued writes first.
        let all = try await store.statistics(chain: nil)
        #expect(all.methods.map { "\($0.chain) \($0.method)" } == [
            "evm:1 eth_call", "evm:1 eth_getBlockByNumber", "evm:1 eth_getBlockReceipts", "evm:10 eth_getBlockByNumber",
        ])
        #expect(all.entries == 9)
        let blocks = try #require(all.methods.first { $0.chain == "evm:1" && $0.method == "eth_getBlockByNumber" })
        #expect(blocks.entries == 5)
        #expect(blocks.bytes == (0..<5).reduce(0) { $0 + key("[\"0x\($1)\",false]").byteCount + "block \($1)".utf8.count })
        #expect(blocks.counters == CacheCounters(hits: 4, misses: 5))
        let calls = try #require(all.methods.first { $0.method == "eth_call" })
        #expect(calls.entries == 0 && calls.counters.misses == 7)
        #expect(try await store.statistics(chain: "evm:10").methods.map(\.entries) == [1])

        #expect(try await store.purge(chain: "evm:1", method: "eth_getBlockReceipts") == 3)
        #expect(try await store.get(key("eth_getBlockReceipts", "[\"0x1\"]")) == nil)
        #expect(try await store.get(key("[\"0x1\",false]")) == entry("block 1"))
        #expect(try await store.purge(chain: "evm:10", method: nil) == 1)
        #expect(try await store.statistics(chain: "evm:10").methods.isEmpty)
        #expect(try await store.purge(chain: nil, method: nil) == 5)
        #expect(try await store.statistics(chain: nil).methods.isEmpty)
        #expect(try await store.get(key("[\"0x1\",false]")) == nil)
        await store.close()
    }

    @Test("the size bound deletes the oldest entries, periodically")
    func sizeBoundEvictsOldest() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        var options = relaxedOptions()
        options.evictionInterval = .milliseconds(100)
        let maxBytes = 20_000
        let store = try await makeStore(url: url, maxBytes: maxBytes, options: options)
        let value = String(repeating: "x", count: 480)
        for block in 0..<100 {
            try await store.put(key("[\"0x\(block)\"]"), entry(value, at: Int64(1_000 + block)))
        }
        try await store.flush()

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        var bytes = Int.max
        while clock.now < deadline {
            bytes = try await store.statistics(chain: nil).bytes
            if bytes <= maxBytes { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(bytes <= maxBytes, "still \(bytes) bytes after 10 s with a bound of \(maxBytes)")
        #expect(bytes >= maxBytes / 2, "evicted far more than needed: \(bytes) bytes left")
        #expect(try await store.get(key("[\"0x99\"]")) != nil, "the newest entry was evicted")
        #expect(try await store.get(key("[\"0x0\"]")) == nil, "the oldest entry survived")
        #expect(try await store.enforceSizeBound() == 0)
        await store.close()
    }

    @Test("several gateways starting at once on an empty database all create the schema and work")
    func concurrentSchemaCreation() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        let stores = try (0..<4).map { _ in try PostgresCacheStore(url: url, logger: LogRecorder().logger(), options: relaxedOptions()) }
        for (index, store) in stores.enumerated() {
            #expect(await store.waitUntilAvailable(timeout: .seconds(10)), "store \(index) did not connect")
            try await store.put(key("[\"0x\(index)\"]"), entry("from \(index)"))
            try await store.flush()
        }
        #expect(try await stores[0].statistics(chain: nil).entries == 4)
        for store in stores { await store.close() }
    }

    @Test("a write the database refuses is dropped, not retried forever ahead of the others")
    func refusedWriteIsDropped() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        var options = relaxedOptions()
        options.flushInterval = .seconds(3_600)  // only the explicit flushes below write
        let store = try await makeStore(url: url, options: options)
        try await store.put(key("[\"\u{0}\"]"), entry("PostgreSQL text cannot hold NUL"))
        do {
            try await store.flush()
            Issue.record("the database accepted a NUL character in a text column")
        } catch let error as CacheStoreError {
            #expect(error.kind == .other, "\(error)")
        }
        #expect(store.isAvailable, "a refused statement is not an outage")
        try await store.put(key("[\"0x1\"]"), entry("fine"))
        try await store.flush()
        #expect(try await store.statistics(chain: nil).entries == 1)
        await store.close()
    }

    @Test("after close, calls throw .closed")
    func closedStoreThrows() async throws {
        let url = try await makeDatabase(PostgresServerScope.server())
        let store = try await makeStore(url: url)
        try await store.put(key("[\"0x1\"]"), entry("written by close"))
        await store.close()
        #expect(!store.isAvailable)
        await #expect(throws: CacheStoreError.self) { try await store.get(key("[\"0x1\"]")) }
        do {
            try await store.put(key("[\"0x2\"]"), entry("too late"))
            Issue.record("put after close succeeded")
        } catch let error as CacheStoreError {
            #expect(error.kind == .closed)
        }
        // close() flushed the queued entry.
        let reader = try await makeStore(url: url)
        #expect(try await reader.get(key("[\"0x1\"]")) == entry("written by close"))
        await reader.close()
    }
}
