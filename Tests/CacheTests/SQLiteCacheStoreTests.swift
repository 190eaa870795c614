import Foundation
import Logging
import Testing
@testable import Cache

@Suite("SQLiteCacheStore")
struct SQLiteCacheStoreTests {
    static let logger = Logger(label: "bulwark.cache.tests")

    /// Writes wait in memory until `close()` (or a statistics or purge call) with this tuning.
    static let neverFlushing = SQLiteCacheStore.Tuning(flushInterval: .seconds(3_600), flushBatchSize: .max)

    func open(_ path: String, maxBytes: Int = 1_000_000, tuning: SQLiteCacheStore.Tuning = .init()) throws -> SQLiteCacheStore {
        try SQLiteCacheStore(path: path, maxBytes: maxBytes, logger: Self.logger, tuning: tuning)
    }

    func openingError(_ path: String) -> CacheStoreError? {
        do {
            let store = try SQLiteCacheStore(path: path, maxBytes: 1_000, logger: Self.logger)
            Issue.record("opened \(path)")
            _ = store
            return nil
        } catch {
            return error
        }
    }

    @Test func anEntryComesBackAsStoredAndAPutReplacesIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try open(directory.path("cache.sqlite"))
        let block = entry(#"{"number":"0x1"}"#, storedAt: 42)
        try await store.put(key(), block)
        #expect(try await store.get(key()) == block)
        #expect(try await store.get(key(params: "[]")) == nil)

        try await store.put(key(), entry("replaced", storedAt: 43))
        _ = try await store.statistics(chain: nil) // flushes: the next read comes from the file
        #expect(try await store.get(key()) == entry("replaced", storedAt: 43))
        #expect(try await store.statistics(chain: nil).bytes == key().byteCount + "replaced".utf8.count)
        #expect(store.kind == "sqlite")
        await store.close()
    }

    @Test func aPutIsVisibleBeforeItIsFlushed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try open(directory.path("cache.sqlite"), tuning: Self.neverFlushing)
        try await store.put(key(), entry("answer"))

