import Cache
import Logging
import PostgresNIO
import Synchronization

/// Everything behind `PostgresCacheStore`: the shared state under one mutex (availability, the
/// write-behind buffer, the current client) and the background loops. Separate from the public
/// class so that the background task does not keep the store alive.
final class StoreCore: Sendable {
    private struct Shared {
        var availability: StoreAvailability<ContinuousClock.Instant>
        var buffer: WriteBuffer
        /// The client of the current connected period; nil while connecting or unavailable.
        var client: PostgresClient?
        var closed = false
    }

    /// What a call may do, decided under the lock.
    private enum Gate<Value> {
        case answer(Value)
        case query(PostgresClient)
    }

    let connection: PostgresConnectionURL
    let logger: Logger
    let maxBytes: Int
    let options: PostgresCacheStore.Options
    private let clock = ContinuousClock()
    private let shared: Mutex<Shared>
    private let probeTLSContext = Mutex<NIOSSLContext?>(nil)

    init(connection: PostgresConnectionURL, logger: Logger, maxBytes: Int, options: PostgresCacheStore.Options) {
        self.connection = connection
        self.logger = logger
        self.maxBytes = maxBytes
        self.options = options
        self.shared = Mutex(
            Shared(
                availability: StoreAvailability(backoff: options.backoff),
                buffer: WriteBuffer(maxEntries: options.writeBufferEntries, maxBytes: options.writeBufferBytes)
            )
        )
    }

    var isAvailable: Bool {
        shared.withLock { !$0.closed && $0.availability.isAvailable }
    }

    // MARK: - Calls

    func get(_ key: CacheKey) async throws -> CacheEntry? {
        let gate = try shared.withLock { shared throws(CacheStoreError) -> Gate<CacheEntry?> in
            try Self.checkOpen(shared)
            if let queued = shared.buffer.lookup(key) { return .answer(queued) }
            return .query(try Self.availableClient(shared))
        }
        switch gate {
        case .answer(let entry):
            return entry
        case .query(let client):
            let logger = self.logger
            return try await attempt(client, timeout: options.getTimeout) { client in
                try await CacheTables.fetch(key, client, logger: logger)
            }
        }
    }

    func put(_ key: CacheKey, _ entry: CacheEntry) throws {
        try shared.withLock { shared throws(CacheStoreError) in
            try Self.checkOpen(shared)
            // While connecting, writes queue up for the first flush; during an outage they are refused.
            if case .unavailable(let outage) = shared.availability.phase {
                throw CacheStoreError(.unavailable, "PostgreSQL cache unavailable: \(outage.reason)")
            }
            guard shared.buffer.enqueue(key, entry) else {
                throw CacheStoreError(
                    .unavailable,
                    "PostgreSQL cache write queue is full (\(shared.buffer.pendingEntries + shared.buffer.inFlightEntries) entries waiting)"
                )
            }
        }
    }

    func addCounters(_ counters: [CacheCounterKey: CacheCounters]) throws {
        try shared.withLock { shared throws(CacheStoreError) in
            try Self.checkOpen(shared)
            shared.buffer.addCounters(counters)
        }
    }

    func statistics(chain: String?) async throws -> CacheStatistics {
        let deadline = clock.now + options.adminTimeout
        try await flush(until: deadline)
        let client = try await connectedClient(until: deadline)
        let logger = self.logger
        return try await attempt(client, timeout: clock.now.duration(to: deadline)) { client in
            try await CacheTables.statistics(chain: chain, client, logger: logger)
        }
    }

    func purge(chain: String?, method: String?) async throws -> Int {
        let deadline = clock.now + options.adminTimeout
        try await flush(until: deadline)
        let client = try await connectedClient(until: deadline)
        // Entries queued since the flush above would otherwise land after the delete.
        let dropped = shared.withLock { $0.buffer.purge(chain: chain, method: method) }
        let logger = self.logger
        let deleted = try await attempt(client, timeout: clock.now.duration(to: deadline)) { client in
            try await CacheTables.purge(chain: chain, method: method, client, logger: logger)
        }
        return deleted + dropped
    }

    func flush() async throws {
        try await flush(until: clock.now + options.writeTimeout)
    }

    func enforceSizeBound() async throws -> Int {
        let client = try await connectedClient(until: clock.now + options.adminTimeout)
        return try await evict(client)
    }

