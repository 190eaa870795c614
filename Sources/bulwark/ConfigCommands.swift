import ArgumentParser
import BulwarkCore
import EthereumKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a gateway config and print every error with its YAML path.",
        discussion: """
            ${VAR} references are filled from the environment; an unset variable is an error.
            Prints `ok: N chains, M upstreams in K failure domains`, or one `FILE: path: message` line per error on stderr.
            Exit status: 0 valid, 1 invalid, 2 unreadable file.
            """
    )

    @Argument(help: "The gateway YAML config.")
    var file: String

    func run() throws {
        let configuration = try loadGatewayConfiguration(file)
        let chains = configuration.chains.count
        let upstreams = configuration.upstreams.count
        let domains = configuration.failureDomains.count
        print("ok: \(chains) chain\(chains == 1 ? "" : "s"), \(upstreams) upstream\(upstreams == 1 ? "" : "s") in \(domains) failure domain\(domains == 1 ? "" : "s")")
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Failure-domain report: the spread of upstreams, and what each single provider, cloud or region failure does.",
        discussion: """
            For every provider, cloud, cloud region and provider/cloud/region failure domain, lists the chains that would lose \
            upstreams or become unavailable if it failed.
            Exit status: 0 no single failure leaves a chain without upstreams, 1 one does (or the config is invalid), 2 unreadable file.
            """
    )

    @Argument(help: "The gateway YAML config.")
    var file: String

    @Flag(help: "Print the report as JSON on standard output.")
    var json = false

    func run() throws {
        let configuration = try loadGatewayConfiguration(file, json: json)
        let audit = FailureDomainAudit(configuration)
        print(json ? audit.renderJSON() : audit.renderText(), terminator: json ? "\n" : "")
        guard audit.isSafe else {
            throw CommandFailure.checkFailed("\(file): " + audit.verdict.dropFirst("verdict: ".count))
        }
    }
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a commented starter config: two chains, upstream slots for several providers in different failure domains.",
        discussion: "Refuses to overwrite an existing file. Exit status: 0 written, 1 the file exists, 2 it cannot be written."
    )

    @Argument(help: "Where to write the config.")
    var file: String = "bulwark.yaml"

    func run() throws {
        if FileManager.default.fileExists(atPath: file) {
            throw CommandFailure.checkFailed("\(file) already exists; not overwriting it (move it away or name another file)")
        }
        let text = GatewayConfiguration.starterYAML
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .withoutOverwriting)
        } catch {
            if FileManager.default.fileExists(atPath: file) {
                throw CommandFailure.checkFailed("\(file) already exists; not overwriting it (move it away or name another file)")
            }
            throw CommandFailure.badInput("\(file): cannot be written")
        }
        let variables = GatewayConfiguration.environmentVariables(referencedBy: text)
        print("wrote \(file): 2 chains (eth, base) with upstream slots for infura, alchemy, quicknode and your own node")
        print("next: set \(variables.joined(separator: ", ")), correct the labels, then run `bulwark check-config \(file)` and `bulwark audit \(file)`")
    }
}

/// Reads and validates a gateway config with the process environment. Every configuration
/// error goes to stderr as `FILE: path: message`, then the command fails with exit 1;
/// a file that cannot be read fails with exit 2. With `json`, the errors are also printed
/// on stdout as `{"valid": false, "errors": [{"path", "message"}]}`.
func loadGatewayConfiguration(_ file: String, json: Bool = false) throws -> GatewayConfiguration {
    guard let data = FileManager.default.contents(atPath: file) else {
        let reason = !FileManager.default.fileExists(atPath: file) ? "no such file"
            : (try? FileManager.default.contentsOfDirectory(atPath: file)) != nil ? "is a directory" : "cannot be read"
        throw CommandFailure.badInput("\(file): \(reason)")
    }
    guard let yaml = String(validating: data, as: UTF8.self) else {
        throw CommandFailure.badInput("\(file): not UTF-8 text")
    }
    do {
        return try GatewayConfiguration.parse(yaml: yaml, environment: ProcessInfo.processInfo.environment)
    } catch {
        if json {
            let errors = error.errors.map { JSONValue.object(["path": .string($0.path), "message": .string($0.message)]) }
            print(JSONValue.object(["valid": .bool(false), "errors": .array(errors)]).serialized())
        }
        for problem in error.errors { writeStandardError("\(file): \(problem)") }
        let count = error.errors.count
        throw CommandFailure.checkFailed("\(file): invalid configuration (\(count) error\(count == 1 ? "" : "s"))")
    }
}

/// One line on stderr, as is (no `bulwark:` prefix: the line starts with the file name, like a compiler's).
private func writeStandardError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
