import ArgumentParser
import BulwarkCore
import BulwarkServer
import Cache
import Logging
import Metrics
import Prometheus
import Routing
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway.",
        discussion: """
            Reads --config FILE, or ./bulwark.yaml. Serves JSON-RPC on POST /{chain} (and POST / with one chain),
            /healthz, /readyz, /status, /metrics and /admin/drill until SIGINT or SIGTERM; in-flight requests
            finish, then it exits 0.
            """
    )

    @Option(help: "Gateway YAML config (see `bulwark init`).")
    var config: String?

    func run() async throws {
        let file: String
        if let config {
            file = config
        } else if FileManager.default.fileExists(atPath: "bulwark.yaml") {
            file = "bulwark.yaml"
        } else {
            throw CommandFailure.usage("no configuration: pass --config FILE or write ./bulwark.yaml with `bulwark init`; `bulwark demo` shows Bulwark without one")
        }
        let configuration = try loadGatewayConfiguration(file)
        if let chain = configuration.chains.first(where: { $0.kind != .evm }) {
            throw CommandFailure.checkFailed("\(file): chain '\(chain.name)' is of kind \(chain.kind.rawValue), which this version cannot serve yet")
        }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["BULWARK_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        let logger = Logger(label: "bulwark")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let store = try await openCacheStore(configuration.cache, logger: logger, failOpen: true)
        if let store {
            logger.info("cache ready", metadata: [
                "cache.store": "\(store.kind)", "cache.maxBytes": "\(configuration.cache.maxBytes)",
                "cache.location": "\(configuration.cache.store == .sqlite ? configuration.cache.path : configuration.cache.redactedURL ?? "memory")",
            ])
        }
        var routers: [ChainRouter] = []
        var chains: [GatewayChain] = []
        for chain in configuration.chains {
            var routing = RouterConfiguration(chainName: chain.name, chainId: chain.chainId, upstreams: chain.upstreams.map { upstream in
                UpstreamSpec(
                    id: upstream.id, url: upstream.url,
                    domain: upstream.labels,
                    maxRps: upstream.maxRps, maxBatch: upstream.maxBatch ?? 1,
                    pipeline: upstream.pipeline ?? 1, http2: upstream.http2, headers: upstream.headers.sorted { $0.key < $1.key }
                )
            })
            routing.maxLag = chain.maxLag
            routing.finalityDepth = chain.finalityDepth
            if chain.verify.enabled {
                routing.verification = .init(quorumDomains: chain.verify.quorumDomains, coolingPeriod: chain.verify.coolingPeriod)
            }
            let cache = store.map { store in
                ResponseCache(chainName: chain.name, configuration: .init(store: store, staleIfError: configuration.cache.staleIfError), logger: logger)
            }
            let router: ChainRouter
            do { router = try ChainRouter(configuration: routing, cache: cache, logger: logger) } catch {
                throw CommandFailure.checkFailed("\(file): chain '\(chain.name)': \(error.message)")
            }
            routers.append(router)
            let policy = chain.methods
            chains.append(GatewayChain(name: chain.name, router: router, allows: { policy?.allows($0) ?? true }))
            logger.info("chain ready", metadata: [
                "chain.name": "\(chain.name)", "chain.id": "\(chain.chainId)",
                "chain.upstreams": "\(chain.upstreams.map { "\($0.id) (\($0.labels))" }.joined(separator: ", "))",
            ])
        }
        var limits = GatewayLimits()
        limits.maxBodyBytes = configuration.server.maxBodyBytes
        limits.maxBatchSize = configuration.server.maxBatchSize
        limits.requestTimeout = configuration.server.requestTimeout
        limits.maxHeaderBytes = configuration.server.maxHeaderBytes
        limits.maxJsonDepth = configuration.server.maxJsonDepth
        limits.readTimeout = configuration.server.readTimeout
        limits.idleTimeout = configuration.server.idleTimeout
        limits.maxConnections = configuration.server.maxConnections
        let gateway = Gateway(chains: chains, limits: limits, adminKey: configuration.auth?.adminKey,
                              clients: (configuration.auth?.keys ?? []).map { key in
                                  let methods = key.methods
                                  return GatewayClient(key: key.key, name: key.name, priority: key.priority, rps: key.rps, burst: key.burst,
                                                       allows: { methods?.allows($0) ?? true })
                              }, logger: logger)
        let listen = configuration.server.listen
        let server = gateway.server(host: listen.host, port: listen.port, metricsRegistry: registry) { port in
            logger.info("listening", metadata: ["server.address": "http://\(listen.host.contains(":") ? "[\(listen.host)]" : listen.host):\(port)"])
        }
        let group = ServiceGroup(configuration: .init(
            services: routers.map { .init(service: $0) } + [.init(service: server)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            throw CommandFailure.badInput("cannot serve on \(listen): \(error)")
        }
        for router in routers { await router.shutdown() }
        await store?.close()
    }
}
