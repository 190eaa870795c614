import Foundation
import Simnet

/// `bulwark serve` as a child process, with a config written to a temporary directory: one
/// chain `eth` (chain id 1337) over `upstreams`, plus the given `cache` and chain settings.
struct ServedGateway {
    let directory: URL
    let config: URL
    let process: Process
    /// `http://127.0.0.1:PORT`, as the gateway logged it.
    let address: String

    /// Upstream entries for the config, one per face: id, url and failure-domain labels.
    static func upstreams(_ faces: [(id: String, url: String, provider: String, cloud: String, region: String)]) -> String {
        faces.map { face in
            "      - id: \(face.id)\n        url: \(face.url)\n        labels: { provider: \(face.provider), cloud: \(face.cloud), region: \(face.region) }"
        }.joined(separator: "\n")
    }

    static func upstreams(_ simnet: Simnet) -> String {
        upstreams(simnet.faces.map { ($0.id, $0.url, $0.provider, $0.cloud, $0.region) })
    }

    /// Writes the config, starts `bulwark serve` and waits for its listening address.
    static func start(upstreams: String, cache: String = "store: none", chain: String = "") async throws -> ServedGateway {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("served-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("bulwark.yaml")
        try """
            server:
              listen: "127.0.0.1:0"
            cache:
              \(cache.replacingOccurrences(of: "\n", with: "\n  "))
            chains:
              - name: eth
                chainId: 1337
            \(chain.isEmpty ? "" : "    " + chain.replacingOccurrences(of: "\n", with: "\n    ") + "\n")    upstreams:
            \(upstreams)

            """.write(to: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("serve.log")
        let process = try SoakTests.launch(["serve", "--config", config.path], stdout: nil, stderr: log)
        do {
            let address = try await SoakTests.waitFor(log, process: process, address(in:))
            return ServedGateway(directory: directory, config: config, process: process, address: address)
        } catch {
            SoakTests.stop(process)
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// The listening address in a `bulwark serve` log.
    static func address(in log: String) -> String? {
        log.firstRange(of: /server\.address=http:\/\/127\.0\.0\.1:\d+/).map { String(log[$0].dropFirst("server.address=".count)) }
    }

    /// SIGTERM (then SIGKILL after 5 s); the directory stays for `remove()`.
    func stop() { SoakTests.stop(process) }

    func remove() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
