import EthereumKit
import Foundation
import SimnetTesting
import Testing

@Suite struct SimnetCommandTests {
    /// `bulwark simnet --port 0` prints every face, the admin URL and the accounts, serves, produces
    /// blocks, and on SIGTERM exits 0 with nothing left listening.
    @Test func servesAndShutsDownCleanly() async throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("simnet-\(UUID().uuidString).yaml")
        try """
            chainId: 31337
            blockTime: 200ms
            accounts: 2
            faces:
              - id: east
                labels: { provider: infura, cloud: aws, region: us-east-1 }
              - id: west
                labels: { provider: alchemy, cloud: gcp, region: us-west1 }
                fault: lag:2
            """.write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = BulwarkProcess.executable
        process.arguments = ["simnet", "--config", config.path, "--port", "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while text.split(separator: "\n").filter({ $0.hasPrefix("account ") }).count < 2 && Date() < deadline {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map(String.init)
        let faces = lines.filter { $0.hasPrefix("face ") }
        #expect(faces.count == 2)
        #expect(faces.first?.hasSuffix("provider=infura cloud=aws region=us-east-1") == true)
        #expect(lines.contains { $0.hasPrefix("admin http://127.0.0.1:") })
        let east = try #require(faces.first?.split(separator: " ")[2]).description
        let west = try #require(faces.last?.split(separator: " ")[2]).description
        #expect(try await HTTPTestClient.call(east, "eth_chainId") == .string("0x7a69"))

        try await Task.sleep(for: .milliseconds(900))
        // The lagging face serves the head two blocks back. Read it between two reads of the other
        // face, so that blocks produced meanwhile (a busy machine) cannot blur the comparison.
        func head(_ url: String) async throws -> Int { Int(try await HTTPTestClient.call(url, "eth_blockNumber").stringValue!.dropFirst(2), radix: 16)! }
        var observed: [(before: Int, lagging: Int, after: Int)] = []
        for _ in 0..<5 {
            let before = try await head(east), lagging = try await head(west), after = try await head(east)
            observed.append((before, lagging, after))
            if before == after { break }
        }
        let steady = try #require(observed.last)
        #expect(steady.before >= 3, "blocks are produced every 200 ms")
        #expect(steady.before != steady.after || steady.before - steady.lagging == 2, "the lagging face is 2 behind: \(observed)")

        process.terminate()  // SIGTERM
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        for url in [east, west] {
            await #expect(throws: HTTPTestClient.Failure.connectionRefused) {
                try await HTTPTestClient.request(.POST, url, body: "{}")
            }
        }
    }

    @Test func badConfigAndPortAreReported() throws {
        let missing = try BulwarkProcess.run(["simnet", "--config", "/nonexistent.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent.yaml: no such file"))
        let badYAML = try BulwarkProcess.write(Data("faces: []\n".utf8))
        let invalid = try BulwarkProcess.run(["simnet", "--config", badYAML])
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("faces: expected a non-empty list"))
        #expect(invalid.stderrIsOneLine)
        let port = try BulwarkProcess.run(["simnet", "--port", "70000"])
        #expect(port.status == 2)
    }
}
