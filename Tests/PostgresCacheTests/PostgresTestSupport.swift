import Cache
import Foundation
import Logging
import PostgresCache
import PostgresTesting
import Synchronization
import Testing

/// Whether the suites that need a real PostgreSQL server run: always when it is installed; when it
/// is not, they are skipped with a visible reason, unless BULWARK_REQUIRE_POSTGRES=1 (CI) makes
/// them run and fail with the installation hint.
enum PostgresRequirement {
    static var required: Bool { ProcessInfo.processInfo.environment["BULWARK_REQUIRE_POSTGRES"] == "1" }
    static var shouldRun: Bool { required || PostgresServer.isInstalled }
    static let skipReason: Comment =
        "PostgreSQL is not installed (apt-get install postgresql); set BULWARK_REQUIRE_POSTGRES=1 to fail instead of skipping"
}

/// One throwaway PostgreSQL server around a whole suite (`@Suite(.postgresServer)`); the suite's
/// tests find it in `PostgresServerScope.current`.
struct PostgresServerScope: SuiteTrait, TestScoping {
    @TaskLocal static var current: PostgresServer?

    var isRecursive: Bool { false }

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await PostgresServer.start()
        do {
            try await Self.$current.withValue(server) {
                try await function()
            }
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    /// The suite's server.
    static func server() throws -> PostgresServer {
        try #require(current, "the suite needs the .postgresServer trait")
    }
}

extension Trait where Self == PostgresServerScope {
    static var postgresServer: Self { PostgresServerScope() }
}

/// A logger whose messages the test can read, to check what an operator would see.
final class LogRecorder: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: String
    }

    private let lines = Mutex<[Line]>([])

    var recorded: [Line] { lines.withLock { $0 } }

    func logger(label: String = "bulwark.cache.test") -> Logger {
        var logger = Logger(label: label) { _ in Handler(recorder: self) }
        logger.logLevel = .debug
        return logger
    }

    func count(_ level: Logger.Level, containing text: String) -> Int {
        recorded.filter { $0.level == level && $0.message.contains(text) }.count
    }

    fileprivate func append(_ line: Line) {
        lines.withLock { $0.append(line) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append(Line(level: event.level, message: event.message.description, metadata: "\(merged)"))
        }
    }
}

/// A fresh database on the suite's server, so that tests running in parallel do not see each
/// other's entries. Without TLS: each store would otherwise build TLS contexts (trust roots loaded
/// on Swift's cooperative threads, tens of milliseconds each), and a dozen stores doing that at
/// once starve the timers of the suite that measures outage latency in parallel.
func makeDatabase(_ server: PostgresServer) async throws -> String {
    let name = "test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "_"))"
    return try await server.createDatabase(name) + "?sslmode=disable"
}

/// Options for tests of what the store does rather than how fast: a get timeout that a loaded
/// 2-core machine running every suite at once cannot hit by accident. (The outage tests use the defaults.)
func relaxedOptions() -> PostgresCacheStore.Options {
    var options = PostgresCacheStore.Options()
    options.getTimeout = .seconds(5)
    options.writeTimeout = .seconds(5)
    options.adminTimeout = .seconds(10)
    return options
}

/// A store connected to `url`; fails the test if it does not connect within 10 s.
func makeStore(
    url: String,
    recorder: LogRecorder = LogRecorder(),
    maxBytes: Int = 1 << 30,
    options: PostgresCacheStore.Options = relaxedOptions()
) async throws -> PostgresCacheStore {
    let store = try PostgresCacheStore(url: url, logger: recorder.logger(), maxBytes: maxBytes, options: options)
    let connected = await store.waitUntilAvailable(timeout: .seconds(10))
    #expect(connected, "the store did not connect to \(url) within 10 s")
    return store
}

func key(_ method: String, _ params: String, chain: String = "evm:1") -> CacheKey {
    CacheKey(chain: chain, method: method, params: params)
}

/// An `eth_getBlockByNumber` key.
func key(_ params: String, chain: String = "evm:1") -> CacheKey {
    key("eth_getBlockByNumber", params, chain: chain)
}

func entry(_ text: String, at storedAt: Int64 = 1_700_000_000_000) -> CacheEntry {
    CacheEntry(value: Array(text.utf8), storedAt: storedAt)
}

/// Milliseconds `body` took.
func milliseconds(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    let elapsed = start.duration(to: clock.now)
    return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
}