        #expect(store.pendingWriteCount == 1)
        #expect(try await store.get(key()) == entry("answer"))
        await store.close()
    }

    @Test func theBackgroundFlushWritesToTheFileWithoutClose() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("cache.sqlite")
        let store = try open(path)
        try await store.put(key(), entry("answer"))

        #expect(await eventually(timeout: .seconds(30)) { store.pendingWriteCount == 0 })
        // A second connection to the file (another gateway, or `bulwark cache stats`) sees it.
        let reader = try open(path)
        #expect(try await reader.get(key()) == entry("answer"))
        await reader.close()
        await store.close()
    }

    @Test func entriesAndCountersSurviveCloseAndReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("nested/dirs/cache.sqlite")
        let counterKey = CacheCounterKey(chain: "1", method: "eth_getBlockByNumber")
        do {
            let store = try open(path, tuning: Self.neverFlushing)
            try await store.put(key(), entry("answer", storedAt: 7))
            try await store.put(key(params: "[empty]"), CacheEntry(value: [], storedAt: 8))
            try await store.addCounters([counterKey: CacheCounters(hits: 2, misses: 1)])
            try await store.addCounters([counterKey: CacheCounters(hits: 1, stale: 4)])
            await store.close()
        }
        let reopened = try open(path)
        #expect(try await reopened.get(key()) == entry("answer", storedAt: 7))
        #expect(try await reopened.get(key(params: "[empty]")) == CacheEntry(value: [], storedAt: 8))
        let statistics = try await reopened.statistics(chain: "1")
        #expect(statistics.entries == 2)
        #expect(statistics.methods.first?.counters == CacheCounters(hits: 3, misses: 1, stale: 4))
        #expect(statistics.methods.first?.hitRatio == 0.75)
        await reopened.close()
    }

    @Test func theByteBoundHoldsOnDiskAfterManyPuts() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("cache.sqlite")
        let maxBytes = 20_000
        let store = try open(path, maxBytes: maxBytes, tuning: .init(flushBatchSize: 64))
        for index in 0..<3_000 {
            let name = key(params: "[\(index)]")
            try await store.put(name, entry(filling: 50 + index % 150, under: name))
        }
        let statistics = try await store.statistics(chain: nil)
        #expect(statistics.bytes <= maxBytes)
        #expect(statistics.bytes >= maxBytes / 2)
        #expect(try await store.get(key(params: "[2999]")) != nil)
        #expect(try await store.get(key(params: "[0]")) == nil)
        await store.close()

        let reopened = try open(path, maxBytes: maxBytes)
        #expect(try await reopened.statistics(chain: nil).bytes <= maxBytes)
        await reopened.close()
    }

    @Test func theLeastRecentlyReadEntryIsEvictedFirst() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let clock = ManualClock()
        var tuning = Self.neverFlushing
        tuning.now = { clock.now }
        // Three 100-byte entries fit; a fourth overflows and eviction frees down to 90 %: one entry.
        let store = try open(directory.path("cache.sqlite"), maxBytes: 350, tuning: tuning)
        let (a, b, c, d) = (key(params: "[a]"), key(params: "[b]"), key(params: "[c]"), key(params: "[d]"))
        for name in [a, b, c] {
            try await store.put(name, entry(filling: 100, under: name))
            clock.advance(byMilliseconds: 1)
        }
        _ = try await store.statistics(chain: nil) // on disk, so reads go to the file

        // `a` is the oldest write; read two minutes later, it becomes the most recently used.
        clock.advance(byMilliseconds: 120_000)
        #expect(try await store.get(a) != nil)
        try await store.put(d, entry(filling: 100, under: d))
        let statistics = try await store.statistics(chain: nil)

        #expect(try await store.get(b) == nil)
        #expect(try await store.get(a) != nil)
        #expect(try await store.get(c) != nil)
        #expect(try await store.get(d) != nil)
        #expect(statistics.entries == 3)
        #expect(statistics.bytes == 300)
        await store.close()
    }

    @Test func anEntryLargerThanTheBoundIsNotStoredAndReplacesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try open(directory.path("cache.sqlite"), maxBytes: 500)
        let small = key(params: "[small]")
        try await store.put(small, entry(filling: 400, under: small))
        try await store.put(key(), entry("old"))
        _ = try await store.statistics(chain: nil)
        try await store.put(key(), entry(filling: 501, under: key()))

        #expect(try await store.get(key()) == nil)
        let statistics = try await store.statistics(chain: nil)
        #expect(try await store.get(key()) == nil)
        #expect(try await store.get(small) != nil)
        #expect(statistics.bytes == 400)
        await store.close()
    }

    @Test func statisticsAndPurgeWorkByChainAndByMethod() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try open(directory.path("cache.sqlite"), tuning: Self.neverFlushing)
        let names = [
            key("1", "eth_getBlockByNumber", "[1]"), key("1", "eth_getBlockByNumber", "[2]"),
            key("1", "eth_getLogs", "[{}]"), key("137", "eth_getBlockByNumber", "[1]"), key("137", "eth_getLogs", "[{}]"),
        ]
        for name in names {
            try await store.put(name, entry(filling: 100, under: name))
        }
        try await store.addCounters([
            CacheCounterKey(chain: "1", method: "eth_getBlockByNumber"): CacheCounters(hits: 9, misses: 3),
            CacheCounterKey(chain: "1", method: "eth_chainId"): CacheCounters(hits: 1),
            CacheCounterKey(chain: "137", method: "eth_getLogs"): CacheCounters(misses: 1),
        ])

        let all = try await store.statistics(chain: nil)
        #expect(all.entries == 5)
        #expect(all.bytes == 500)
        #expect(all.methods.map { "\($0.chain)/\($0.method)" } == [
            "1/eth_chainId", "1/eth_getBlockByNumber", "1/eth_getLogs", "137/eth_getBlockByNumber", "137/eth_getLogs",
        ])
        let blocks = try #require(all.methods.first { $0.chain == "1" && $0.method == "eth_getBlockByNumber" })
        #expect(blocks.entries == 2)
        #expect(blocks.bytes == 200)
        #expect(blocks.hitRatio == 0.75)
        #expect(try await store.statistics(chain: "137").entries == 2)

        // Purging by method also drops writes still waiting in memory.
        try await store.put(key("1", "eth_getLogs", "[{\"late\":1}]"), entry("late"))
        #expect(try await store.purge(chain: nil, method: "eth_getLogs") == 3)
        #expect(try await store.get(names[2]) == nil)
        #expect(try await store.get(key("1", "eth_getLogs", "[{\"late\":1}]")) == nil)
        #expect(try await store.statistics(chain: nil).methods.allSatisfy { $0.method != "eth_getLogs" })

        #expect(try await store.purge(chain: "137", method: nil) == 1)
        let remaining = try await store.statistics(chain: nil)
        #expect(remaining.methods.map(\.chain) == ["1", "1"])
        #expect(remaining.entries == 2)
        #expect(try await store.purge(chain: nil, method: nil) == 2)
        #expect(try await store.statistics(chain: nil).methods.isEmpty)
        await store.close()
    }

    @Test func aFileThatIsNotADatabaseIsRefusedWithAClearError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("cache.sqlite")
        try Data(String(repeating: "definitely not SQLite\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))

        let error = try #require(openingError(path))
        #expect(error.kind == .incompatible)
        #expect(error.message.contains("not a SQLite database"))
        #expect(error.message.contains(path))
    }

    @Test func aCacheFromANewerVersionOrAnotherApplicationIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("cache.sqlite")
        try await open(path).close()

        // The schema version (`user_version`) is the big-endian word at offset 60 of the file header.
        try patchHeader(path, offset: 60, value: 99)
        let newer = try #require(openingError(path))
        #expect(newer.kind == .incompatible)
        #expect(newer.message.contains("schema version 99"))

        try patchHeader(path, offset: 60, value: 1)
        try await open(path).close()
        // `application_id` at offset 68.
        try patchHeader(path, offset: 68, value: 0x1234)
        let foreign = try #require(openingError(path))
        #expect(foreign.kind == .incompatible)
        #expect(foreign.message.contains("another application"))
    }

    @Test func aDirectoryInPlaceOfTheFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = try #require(openingError(directory.url.path))
        #expect(error.kind == .unavailable)
        #expect(error.message.contains("is a directory"))
        #expect(openingError("")?.kind == .other)
    }

    @Test func concurrentGetsAndPutsStayConsistent() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try open(directory.path("cache.sqlite"), maxBytes: 10_000_000, tuning: .init(flushInterval: .milliseconds(5)))
        let shared = key(params: "[shared]")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<200 {
                        let own = key("\(worker)", "eth_getBalance", "[\(index)]")
                        let answer = entry("\(worker)-\(index)")
                        try await store.put(own, answer)
                        #expect(try await store.get(own) == answer)
                        if index % 10 == 0 {
                            #expect(try await store.get(key("\(worker)", "eth_getBalance", "[\(index / 2)]")) != nil)
                        }
                        try await store.put(shared, entry("shared-\(worker)"))
                        let seen = try #require(try await store.get(shared))
                        #expect(String(decoding: seen.value, as: UTF8.self).hasPrefix("shared-"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let statistics = try await store.statistics(chain: nil)
        #expect(statistics.entries == 8 * 200 + 1)
        #expect(store.droppedWrites == 0)
        await store.close()
    }

    @Test func aFullWriteBufferDropsTheOldestWriteAndCountsIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var tuning = Self.neverFlushing
        tuning.pendingCapacity = 4
        let store = try open(directory.path("cache.sqlite"), tuning: tuning)
        for index in 0..<10 {
            try await store.put(key(params: "[\(index)]"), entry("\(index)"))
        }
        #expect(store.droppedWrites == 6)
        #expect(try await store.get(key(params: "[0]")) == nil)
        #expect(try await store.get(key(params: "[9]")) == entry("9"))
        #expect(try await store.statistics(chain: nil).entries == 4)
        await store.close()
    }

    @Test func aClosedStoreThrowsClosed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try open(directory.path("cache.sqlite"))
        await store.close()

        for operation in [
            { _ = try await store.get(key()) },
            { try await store.put(key(), entry("x")) },
            { try await store.addCounters([CacheCounterKey(chain: "1", method: "m"): CacheCounters(hits: 1)]) },
            { _ = try await store.statistics(chain: nil) },
            { _ = try await store.purge(chain: nil, method: nil) },
        ] as [@Sendable () async throws -> Void] {
            do {
                try await operation()
                Issue.record("an operation succeeded after close")
            } catch let error as CacheStoreError {
                #expect(error.kind == .closed)
            }
        }
        await store.close()
    }

    private func patchHeader(_ path: String, offset: UInt64, value: UInt32) throws {
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? file.close() }
        try file.seek(toOffset: offset)
        try file.write(contentsOf: withUnsafeBytes(of: value.bigEndian) { Data($0) })
    }
}

