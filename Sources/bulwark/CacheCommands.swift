import ArgumentParser
import BulwarkCore
import Cache
import EthereumKit
import Logging
import PostgresCache

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `bulwark cache stats|purge`: the configured cache store, read and trimmed without a gateway.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect or empty the configured cache store (SQLite or PostgreSQL).",
        subcommands: [CacheStatsCommand.self, CachePurgeCommand.self]
    )
}

struct CacheOptions: ParsableArguments {
    @Option(help: "Gateway YAML config whose `cache` section names the store (default ./bulwark.yaml).")
    var config = "bulwark.yaml"

    @Option(help: "Only this chain.")
    var chain: String?
}

struct CacheStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Entries, bytes and hit ratio by chain and method.",
        discussion: "Hit ratios count lookups that gateways using this store have made; they write their counts every 10 s."
    )

    @OptionGroup var options: CacheOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let store = try await openConfiguredStore(options.config)
        let statistics: CacheStatistics
        do { statistics = try await store.statistics(chain: options.chain) } catch {
            await store.close()
            throw CommandFailure.checkFailed("cannot read the \(store.kind) cache: \(error)")
        }
        await store.close()
        if json {
            print(Self.json(statistics, store: store.kind).serialized())
        } else {
            print(Self.table(statistics, store: store.kind), terminator: "")
        }
    }

    static func json(_ statistics: CacheStatistics, store: String) -> JSONValue {
        .object([
            "store": .string(store),
            "entries": .number(Double(statistics.entries)),
            "bytes": .number(Double(statistics.bytes)),
            "methods": .array(statistics.methods.map { method in
                .object([
                    "chain": .string(method.chain), "method": .string(method.method),
                    "entries": .number(Double(method.entries)), "bytes": .number(Double(method.bytes)),
                    "hits": .number(Double(method.counters.hits)), "misses": .number(Double(method.counters.misses)),
                    "stale": .number(Double(method.counters.stale)),
                    "hitRatio": method.hitRatio.map { .number(($0 * 1000).rounded() / 1000) } ?? .null,
                ])
            }),
        ])
    }

    static func table(_ statistics: CacheStatistics, store: String) -> String {
        var out = "\(store) cache: \(statistics.entries) entries, \(byteText(statistics.bytes))\n"
        guard !statistics.methods.isEmpty else { return out }
        let header = ["chain", "method", "entries", "bytes", "hits", "misses", "stale", "hit ratio"]
        let rows = statistics.methods.map { method in
            [method.chain, method.method, String(method.entries), byteText(method.bytes), String(method.counters.hits),
             String(method.counters.misses), String(method.counters.stale), method.hitRatio.map { String(format: "%.1f%%", $0 * 100) } ?? "-"]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            out += row.indices.map { column in
                column < 2 ? row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - row[column].count) + row[column]
            }.joined(separator: "  ") + "\n"
        }
        return out
    }

    static func byteText(_ bytes: Int) -> String {
        bytes < 1024 ? "\(bytes) B" : bytes < 1 << 20 ? String(format: "%.1f KiB", Double(bytes) / 1024) : String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}

struct CachePurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove cached answers: all, or of one chain and/or method.",
        discussion: "Gateways using the store keep serving; they refill it as calls arrive."
    )

    @OptionGroup var options: CacheOptions

    @Option(help: "Only this method, e.g. eth_getBlockByNumber.")
    var method: String?

    func run() async throws {
        let store = try await openConfiguredStore(options.config)
        let removed: Int
        do { removed = try await store.purge(chain: options.chain, method: method) } catch {
            await store.close()
            throw CommandFailure.checkFailed("cannot purge the \(store.kind) cache: \(error)")
        }
        await store.close()
        print("removed \(removed) entr\(removed == 1 ? "y" : "ies") from the \(store.kind) cache")
    }
}

/// Opens the store a config names, for the cache commands (a persistent one: a memory cache lives in its gateway).
private func openConfiguredStore(_ file: String) async throws -> any CacheStore {
    let configuration = try loadGatewayConfiguration(file)
    switch configuration.cache.store {
    case .none:
        throw CommandFailure.badInput("\(file): cache.store is none: there is no cache to inspect")
    case .memory:
        throw CommandFailure.badInput("\(file): cache.store is memory: it lives inside the running gateway; see its GET /status")
    case .sqlite, .postgres:
        var logger = Logger(label: "bulwark.cache")
        logger.logLevel = .error
        guard let store = try await openCacheStore(configuration.cache, logger: logger, failOpen: false) else {
            throw CommandFailure.badInput("\(file): no cache store configured")
        }
        return store
    }
}

/// The store a `cache` section names; nil for `none`. A SQLite file that cannot be opened is an
/// error; an unreachable PostgreSQL is not when `failOpen` (the gateway serves without its cache
/// until the database answers).
func openCacheStore(_ cache: GatewayConfiguration.Cache, logger: Logger, failOpen: Bool) async throws -> (any CacheStore)? {
    switch cache.store {
    case .none:
        return nil
    case .memory:
        return MemoryCacheStore(maxBytes: cache.maxBytes)
    case .sqlite:
        do {
            return try SQLiteCacheStore(path: cache.path, maxBytes: cache.maxBytes, logger: logger)
        } catch {
            throw CommandFailure.badInput("cache.path \(cache.path): \(error)")
        }
    case .postgres:
        guard let url = cache.url else { throw CommandFailure.badInput("cache.url: missing for store postgres") }
        let store: PostgresCacheStore
        do {
            store = try PostgresCacheStore(url: url, logger: logger, maxBytes: cache.maxBytes)
        } catch {
            throw CommandFailure.badInput("cache.url \(cache.redactedURL ?? ""): \(error)")
        }
        if !failOpen {
            // A command run by a person: say so at once when the database cannot be reached.
            do { _ = try await store.statistics(chain: nil) } catch {
                await store.close()
                throw CommandFailure.checkFailed("cannot reach the PostgreSQL cache at \(cache.redactedURL ?? ""): \(error)")
            }
        }
        return store
    }
}