    func waitUntilAvailable(timeout: Duration) async -> Bool {
        let deadline = clock.now + timeout
        while !isAvailable {
            guard clock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    func close() async {
        let wasOpen = shared.withLock { shared -> Bool in
            defer { shared.closed = true }
            return !shared.closed
        }
        guard wasOpen else { return }
        do {
            try await writeQueued(until: clock.now + options.writeTimeout)
        } catch {
            let waiting = shared.withLock { $0.buffer.pendingEntries + $0.buffer.inFlightEntries }
            if waiting > 0 {
                logger.info("cache store closed with unwritten entries", metadata: ["cache.entries": "\(waiting)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Background work

    /// The store's background work, until cancelled: the connection supervisor and the flusher.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.supervise() }
            group.addTask { await self.flushPeriodically() }
        }
    }

    /// Connected periods, one after the other: each gets a fresh client (a fresh pool, so recovery
    /// follows this store's backoff rather than the pool's own reconnect schedule), is opened by a
    /// successful probe (schema creation) and ends with the first outage.
    private func supervise() async {
        while !Task.isCancelled {
            guard await sleepUntilProbeDue(), await probe() else { continue }
            let client = makeClient()
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let transition = shared.withLock { shared in
                    shared.client = client
                    return shared.availability.probeSucceeded(at: clock.now)
                }
                log(transition)
                await maintain(client)
                shared.withLock { shared in
                    if shared.client === client { shared.client = nil }
                }
                group.cancelAll()
            }
        }
    }

    /// Sleeps until the availability state machine wants a probe; false when cancelled.
    private func sleepUntilProbeDue() async -> Bool {
        while !Task.isCancelled {
            let due = shared.withLock { $0.availability.probeDue(at: clock.now) }
            if due { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Ensures the schema over a connection of its own; true if that worked.
    ///
    /// Not through the pool: a pool keeps a lease waiting while it retries connecting, so a refused
    /// connection would look like a slow one. A single connection attempt fails at once.
    private func probe() async -> Bool {
        let logger = self.logger
        do {
            try await withDeadline(options.adminTimeout) {
                let connection = try await PostgresConnection.connect(
                    configuration: try self.probeConfiguration(),
                    id: 0,
                    logger: logger
                )
                do {
                    try await CacheTables.ensureSchema(connection, logger: logger)
                    try await connection.close()
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
            return true
        } catch {
            let reason: String
            switch PostgresFailure(error) {
            case .cancelled: return false
            case .unavailable(let why), .statement(let why): reason = why
            }
            let transition = shared.withLock { $0.availability.probeFailed(reason, at: clock.now) }
            log(transition)
            logger.debug("cache store probe failed", metadata: ["error": "\(reason)"])
            return false
        }
    }

    /// While the database is reachable: enforce the size bound every `evictionInterval`. Returns when an outage begins.
    private func maintain(_ client: PostgresClient) async {
        var nextEviction = clock.now + options.evictionInterval
        // Not `isAvailable`: after close() the connection stays up for the final flush.
        func connected() -> Bool { shared.withLock { $0.availability.isAvailable } }
        while !Task.isCancelled, connected() {
            try? await Task.sleep(for: .milliseconds(50))
            guard clock.now >= nextEviction, connected() else { continue }
            do {
                let evicted = try await evict(client)
                if evicted > 0 {
                    logger.debug("cache store evicted oldest entries", metadata: ["cache.entries": "\(evicted)"])
                }
            } catch {
                // `attempt` has already started an outage if the database is gone.
                logger.debug("cache store eviction failed", metadata: ["error": "\(error)"])
            }
            nextEviction = clock.now + options.evictionInterval
        }
    }

    private func flushPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: options.flushInterval)
            let ready = shared.withLock { $0.availability.isAvailable && $0.buffer.hasPendingWrites }
            guard ready else { continue }
            do {
                try await writeQueued(until: clock.now + options.writeTimeout)
            } catch {
                logger.debug("cache store flush failed", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Writing

    /// Waits for the first connection (bounded by `deadline`), then writes everything queued.
    private func flush(until deadline: ContinuousClock.Instant) async throws {
        try shared.withLock { shared throws(CacheStoreError) in try Self.checkOpen(shared) }
        try await writeQueued(until: deadline)
    }

    /// Writes queued entries and counters until none are left, including batches another flush has in flight.
    private func writeQueued(until deadline: ContinuousClock.Instant) async throws {
        while true {
            let empty = shared.withLock { $0.buffer.isEmpty }
            if empty { return }
            let client = try await connectedClient(until: deadline)
            let (batch, counters) = shared.withLock { shared in
                (shared.buffer.takeBatch(limit: CacheTables.rowsPerStatement), shared.buffer.takeCounters())
            }
            if batch.entries.isEmpty && counters.isEmpty {
                // Only another flush's batch is left: wait for it.
                guard clock.now < deadline else {
                    throw CacheStoreError(.unavailable, "PostgreSQL cache writes still in flight after \(options.writeTimeout.formattedMilliseconds)")
                }
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            let logger = self.logger
            do {
                try await attempt(client, timeout: max(clock.now.duration(to: deadline), .milliseconds(1))) { client in
                    try await CacheTables.upsert(batch.entries[...], client, logger: logger)
                    try await CacheTables.addCounters(counters, client, logger: logger)
                }
                shared.withLock { $0.buffer.batchWritten(batch) }
            } catch let error as CacheStoreError where error.kind == .other {
                // The database refused the statement itself (say, a NUL character in a text column):
                // retrying the same batch would fail forever and hold back everything behind it.
                shared.withLock { $0.buffer.batchWritten(batch) }
                logger.warning(
                    "cache store dropped writes the database refused",
                    metadata: ["cache.entries": "\(batch.entries.count)", "error": "\(error.message)"]
                )
                throw error
            } catch {
                shared.withLock { shared in
                    shared.buffer.batchFailed(batch)
                    shared.buffer.addCounters(counters)
                }
                throw error
            }
        }
    }

    private func evict(_ client: PostgresClient) async throws -> Int {
        let (maxBytes, logger) = (self.maxBytes, self.logger)
        // Down to 90 %, so that a table at its bound is not trimmed by a few rows on every check.
        let targetBytes = maxBytes - maxBytes / 10
        return try await attempt(client, timeout: options.adminTimeout) { client in
            try await CacheTables.evict(maxBytes: maxBytes, targetBytes: targetBytes, client, logger: logger)
        }
    }

    // MARK: - Helpers

    /// Runs a database call on `client` with a timeout. A failure that means the database is
    /// unreachable starts an outage, unless `client` belongs to a connected period that has ended
    /// already (a straggler says nothing about the current one).
    private func attempt<T: Sendable>(
        _ client: PostgresClient,
        timeout: Duration,
        _ operation: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        do {
            return try await withDeadline(timeout) { try await operation(client) }
        } catch {
            let failure = PostgresFailure(error)
            if case .unavailable(let reason) = failure {
                let transition = shared.withLock { shared -> StoreAvailability<ContinuousClock.Instant>.Transition? in
                    guard shared.client === client else { return nil }
                    shared.client = nil
                    return shared.availability.operationFailed(reason, at: clock.now)
                }
                log(transition)
            }
            throw failure.storeError
        }
    }

    /// The client to use, waiting while the store is still connecting (never during an outage).
    private func connectedClient(until deadline: ContinuousClock.Instant) async throws -> PostgresClient {
        while true {
            let client = try shared.withLock { shared throws(CacheStoreError) -> PostgresClient? in
                if case .connecting = shared.availability.phase { return nil }
                return try Self.availableClient(shared)
            }
            if let client { return client }
            guard clock.now < deadline else {
                throw CacheStoreError(.unavailable, "PostgreSQL cache unavailable: not connected yet")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private static func checkOpen(_ shared: Shared) throws(CacheStoreError) {
        if shared.closed { throw CacheStoreError(.closed, "the PostgreSQL cache store is closed") }
    }

    private static func availableClient(_ shared: Shared) throws(CacheStoreError) -> PostgresClient {
        guard let client = shared.client, shared.availability.isAvailable else {
            throw CacheStoreError(.unavailable, "PostgreSQL cache unavailable: \(shared.availability.unavailableReason ?? "reconnecting")")
        }
        return client
    }

    /// The configuration of a probe's own connection. Its TLS context is slow to make (it loads
    /// the system's trust roots), so the first probe makes it and later ones reuse it.
    private func probeConfiguration() throws -> PostgresConnection.Configuration {
        func context() throws -> NIOSSLContext {
            try probeTLSContext.withLock { cached in
                if let cached { return cached }
                let made = try NIOSSLContext(configuration: .makeClientConfiguration())
                cached = made
                return made
            }
        }
        let tls: PostgresConnection.Configuration.TLS =
            switch connection.tlsMode {
            case .disable: .disable
            case .prefer: .prefer(try context())
            case .require: .require(try context())
            }
        var configuration = PostgresConnection.Configuration(
            host: connection.host,
            port: connection.port,
            username: connection.username,
            password: connection.password,
            database: connection.database,
            tls: tls
        )
        let (seconds, attoseconds) = options.connectTimeout.components
        configuration.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        configuration.options.additionalStartupParameters = [("application_name", "bulwark-cache")]
        return configuration
    }

    private func makeClient() -> PostgresClient {
        let tls: PostgresClient.Configuration.TLS =
            switch connection.tlsMode {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: connection.host,
            port: connection.port,
            username: connection.username,
            password: connection.password,
            database: connection.database,
            tls: tls
        )
        configuration.options.connectTimeout = options.connectTimeout
        configuration.options.maximumConnections = options.maximumConnections
        // Statements abandoned by a timeout here do not keep running on the server for long.
        let statementTimeout = Int(options.adminTimeout.components.seconds * 1000) + 1
        configuration.options.additionalStartupParameters = [
            ("application_name", "bulwark-cache"),
            ("statement_timeout", "\(statementTimeout)"),
        ]
        // postgres-nio logs every failed reconnect at info; the store already says once per outage
        // what happened, so the driver's own lines show only when debugging.
        var driverLogger = logger
        if driverLogger.logLevel > .debug { driverLogger.logLevel = .warning }
        return PostgresClient(configuration: configuration, backgroundLogger: driverLogger)
    }

    private func log(_ transition: StoreAvailability<ContinuousClock.Instant>.Transition?) {
        switch transition {
        case nil:
            break
        case .connected:
            logger.info("cache store connected")
        case .outageBegan(let reason, let atStartup):
            logger.warning(
                atStartup ? "cache store unreachable at startup; serving without it until it answers" : "cache store unreachable; serving without it until it answers",
                metadata: ["error": "\(reason)"]
            )
        case .recovered(let duration):
            logger.info("cache store reachable again", metadata: ["cache.outage_ms": "\(duration.formattedMilliseconds)"])
        }
    }
}
