import Foundation
import Testing

/// Runs the built `bulwark` with exactly `environment` (nothing inherited, so a developer's own
/// INFURA_KEY cannot change the outcome) in `directory`.
private func runBulwark(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) throws -> BulwarkProcess.Outcome {
    let process = Process()
    process.executableURL = BulwarkProcess.executable
    process.arguments = arguments
    process.environment = environment
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return .init(status: process.terminationStatus,
                 stdout: String(decoding: stdout, as: UTF8.self),
                 stderr: String(decoding: stderr, as: UTF8.self))
}

/// Writes `yaml` to a fresh temporary file and returns its path.
private func writeConfig(_ yaml: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-config-\(UUID().uuidString).yaml")
    try Data(yaml.utf8).write(to: url)
    return url.path
}

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-init-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Two chains over three failure domains; every chain survives any single failure.
private let safeConfig = """
    chains:
      - name: eth
        chainId: 1
        upstreams:
          - { id: infura-eth, url: "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", labels: { provider: infura, cloud: aws, region: us-east-1 } }
          - { id: alchemy-eth, url: "https://eth-mainnet.g.alchemy.com/v2/key", labels: { provider: alchemy, cloud: gcp, region: us-central1 } }
      - name: base
        chainId: 8453
        upstreams:
          - { id: own-base, url: "http://10.0.0.7:8545", labels: { provider: self, cloud: hetzner, region: fsn1 } }
          - { id: alchemy-base, url: "https://base-mainnet.g.alchemy.com/v2/key", labels: { provider: alchemy, cloud: gcp, region: us-central1 } }
    """

/// `eth` lives entirely in aws/us-east-1.
private let unsafeConfig = """
    chains:
      - name: eth
        chainId: 1
        upstreams:
          - { id: infura-eth, url: "https://infura.example/eth", labels: { provider: infura, cloud: aws, region: us-east-1 } }
          - { id: alchemy-eth, url: "https://alchemy.example/eth", labels: { provider: alchemy, cloud: aws, region: us-east-1 } }
      - name: base
        chainId: 8453
        upstreams:
          - { id: infura-base, url: "https://infura.example/base", labels: { provider: infura, cloud: aws, region: us-east-1 } }
          - { id: own-base, url: "http://10.0.0.7:8545", labels: { provider: self, cloud: hetzner, region: fsn1 } }
    """

/// Three mistakes in three places.
private let invalidConfig = """
    server:
      maxBatchSize: 0
    chains:
      - name: eth
        chainId: 1
        upstreams:
          - { id: a, url: "ftp://a.example", labels: { provider: p, cloud: c, region: r } }
          - { id: b, url: "https://b.example", labels: { provider: q, cloud: d } }
    """

private let starterEnvironment = [
    "INFURA_KEY": "0123456789abcdef0123456789abcdef",
    "ALCHEMY_KEY": "Ab1_cdEFgh-IJklMNop2qrSTuv",
    "QUICKNODE_ETH_URL": "https://black-frost.quiknode.pro/0123456789abcdef0123456789abcdef01234567/",
    "QUICKNODE_BASE_URL": "https://white-sun.base-mainnet.quiknode.pro/89abcdef0123456789abcdef0123456789abcdef/",
]

/// `bulwark check-config`, `audit` and `init`, run as a user would.
@Suite struct ConfigCommandTests {}

extension ConfigCommandTests {
    @Suite struct CheckConfig {
        @Test func validConfigPrintsASummaryAndExitsZero() throws {
            let outcome = try runBulwark(["check-config", try writeConfig(safeConfig)])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout == "ok: 2 chains, 4 upstreams in 3 failure domains\n")
            #expect(outcome.stderr.isEmpty)
        }

