import Cache
import PostgresCache
import PostgresTesting
import Testing

/// The store while its database goes away and comes back. These tests stop and start the suite's
/// own server, so they run one at a time.
@Suite(
    "PostgresCacheStore outages",
    .serialized,
    .enabled(if: PostgresRequirement.shouldRun, PostgresRequirement.skipReason),
    .postgresServer
)
struct PostgresCacheOutageTests {
    @Test("database stopped mid-run: gets fail fast with .unavailable, puts return at once, one warning; back without a new store")
    func outageAndRecovery() async throws {
        let server = try PostgresServerScope.server()
        let url = try await server.createDatabase("outage")
        let recorder = LogRecorder()
        // The default options: this test measures their timeouts.
        let store = try await makeStore(url: url, recorder: recorder, options: PostgresCacheStore.Options())
        let cached = key("[\"0x1\",false]")
        try await store.put(cached, entry("before the outage"))
        // Setting up on a busy machine can take longer than the store's 1 s write timeout: retry a little.
        for attempt in 1...10 {
            do { try await store.flush(); break } catch where attempt < 10 { _ = await store.waitUntilAvailable(timeout: .seconds(5)) }
        }
        // Setup, not the outage: on a busy machine a read can miss the store's 250 ms read timeout too.
        var before: CacheEntry?
        for attempt in 1...10 {
            do {
                before = try await store.get(cached)
                break
            } catch where attempt < 10 { _ = await store.waitUntilAvailable(timeout: .seconds(5)) }
        }
        #expect(before == entry("before the outage"))
        #expect(store.isAvailable)

        // A busy machine can make setup itself time out once: count the outage's warnings only.
        let warningsBefore = recorder.count(.warning, containing: "unreachable")
        try await server.stop()

        var getMilliseconds: [Double] = []
        for call in 0..<50 {
            getMilliseconds.append(await milliseconds {
                do {
                    let answer = try await store.get(key("[\"0x\(call)\",true]"))
                    Issue.record("get \(call) answered \(String(describing: answer)) while the database was down")
                } catch let error as CacheStoreError {
                    #expect(error.kind == .unavailable, "get \(call): \(error)")
                } catch {
                    Issue.record("get \(call) threw \(error), not a CacheStoreError")
                }
            })
        }
        var putMilliseconds: [Double] = []
        for call in 0..<50 {
            putMilliseconds.append(await milliseconds {
                try? await store.put(key("[\"0x\(call)\",true]"), entry("during the outage"))
            })
        }
        let slowestGet = getMilliseconds.max() ?? 0
        let slowestPut = putMilliseconds.max() ?? 0
        print("PostgresCacheStore with its database down: slowest of 50 gets \(slowestGet) ms (first \(getMilliseconds[0]) ms, then median \(getMilliseconds.dropFirst().sorted()[24]) ms); slowest of 50 puts \(slowestPut) ms")
        #expect(slowestGet < 400, "a get took \(slowestGet) ms with the database down")
        #expect(getMilliseconds.dropFirst().allSatisfy { $0 < 20 }, "after the first failure, gets must not touch the network: \(getMilliseconds)")
        #expect(slowestPut < 20, "a put took \(slowestPut) ms with the database down")
        #expect(!store.isAvailable)
        #expect(recorder.count(.warning, containing: "unreachable") - warningsBefore == 1, "one warning per outage, got \(recorder.recorded.filter { $0.level == .warning }.map(\.message))")

        try await server.start()

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(40)
        var recovered: CacheEntry?
        while clock.now < deadline {
            if let answer = try? await store.get(cached) {
                recovered = answer
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            recovered == entry("before the outage"),
            "the store did not read from the database again within 40 s; its log:\n\(recorder.recorded.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n"))"
        )
        try await store.put(key("[\"0x2\",false]"), entry("after the outage"))
        try await store.flush()
        #expect(try await store.statistics(chain: nil).entries == 2)
        #expect(store.isAvailable)
        // Every outage logged once and ended once. On a busy machine a get can miss its 250 ms while
        // the restarted database warms up, which is a (short) outage of its own: count them, not calls.
        let outages = recorder.count(.warning, containing: "unreachable")
        #expect(outages >= 1 && outages <= 5, "one warning per outage, not per call: \(outages)")
        #expect(recorder.count(.info, containing: "cache store reachable again") == outages)
        #expect(!recorder.recorded.contains { $0.metadata.contains("password") || $0.message.contains("postgres://") })
        await store.close()
    }

    @Test("database down when the store is created: creation succeeds at once, calls fail fast, the schema is created when it comes")
    func startsWhileDatabaseIsDown() async throws {
        let server = try PostgresServerScope.server()
        let url = try await server.createDatabase("late")
        try await server.stop()

        let recorder = LogRecorder()
        var store: PostgresCacheStore?
        let creation = try await milliseconds {
            store = try PostgresCacheStore(url: url, logger: recorder.logger())
        }
        let lateStore = try #require(store)
        #expect(creation < 50, "creating the store took \(creation) ms")
        let firstGet = await milliseconds {
            await #expect(throws: CacheStoreError.self) { try await lateStore.get(key("[\"0x1\"]")) }
        }
        #expect(firstGet < 20)
        #expect(!lateStore.isAvailable)
        // The warning comes from the background probe: give it the time a busy machine may need.
        let warned = ContinuousClock.now
        while recorder.count(.warning, containing: "unreachable") == 0 && ContinuousClock.now - warned < .seconds(10) {
            try await Task.sleep(for: .milliseconds(20))
        }

        try await server.start()
        #expect(await lateStore.waitUntilAvailable(timeout: .seconds(40)), "did not connect within 40 s of the database starting")
        try await lateStore.put(key("[\"0x1\"]"), entry("first entry"))
        try await lateStore.flush()
        #expect(try await lateStore.statistics(chain: nil).entries == 1)
        // One warning for the outage (at startup, or from the first call if that came first on a busy machine).
        let warnings = recorder.count(.warning, containing: "unreachable")
        #expect(warnings >= 1 && warnings <= 2, "\(recorder.recorded.filter { $0.level == .warning }.map(\.message))")
        await lateStore.close()
    }
}
