import ArgumentParser
import EthereumKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a provider's answer yourself: block hashes, state proofs, receipt roots.",
        discussion: """
            FILE holds the JSON `result` of the RPC call, or the whole JSON-RPC response; `-` reads standard input.
            Exit status: 0 verified, 1 the check failed, 2 unreadable or malformed input.
            """,
        subcommands: [VerifyBlock.self, VerifyProof.self, VerifyReceipts.self]
    )
}

/// Options shared by the verify commands.
struct VerifyOptions: ParsableArguments {
    @Argument(help: "JSON file with the RPC result, or - for standard input.")
    var file: String

    @Flag(help: "Print the outcome as JSON on standard output.")
    var json = false
}

struct VerifyBlock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Recompute keccak256(rlp(header)) of an eth_getBlockByNumber/ByHash result and compare it with `hash`.",
        discussion: "With full transaction objects, also rebuild transactionsRoot; with withdrawals, withdrawalsRoot."
    )

    @OptionGroup var options: VerifyOptions

    func run() throws {
        try runVerification(options) { json throws(VerificationError) in try BlockVerifier.verify(block: json) }
    }
}

struct VerifyProof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proof",
        abstract: "Verify an eth_getProof result: the account proof against a state root, each storage proof against storageHash."
    )

    @OptionGroup var options: VerifyOptions

    @Option(name: .customLong("state-root"), help: "State root of the block the proof was taken at (32 bytes hex).")
    var stateRoot: String

    @Option(help: "The account's code (hex, as eth_getCode returns it), to check against the proven codeHash.")
    var code: String?

    func run() throws {
        let root = try parseBytes32(stateRoot, flag: "--state-root")
        let codeBytes: [UInt8]?
        do { codeBytes = try code.map { try Hex.decode($0) } } catch {
            throw CommandFailure.usage("--code: \(error)")
        }
        try runVerification(options) { json throws(VerificationError) in
            let proof = try AccountProof(json: json)
            var report = try proof.verify(stateRoot: root)
            if let codeBytes {
                try proof.verify(code: codeBytes)
                report.checks.append(.init(name: "code", detail: "\(codeBytes.count) byte(s) of code hash to codeHash \(proof.codeHash)", performed: true))
            }
            return report
        }
    }
}

struct VerifyReceipts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts",
        abstract: "Rebuild the receipts trie of one block's receipts (as eth_getBlockReceipts returns them) and compare roots."
    )

    @OptionGroup var options: VerifyOptions

    @Option(name: .customLong("receipts-root"), help: "The block's receiptsRoot (32 bytes hex).")
    var receiptsRoot: String

    func run() throws {
        let root = try parseBytes32(receiptsRoot, flag: "--receipts-root")
        try runVerification(options) { json throws(VerificationError) in
            try ReceiptsVerifier.verify(receipts: json, receiptsRoot: root)
        }
    }
}

private func parseBytes32(_ hex: String, flag: String) throws -> Bytes32 {
    let bytes: [UInt8]
    do { bytes = try Hex.decode(hex) } catch { throw CommandFailure.usage("\(flag): \(error)") }
    guard let value = Bytes32(bytes) else {
        throw CommandFailure.usage("\(flag): expected 32 bytes of hex, got \(bytes.count)")
    }
    return value
}

/// Reads the input, runs `check`, and reports the outcome on stdout (and, on failure, stderr).
private func runVerification(
    _ options: VerifyOptions,
    _ check: (JSONValue) throws(VerificationError) -> VerificationReport
) throws {
    let data = try readInput(options.file)
    do {
        let json = try JSONValue.parse(data).unwrappingRPCResponse()
        let report = try check(json)
        if options.json {
            printJSON(VerifyOutput(ok: true, checks: report.checks.map(VerifyOutput.Check.init), error: nil))
        } else {
            for check in report.checks {
                print(check.performed ? "ok: \(check.name): \(check.detail)" : "not checked: \(check.name): \(check.detail)")
            }
        }
    } catch {
        if options.json {
            printJSON(VerifyOutput(ok: false, checks: [], error: error.message))
        }
        switch error.kind {
        case .mismatch: throw CommandFailure.checkFailed("verification failed: \(error.message)")
        case .malformedInput: throw CommandFailure.badInput("\(displayName(options.file)): \(error.message)")
        }
    }
}

private func displayName(_ file: String) -> String { file == "-" ? "<stdin>" : file }

private func readInput(_ file: String) throws -> [UInt8] {
    if file == "-" {
        var bytes: [UInt8] = []
        while let line = readLine(strippingNewline: false) { bytes += Array(line.utf8) }
        return bytes
    }
    guard let contents = FileManager.default.contents(atPath: file) else {
        let reason = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "no such file"
        throw CommandFailure.badInput("\(file): \(reason)")
    }
    return [UInt8](contents)
}

/// The `--json` output of the verify commands.
private struct VerifyOutput: Encodable {
    struct Check: Encodable {
        let name: String
        let detail: String
        let performed: Bool
        init(_ check: VerificationReport.Check) {
            name = check.name
            detail = check.detail
            performed = check.performed
        }
    }

    let ok: Bool
    let checks: [Check]
    let error: String?
}

private func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value) {
        print(String(decoding: data, as: UTF8.self))
    }
}
