import EthereumKit
import Simnet

/// Starts simnets for tests: in-process, ephemeral loopback ports, blocks only when mined.
public enum SimnetHarness {
    /// A configuration for tests: manual block production, five default faces, ten accounts.
    public static func configuration(faces: [SimnetConfiguration.Face] = SimnetConfiguration.defaultFaces) -> SimnetConfiguration {
        var configuration = SimnetConfiguration()
        configuration.blockTime = nil
        configuration.faces = faces
        return configuration
    }

    /// A started simnet; call `stop()` when done.
    public static func start(_ configuration: SimnetConfiguration = configuration()) async throws -> Simnet {
        let simnet = Simnet(configuration: configuration)
        try await simnet.start()
        return simnet
    }
}

extension Simnet {
    /// URL of the face with `id`.
    public func url(_ id: String) -> String {
        face(id)!.url
    }
}