@Suite("PendingWrites")
struct PendingWritesTests {
    @Test func aWriteStaysVisibleUntilItsBatchCommitsAndALaterWriteSurvivesTheCommit() {
        var pending = PendingWrites(capacity: 10)
        pending.insert(key(params: "[a]"), entry("a1"), acceptedAt: 1)
        pending.insert(key(params: "[b]"), entry("b1"), acceptedAt: 1)
        let batch = pending.makeBatch()
        #expect(!pending.hasUnbatchedWrites)
        #expect(pending.write(for: key(params: "[a]"))?.entry == entry("a1"))

        pending.insert(key(params: "[a]"), entry("a2"), acceptedAt: 2)
        #expect(pending.hasUnbatchedWrites)
        pending.committed(batch)
        #expect(pending.count == 1)
        #expect(pending.write(for: key(params: "[a]"))?.entry == entry("a2"))
        #expect(pending.write(for: key(params: "[b]")) == nil)
    }

    @Test func aBatchListsWritesOldestFirst() {
        var pending = PendingWrites(capacity: 100)
        let names = (0..<20).map { key(params: "[\($0)]") }
        for name in names {
            pending.insert(name, entry("v1"), acceptedAt: 1)
        }
        pending.insert(names[0], entry("v2"), acceptedAt: 2)
        #expect(pending.makeBatch().map(\.key) == Array(names.dropFirst()) + [names[0]])
    }

