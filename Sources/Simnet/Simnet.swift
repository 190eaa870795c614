import EthereumKit
import Logging
import NIOHTTP1
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The simulated provider network: one chain, several provider faces in different
/// failure domains, and an admin API to inject faults (SPEC section 7).
///
/// Run it as a `Service` (blocks are produced every `blockTime` until shutdown), or
/// `start()` it and drive blocks with `mine()`, as tests do.
public final class Simnet: Service, Sendable {
    public let configuration: SimnetConfiguration
    public let chain: SimulatedChain
    public let faces: [SimnetFace]
    private let admin: LoopbackHTTPServer
    private let logger: Logger
    private let started = Mutex(false)

    /// - Parameters:
    ///   - firstPort: the first face listens here, the others on the following ports, the
    ///     admin API after them; 0 gives every listener an ephemeral port.
    public init(configuration: SimnetConfiguration, host: String = "127.0.0.1", firstPort: Int = 0, logger: Logger = Logger(label: "bulwark.simnet")) {
        self.configuration = configuration
        self.logger = logger
        let chain = SimulatedChain(configuration: configuration, genesisTimestamp: UInt64(Date().timeIntervalSince1970))
        self.chain = chain
        faces = configuration.faces.enumerated().map { index, face in
            SimnetFace(face, chain: chain, host: host, port: firstPort == 0 ? 0 : firstPort + index)
        }
        let adminPort = firstPort == 0 ? 0 : firstPort + configuration.faces.count
        let box = AdminAPI.Box()
        admin = LoopbackHTTPServer(host: host, port: adminPort) { request in box.api?.handle(request) ?? .respond(status: .serviceUnavailable, body: "starting") }
        box.api = AdminAPI(simnet: self)
    }

    public var adminURL: String { "http://\(admin.host):\(admin.port)" }

    /// Binds every face and the admin API. Faces configured `down` get their port and close it again.
    public func start() async throws {
        started.withLock { $0 = true }
        for face in faces {
            try await face.server.start()
            if face.fault == .down { await face.server.stop() }
        }
        try await admin.start()
        logger.info("simnet started", metadata: ["simnet.faces": "\(faces.count)", "simnet.admin": "\(adminURL)"])
    }

    /// Closes every listener and connection.
    public func stop() async {
        for face in faces { await face.server.stop() }
        await admin.stop()
    }

    /// Starts (unless `start()` was called already), produces a block every `blockTime`
    /// until graceful shutdown or cancellation, then stops.
    public func run() async throws {
        if !started.withLock({ $0 }) { try await start() }
        await withGracefulShutdownHandler {
            if let blockTime = configuration.blockTime {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: blockTime)
                    if Task.isCancelled || Task.isShuttingDownGracefully { break }
                    mine()
                }
            } else {
                try? await gracefulShutdown()
            }
        } onGracefulShutdown: {
            self.logger.info("simnet shutting down")
        }
        await stop()
    }

    /// Produces `count` blocks now; returns the new head.
    @discardableResult
    public func mine(_ count: Int = 1) -> UInt64 {
        var head = chain.headNumber
        for _ in 0..<count {
            head = chain.produceBlock(timestamp: UInt64(Date().timeIntervalSince1970))
        }
        return head
    }

    /// Replaces the last `depth` blocks with a longer branch, now; see `SimulatedChain.reorg(depth:timestamp:)`.
    /// Every face serves the new branch as soon as this returns.
    @discardableResult
    public func reorg(depth: Int) throws(ReorgRefusal) -> Reorg {
        let reorg = try chain.reorg(depth: depth, timestamp: UInt64(Date().timeIntervalSince1970))
        logger.info("chain reorganised", metadata: [
            "simnet.reorg.depth": "\(reorg.depth)", "simnet.reorg.ancestor": "\(reorg.ancestor)", "simnet.head": "\(reorg.head)",
        ])
        return reorg
    }

    public func face(_ id: String) -> SimnetFace? { faces.first { $0.id == id } }

    /// Sets `fault` on every face whose labels match all given criteria (`id`, `provider`,
    /// `cloud`, `region`); returns the ids changed. An empty match changes every face.
    @discardableResult
    public func setFault(_ fault: Fault, matching criteria: [String: String] = [:]) async throws -> [String] {
        let matched = faces.filter { face in
            criteria.allSatisfy { key, value in
                switch key {
                case "id", "face": face.id == value
                case "provider": face.provider == value
                case "cloud": face.cloud == value
                case "region": face.region == value
                default: false
                }
            }
        }
        for face in matched { try await face.setFault(fault) }
        if !matched.isEmpty {
            logger.info("fault set", metadata: ["simnet.fault": "\(fault)", "simnet.faces": "\(matched.map(\.id).joined(separator: ","))"])
        }
        return matched.map(\.id)
    }

    /// The lines `bulwark simnet` prints on start (SPEC section 7).
    public var announcement: [String] {
        faces.map { "face \($0.id) \($0.url) provider=\($0.provider) cloud=\($0.cloud) region=\($0.region)" }
            + ["admin \(adminURL)"]
            + chain.accounts.map { "account \(Hex.encode($0.address)) \(Hex.encode($0.privateKey))" }
    }
}
