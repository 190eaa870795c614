import ArgumentParser
import Logging
import ServiceLifecycle
import Simnet

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct SimnetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simnet",
        abstract: "Run the simulated provider network: one chain served by several provider faces with injectable faults.",
        discussion: """
            Prints one line per face (`face <id> <url> provider=… cloud=… region=…`), the admin API URL, and the
            funded development accounts with their (test-only) private keys, then serves until SIGINT or SIGTERM.
            Without --config: chain 1337, a block per second, five faces in four failure domains.
            """
    )

    @Option(help: "Simnet YAML config (chainId, blockTime, finalityDepth, accounts, faces with labels and faults).")
    var config: String?

    @Option(help: "Port of the first face; the other faces and the admin API take the ports after it. 0: ephemeral ports.")
    var port: Int = 9545

    func run() async throws {
        guard (0...65_535).contains(port) else { throw CommandFailure.usage("--port: \(port) is not a TCP port") }
        var configuration = SimnetConfiguration()
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw CommandFailure.badInput("\(config): no such file")
            }
            do { configuration = try SimnetConfiguration.parse(yaml: String(decoding: data, as: UTF8.self)) } catch {
                throw CommandFailure.badInput("\(config): \(error.message)")
            }
        }
        if port > 0 && port + configuration.faces.count > 65_535 {
            throw CommandFailure.usage("--port: \(configuration.faces.count + 1) ports from \(port) do not fit below 65536")
        }
        var logger = Logger(label: "bulwark.simnet")
        logger.logLevel = .warning
        let simnet = Simnet(configuration: configuration, firstPort: port, logger: logger)
        do {
            try await simnet.start()
        } catch {
            await simnet.stop()
            throw CommandFailure.badInput("cannot listen on 127.0.0.1 from port \(port): \(error)")
        }
        for line in simnet.announcement { print(line) }
        fflushStandardOutput()
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: StartedSimnet(simnet: simnet))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }
}

/// Runs an already started simnet until shutdown (it was started first so its ports could be printed).
private struct StartedSimnet: Service {
    let simnet: Simnet

    func run() async throws {
        try await simnet.run()
    }
}

private func fflushStandardOutput() {
    #if canImport(Glibc)
    fflush(stdout)
    #endif
}