        @Test func everyErrorIsOneLineWithFileAndPathThenExitOne() throws {
            let file = try writeConfig(invalidConfig)
            let outcome = try runBulwark(["check-config", file])
            #expect(outcome.status == 1)
            #expect(outcome.stdout.isEmpty)
            #expect(outcome.stderr.split(separator: "\n") == [
                "\(file): server.maxBatchSize: must be positive, got 0",
                "\(file): chains[0].upstreams[0].url: must start with http:// or https://, not ftp://",
                "\(file): chains[0].upstreams[1].labels.region: missing",
                "bulwark: \(file): invalid configuration (3 errors)",
            ])
        }

        @Test func aMissingVariableIsNamedWithItsPathAndNoValueIsShown() throws {
            let file = try writeConfig(safeConfig.replacingOccurrences(of: "0123456789abcdef0123456789abcdef", with: "${BULWARK_TEST_INFURA_KEY}"))
            let outcome = try runBulwark(["check-config", file])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.hasPrefix("\(file): chains[0].upstreams[0].url: environment variable BULWARK_TEST_INFURA_KEY is not set\n"))
            let fixed = try runBulwark(["check-config", file], environment: ["BULWARK_TEST_INFURA_KEY": "fedcba9876543210fedcba9876543210"])
            #expect(fixed.status == 0, "\(fixed.stderr)")
            #expect(!fixed.stdout.contains("fedcba9876543210"))
        }

        @Test func unreadableInputExitsTwoWithOneLine() throws {
            for (path, reason) in [("/nonexistent/bulwark.yaml", "no such file"), (FileManager.default.temporaryDirectory.path, "is a directory")] {
                let outcome = try runBulwark(["check-config", path])
                #expect(outcome.status == 2)
                #expect(outcome.stderrIsOneLine, "\(outcome.stderr)")
                #expect(outcome.stderr == "bulwark: \(path): \(reason)\n")
            }
            let usage = try runBulwark(["check-config"])
            #expect(usage.status == 2)
            #expect(usage.stderrIsOneLine)
        }

        @Test func notYAMLIsAConfigErrorOnOneLine() throws {
            let file = try writeConfig("chains: [\n  - name: eth\n")
            let outcome = try runBulwark(["check-config", file])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.hasPrefix("\(file): not valid YAML: line "))
        }
    }

    @Suite struct Audit {
        @Test func safeConfigPrintsTheReportAndExitsZero() throws {
            let outcome = try runBulwark(["audit", try writeConfig(safeConfig)])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stderr.isEmpty)
            let lines = outcome.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "Failure-domain audit: 2 chains, 4 upstreams in 3 failure domains")
            #expect(lines.contains("Upstreams per provider"))
            #expect(lines.contains("  alchemy  2   50.0%"))
            #expect(lines.contains("  provider alchemy, cloud gcp, region gcp/us-central1 or failure domain alchemy/gcp/us-central1 (2 upstreams)"))
            #expect(lines.contains("    eth   loses 1 of 2 upstreams: 1 left in 1 failure domain"))
            #expect(lines.last == "verdict: safe: no single provider, cloud, region or failure domain failure leaves a chain without upstreams")
            #expect(!outcome.stdout.contains("0123456789abcdef"), "the report never shows endpoint URLs")
        }

        @Test func unsafeConfigNamesTheDomainAndExitsOne() throws {
            let file = try writeConfig(unsafeConfig)
            let outcome = try runBulwark(["audit", file])
            #expect(outcome.status == 1)
            #expect(outcome.stdout.contains("  cloud aws or region aws/us-east-1 (3 upstreams)\n    eth   becomes unavailable: loses all 2 upstreams\n"))
            #expect(outcome.stdout.contains("  eth: all 2 upstreams are in cloud aws; add one in another cloud"))
            #expect(outcome.stdout.hasSuffix("verdict: unsafe: eth becomes unavailable if cloud aws or region aws/us-east-1 fails\n"))
            #expect(outcome.stderrIsOneLine)
            #expect(outcome.stderr == "bulwark: \(file): unsafe: eth becomes unavailable if cloud aws or region aws/us-east-1 fails\n")
        }

        @Test func jsonReportIsMachineReadable() throws {
            let outcome = try runBulwark(["audit", "--json", try writeConfig(safeConfig)])
            #expect(outcome.status == 0)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            #expect(report["safe"] as? Bool == true)
            #expect(report["upstreams"] as? Int == 4)
            #expect(report["failureDomains"] as? Int == 3)
            let shares = try #require(report["shares"] as? [String: [[String: Any]]])
            #expect(shares["cloud"]?.map { $0["name"] as? String } == ["gcp", "aws", "hetzner"])
            #expect(shares["cloud"]?.map { $0["percent"] as? Double } == [50, 25, 25])
            let scenarios = try #require(report["scenarios"] as? [[String: Any]])
            #expect(scenarios.count == 12)
            let gcp = try #require(scenarios.first { $0["level"] as? String == "cloud" && $0["name"] as? String == "gcp" })
            #expect(gcp["match"] as? [String: String] == ["cloud": "gcp"])
            let impacts = try #require(gcp["chains"] as? [[String: Any]])
            #expect(impacts.map { $0["chain"] as? String } == ["eth", "base"])
            #expect(impacts.map { $0["lost"] as? Int } == [1, 1])
            #expect(impacts.map { $0["unavailable"] as? Bool } == [false, false])
            #expect((report["unsafe"] as? [Any])?.isEmpty == true)
        }

        @Test func jsonReportOfAnUnsafeConfigExitsOne() throws {
            let outcome = try runBulwark(["audit", "--json", try writeConfig(unsafeConfig)])
            #expect(outcome.status == 1)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            #expect(report["safe"] as? Bool == false)
            let unsafe = try #require(report["unsafe"] as? [[String: Any]])
            #expect(unsafe.map { $0["name"] as? String } == ["aws", "aws/us-east-1"])
            #expect(unsafe.map { $0["chains"] as? [String] } == [["eth"], ["eth"]])
        }

        @Test func invalidConfigIsReportedAsInCheckConfig() throws {
            let file = try writeConfig(invalidConfig)
            let outcome = try runBulwark(["audit", file])
            #expect(outcome.status == 1)
            #expect(outcome.stdout.isEmpty)
            #expect(outcome.stderr.contains("\(file): chains[0].upstreams[1].labels.region: missing\n"))
            let json = try runBulwark(["audit", "--json", file])
            #expect(json.status == 1)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(report["valid"] as? Bool == false)
            #expect((report["errors"] as? [[String: String]])?.map { $0["path"] } == ["server.maxBatchSize", "chains[0].upstreams[0].url", "chains[0].upstreams[1].labels.region"])
        }

        @Test func unreadableInputExitsTwo() throws {
            let outcome = try runBulwark(["audit", "/nonexistent/bulwark.yaml"])
            #expect(outcome.status == 2)
            #expect(outcome.stderr == "bulwark: /nonexistent/bulwark.yaml: no such file\n")
        }
    }

    @Suite struct Init {
        @Test func writesAStarterThatChecksAndAuditsCleanOnceItsVariablesAreSet() throws {
            let directory = try temporaryDirectory()
            let file = directory.appendingPathComponent("gateway.yaml").path
            let written = try runBulwark(["init", file])
            #expect(written.status == 0, "\(written.stderr)")
            #expect(written.stdout.contains("wrote \(file)"))
            #expect(written.stdout.contains("set INFURA_KEY, ALCHEMY_KEY, QUICKNODE_ETH_URL, QUICKNODE_BASE_URL"))
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("chainId: 1 "))
            #expect(text.contains("chainId: 8453"))
            #expect(text.contains("requestTimeout: 10s"))

            let checked = try runBulwark(["check-config", file], environment: starterEnvironment)
            #expect(checked.status == 0, "\(checked.stderr)")
            #expect(checked.stdout == "ok: 2 chains, 7 upstreams in 4 failure domains\n")
            let audited = try runBulwark(["audit", file], environment: starterEnvironment)
            #expect(audited.status == 0, "\(audited.stdout)\(audited.stderr)")
            #expect(audited.stdout.hasSuffix("verdict: safe: no single provider, cloud, region or failure domain failure leaves a chain without upstreams\n"))

            let unset = try runBulwark(["check-config", file])
            #expect(unset.status == 1)
            for variable in starterEnvironment.keys {
                #expect(unset.stderr.contains("environment variable \(variable) is not set"))
            }
        }

        @Test func defaultsToBulwarkYamlInTheCurrentDirectory() throws {
            let directory = try temporaryDirectory()
            let outcome = try runBulwark(["init"], in: directory)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("bulwark.yaml").path))
        }

        @Test func refusesToOverwriteAnExistingFile() throws {
            let file = try writeConfig("# mine, keep it\n")
            let outcome = try runBulwark(["init", file])
            #expect(outcome.status == 1)
            #expect(outcome.stderrIsOneLine)
            #expect(outcome.stderr == "bulwark: \(file) already exists; not overwriting it (move it away or name another file)\n")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "# mine, keep it\n")
        }

        @Test func anUnwritablePlaceExitsTwo() throws {
            let outcome = try runBulwark(["init", "/nonexistent-directory/bulwark.yaml"])
            #expect(outcome.status == 2)
            #expect(outcome.stderr == "bulwark: /nonexistent-directory/bulwark.yaml: cannot be written\n")
        }
    }
}