    @Test func aFailedFlushPutsItsWritesInTheNextBatch() {
        var pending = PendingWrites(capacity: 10)
        pending.insert(key(), nil, acceptedAt: 1)
        #expect(pending.makeBatch().count == 1)
        #expect(!pending.hasUnbatchedWrites)
        pending.flushFailed()
        #expect(pending.hasUnbatchedWrites)
        #expect(pending.makeBatch().map(\.key) == [key()])
    }

    @Test func whenFullTheOldestLiveWriteIsDropped() {
        var pending = PendingWrites(capacity: 3)
        for name in ["a", "b", "c"] {
            pending.insert(key(params: "[\(name)]"), entry(name), acceptedAt: 1)
        }
        // Rewriting `a` makes `b` the oldest write.
        pending.insert(key(params: "[a]"), entry("a2"), acceptedAt: 2)
        pending.insert(key(params: "[d]"), entry("d"), acceptedAt: 3)
        #expect(pending.dropped == 1)
        #expect(pending.write(for: key(params: "[b]")) == nil)
        #expect(pending.count == 3)
        for _ in 0..<100 {
            pending.insert(key(params: "[a]"), entry("again"), acceptedAt: 4)
        }
        #expect(pending.dropped == 1)
        pending.insert(key(params: "[e]"), entry("e"), acceptedAt: 5)
        #expect(pending.write(for: key(params: "[c]")) == nil)
        #expect(pending.dropped == 2)
    }

    @Test func theByteBoundDropsAsManyOldWritesAsANewOneNeeds() {
        let names = (0..<4).map { key(params: "[\($0)]") }
        var pending = PendingWrites(capacity: 100, byteCapacity: 1_000)
        for name in names.prefix(3) {
            pending.insert(name, entry(filling: 300, under: name), acceptedAt: 1)
        }
        #expect(pending.bytes == 900)
        pending.insert(names[3], entry(filling: 500, under: names[3]), acceptedAt: 2)
        #expect(pending.dropped == 2)
        #expect(pending.write(for: names[0]) == nil && pending.write(for: names[1]) == nil)
        #expect(pending.bytes == 800)

        let batch = pending.makeBatch()
        pending.committed(batch)
        #expect(pending.isEmpty)
        #expect(pending.bytes == 0)
    }
}
