import Cache
import PostgresTesting
import Synchronization
import Testing

@testable import PostgresCache

/// The parts that need no database: URL parsing, the availability state machine, the write-behind
/// buffer, the deadline, and the store against an address where nothing listens.
@Suite("PostgresCache without a database")
struct PostgresCacheUnitTests {
    // MARK: URL

    @Test("URLs parse into host, port, user, password and database")
    func parsesURLs() throws {
        let full = try PostgresConnectionURL("postgres://gateway:p%40ss@db.internal:6543/cache?sslmode=require")
        #expect(full.host == "db.internal")
        #expect(full.port == 6543)
        #expect(full.username == "gateway")
        #expect(full.password == "p@ss")
        #expect(full.database == "cache")
        #expect(full.tlsMode == .require)
        #expect(full.description == "postgres://gateway:***@db.internal:6543/cache")

        let minimal = try PostgresConnectionURL("postgresql://postgres@127.0.0.1/postgres")
        #expect(minimal.port == 5432)
        #expect(minimal.password == nil)
        #expect(minimal.tlsMode == .prefer)
        #expect(try PostgresConnectionURL("postgres://u@[::1]:5433/d").host == "::1")
    }

    @Test(
        "bad URLs throw a CacheStoreError that does not repeat the URL",
        arguments: [
            "mysql://user:hunter2@host/db",
            "postgres://:hunter2@host/db",
            "postgres://user:hunter2@/db",
            "postgres://user:hunter2@host",
            "postgres://user:hunter2@host:0/db",
            "postgres://user:hunter2@host/db?sslmode=maybe",
            "postgres://user:hunter2@host/db?pool=9",
            "not a url at all hunter2",
        ]
    )
    func rejectsBadURLs(_ url: String) {
        #expect {
            _ = try PostgresCacheStore(url: url, logger: LogRecorder().logger())
        } throws: { error in
            guard let error = error as? CacheStoreError else { return false }
            return error.message.contains("invalid PostgreSQL URL") && !error.message.contains("hunter2")
        }
    }

    // MARK: Availability

    @Test("an outage begins once, fails fast, probes after 1 s doubling to 30 s, and ends with one recovery")
    func availabilityStateMachine() {
        var availability = StoreAvailability<TestInstant>(backoff: OutageBackoff())
        let start = TestInstant()
        #expect(!availability.isAvailable)
        #expect(availability.probeDue(at: start))
        #expect(availability.probeSucceeded(at: start) == .connected)
        #expect(availability.isAvailable && !availability.probeDue(at: start))

        #expect(availability.operationFailed("refused", at: start + .seconds(10)) == .outageBegan(reason: "refused", atStartup: false))
        #expect(availability.operationFailed("refused again", at: start + .seconds(10)) == nil, "one warning per outage")
        #expect(availability.unavailableReason == "refused")
        #expect(!availability.probeDue(at: start + .milliseconds(10_999)))
        #expect(availability.probeDue(at: start + .seconds(11)))

        var now = start + .seconds(11)
        var waits: [Duration] = []
        for _ in 0..<7 {
            #expect(availability.probeFailed("still refused", at: now) == nil)
            var wait = Duration.zero
            while !availability.probeDue(at: now + wait) { wait += .milliseconds(500) }
            waits.append(wait)
            now = now + wait
        }
        #expect(waits == [.seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)])
        #expect(availability.probeSucceeded(at: now) == .recovered(after: start.duration(to: now) - .seconds(10)))
        #expect(availability.isAvailable)
    }

    @Test("a database that is down at startup is one outage, flagged as at startup")
    func unreachableAtStartup() {
        var availability = StoreAvailability<TestInstant>(backoff: OutageBackoff(initial: .milliseconds(100), maximum: .seconds(1)))
        let start = TestInstant()
        #expect(availability.probeFailed("refused", at: start) == .outageBegan(reason: "refused", atStartup: true))
        #expect(!availability.probeDue(at: start + .milliseconds(99)))
        #expect(availability.probeDue(at: start + .milliseconds(100)))
        #expect(availability.probeFailed("refused", at: start + .milliseconds(100)) == nil)
        #expect(availability.probeSucceeded(at: start + .seconds(1)) == .recovered(after: .seconds(1)))
    }

    // MARK: Write buffer

    @Test("the write buffer serves queued entries, is bounded, and keeps writes of one key in order")
    func writeBuffer() {
        let a = key("[\"a\"]"), b = key("[\"b\"]"), c = key("[\"c\"]"), d = key("[\"d\"]")
        var full = WriteBuffer(maxEntries: 3, maxBytes: 1_000)
        let filled = full.enqueue(a, entry("a1")) && full.enqueue(b, entry("b1")) && full.enqueue(c, entry("c1"))
        #expect(filled)
        let fourth = full.enqueue(d, entry("d1"))
        #expect(!fourth, "a fourth key exceeds maxEntries")
        let replaced = full.enqueue(a, entry("a2"))
        #expect(replaced, "replacing a queued key takes no room")
        #expect(full.lookup(a) == entry("a2"))
        _ = full.takeBatch(limit: 10)
        let whileInFlight = full.enqueue(d, entry("d1"))
        #expect(!whileInFlight, "entries in flight count against the bound")

        var buffer = WriteBuffer(maxEntries: 100, maxBytes: 1_000)
        _ = buffer.enqueue(a, entry("a2"))
        _ = buffer.enqueue(b, entry("b1"))
        _ = buffer.enqueue(c, entry("c1"))
        let first = buffer.takeBatch(limit: 10)
        #expect(first.entries.map(\.key) == [a, b, c], "sorted by key")
        #expect(buffer.lookup(b) == entry("b1"), "in flight is still visible")
        let newer = buffer.enqueue(a, entry("a3"))
        #expect(newer)
        let heldBack = buffer.takeBatch(limit: 10)
        #expect(heldBack.entries.isEmpty, "a3 waits until a2 is written")
        buffer.batchFailed(first)
        #expect(buffer.lookup(a) == entry("a3"), "a failed older write does not replace a newer one")
        #expect(buffer.lookup(b) == entry("b1"))
        let second = buffer.takeBatch(limit: 10)
        #expect(second.entries.map(\.entry) == [entry("a3"), entry("b1"), entry("c1")])
        buffer.batchWritten(second)
        #expect(buffer.isEmpty && buffer.bytes == 0)

        var small = WriteBuffer(maxEntries: 100, maxBytes: 50)
        let oversized = small.enqueue(a, entry(String(repeating: "x", count: 60)))
        #expect(!oversized, "bounded by bytes too")
    }

    @Test("counter increments add up, survive a failed write, and purge drops matching ones")
    func bufferedCounters() {
        var buffer = WriteBuffer(maxEntries: 10, maxBytes: 1_000, maxCounterKeys: 2)
        let blocks = CacheCounterKey(chain: "evm:1", method: "eth_getBlockByNumber")
        let calls = CacheCounterKey(chain: "evm:1", method: "eth_call")
        buffer.addCounters([blocks: CacheCounters(hits: 1)])
        buffer.addCounters([blocks: CacheCounters(hits: 2, misses: 1), calls: CacheCounters(stale: 1)])
        buffer.addCounters([CacheCounterKey(chain: "evm:10", method: "eth_call"): CacheCounters(hits: 1)])
        let taken = buffer.takeCounters()
        #expect(taken == [blocks: CacheCounters(hits: 3, misses: 1), calls: CacheCounters(stale: 1)])
        #expect(buffer.isEmpty)
        buffer.addCounters(taken)
        _ = buffer.enqueue(key("[\"x\"]"), entry("x"))
        let purged = buffer.purge(chain: "evm:1", method: "eth_getBlockByNumber")
        #expect(purged == 1)
        let left = buffer.takeCounters()
        #expect(left == [calls: CacheCounters(stale: 1)])
    }

    // MARK: Deadline

    @Test("withDeadline gives up on an operation that ignores cancellation, without waiting for it")
    func deadlineIsHard() async throws {
        // Judged by order, not by a stopwatch: the operation cannot finish before the test releases
        // it, so returning at all proves that withDeadline did not wait (timers on a machine busy
        // with every other suite can be late by seconds).
        let released = Flag(), finished = Flag()
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50)) {
                let clock = ContinuousClock()
                let end = clock.now + .seconds(30)
                while !released.isSet, clock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
                finished.set()
                return 1
            }
        }
        #expect(!finished.isSet, "withDeadline waited for the operation")
        released.set()
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
    }

    // MARK: Store without a database

    @Test("nothing listening: creation is immediate, calls fail fast with .unavailable, one warning, no password anywhere")
    func unreachableAddressKeepsPasswordSecret() async throws {
        let recorder = LogRecorder()
        // Port 1 on loopback: connection refused.
        let store = try PostgresCacheStore(url: "postgres://bulwark:s3cret-pw@127.0.0.1:1/cache", logger: recorder.logger())
        #expect(await !store.waitUntilAvailable(timeout: .milliseconds(300)))
        // Until the first probe fails the store is connecting (puts queue); then it is in an outage.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while recorder.count(.warning, containing: "unreachable at startup") == 0, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        var messages: [String] = []
        for call in 0..<20 {
            let elapsed = await milliseconds {
                do {
                    _ = try await store.get(key("[\"0x\(call)\"]"))
                    Issue.record("get answered with nothing listening")
                } catch let error as CacheStoreError {
                    #expect(error.kind == .unavailable)
                    messages.append(error.message)
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
            #expect(elapsed < 20)
        }
        let rejected = await milliseconds {
            await #expect(throws: CacheStoreError.self) { try await store.put(key("[]"), entry("x")) }
            await #expect(throws: CacheStoreError.self) { try await store.statistics(chain: nil) }
            await #expect(throws: CacheStoreError.self) { try await store.purge(chain: nil, method: nil) }
        }
        #expect(rejected < 20, "put, statistics and purge must fail at once during an outage")
        let everything = messages + recorder.recorded.map { "\($0.message) \($0.metadata)" }
        #expect(!everything.contains { $0.contains("s3cret") }, "the password leaked: \(everything)")
        #expect(recorder.count(.warning, containing: "unreachable at startup") == 1)
        await store.close()
    }

    // MARK: Test server

    @Test("PostgresServer names the package to install when PostgreSQL is missing")
    func missingPostgresSaysWhatToInstall() async {
        await #expect {
            _ = try await PostgresServer.start(searchPaths: ["/nonexistent/bin"])
        } throws: { error in
            "\(error)".contains("apt-get install postgresql")
        }
    }
}

/// A manual instant for the state machine: tests move time, nothing sleeps.
struct TestInstant: InstantProtocol {
    var offset: Duration = .zero

    func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
    func duration(to other: TestInstant) -> Duration { other.offset - offset }
    static func < (lhs: TestInstant, rhs: TestInstant) -> Bool { lhs.offset < rhs.offset }
    static func + (lhs: TestInstant, rhs: Duration) -> TestInstant { lhs.advanced(by: rhs) }
}

/// A flag tasks can share.
final class Flag: Sendable {
    private let value = Mutex(false)

    var isSet: Bool { value.withLock { $0 } }

    func set() { value.withLock { $0 = true } }
}
