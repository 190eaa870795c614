import Foundation
import Testing

/// Runs the built `bulwark` executable as a user would and checks what they see:
/// the exit code, stdout, and one clear line on stderr.
struct BulwarkProcess {
    struct Outcome {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/execution-apis/tests")

    /// The executable sits beside the test bundle in the build directory.
    static let executable: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !directory.path.isEmpty && directory.path != "/" {
            let candidate = directory.appendingPathComponent("bulwark")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/bulwark")
    }()

    static func run(_ arguments: [String], stdin: Data? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The `<< ` response line of a recorded exchange.
    static func response(_ file: String) throws -> Data {
        let text = try String(contentsOf: fixtures.appendingPathComponent(file), encoding: .utf8)
        let line = text.split(separator: "\n").first { $0.hasPrefix("<< ") }!
        return Data(line.dropFirst(3).utf8)
    }

    /// The `result` of a recorded exchange, as a JSON object to edit.
    static func result(_ file: String) throws -> Any {
        let response = try JSONSerialization.jsonObject(with: response(file)) as! [String: Any]
        return response["result"]!
    }

    /// Writes `value` as JSON to a temporary file and returns its path.
    static func write(_ value: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: value)
        return try write(data)
    }

    static func write(_ data: Data) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-test-\(UUID().uuidString).json")
        try data.write(to: url)
        return url.path
    }
}

extension BulwarkProcess.Outcome {
    /// Exactly one line on stderr, without a stack trace.
    var stderrIsOneLine: Bool {
        stderr.hasSuffix("\n") && stderr.dropLast().split(separator: "\n").count == 1
    }
}

@Suite struct VerifyBlockCommandTests {
    @Test(arguments: ["get-genesis.io", "get-block-london-fork.io", "get-block-merge-fork.io",
                      "get-block-shanghai-fork.io", "get-block-cancun-fork.io", "get-block-prague-fork.io", "get-latest.io"])
    func verifiesEveryForkBlock(file: String) throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getBlockByNumber/" + file))
        let outcome = try BulwarkProcess.run(["verify", "block", path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("ok: block hash: block "))
        #expect(outcome.stderr.isEmpty)
    }

    @Test func acceptsAWholeJSONRPCResponseOnStdin() throws {
        let outcome = try BulwarkProcess.run(["verify", "block", "-"],
                                             stdin: try BulwarkProcess.response("eth_getBlockByNumber/get-latest.io"))
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("ok: transactionsRoot: 4 transaction(s) rebuild"))
    }

    @Test func tamperedHeaderFieldFailsWithExitOne() throws {
        var block = try BulwarkProcess.result("eth_getBlockByNumber/get-block-cancun-fork.io") as! [String: Any]
        block["gasUsed"] = "0x2b1dd"
        let outcome = try BulwarkProcess.run(["verify", "block", try BulwarkProcess.write(block)])
        #expect(outcome.status == 1)
        #expect(outcome.stderrIsOneLine)
        #expect(outcome.stderr.contains("verification failed: block 42: keccak256(rlp(header)) is 0x"))
    }

    @Test func tamperedTransactionFailsWithExitOne() throws {
        var block = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        var transactions = block["transactions"] as! [[String: Any]]
        transactions[2]["value"] = "0x1"
        block["transactions"] = transactions
        let outcome = try BulwarkProcess.run(["verify", "block", try BulwarkProcess.write(block)])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("transactions[2]: its fields hash to"))
    }

    @Test func badInputGetsExitTwoAndOneLine() throws {
        var missing = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        missing["stateRoot"] = nil
        var oddHex = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        oddHex["parentHash"] = "0x123"
        var laterForkOnly = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        laterForkOnly["withdrawalsRoot"] = nil
        let cases: [(input: String, message: String)] = [
            (try BulwarkProcess.write(Data("{\"hash\": ".utf8)), "not JSON"),
            (try BulwarkProcess.write(missing), "missing field 'stateRoot'"),
            (try BulwarkProcess.write(oddHex), "field 'parentHash': odd-length hex (3 digits)"),
            (try BulwarkProcess.write(laterForkOnly), "'withdrawalsRoot', added by an earlier fork, is missing"),
            (try BulwarkProcess.write([1, 2]), "expected a block (a JSON object), got an array"),
            (try BulwarkProcess.write(Data(#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}}"#.utf8)), "JSON-RPC error response: header not found"),
            ("/nonexistent/block.json", "no such file"),
        ]
        for (input, message) in cases {
            let outcome = try BulwarkProcess.run(["verify", "block", input])
            #expect(outcome.status == 2, "\(message)")
            #expect(outcome.stderrIsOneLine, "\(outcome.stderr)")
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        }
    }

    @Test func jsonOutput() throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getBlockByNumber/get-block-prague-fork.io"))
        let outcome = try BulwarkProcess.run(["verify", "block", "--json", path])
        #expect(outcome.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as! [String: Any]
        #expect(object["ok"] as? Bool == true)
        let checks = object["checks"] as! [[String: Any]]
        #expect(checks.contains { $0["name"] as? String == "transactionsRoot" && $0["performed"] as? Bool == false })
    }
}

@Suite struct VerifyProofCommandTests {
    /// State root of block 0x36, where the recorded proofs were taken.
    let headStateRoot: String

    init() throws {
        let latest = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        headStateRoot = latest["stateRoot"] as! String
    }

    @Test func recordedProofVerifies() throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getProof/get-account-proof-with-storage.io"))
        let outcome = try BulwarkProcess.run(["verify", "proof", path, "--state-root", headStateRoot])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("exists with balance 0x76"))
        #expect(outcome.stdout.contains("slot 0x0000000000000000000000000000000000000000000000000000000000000000 = 0x38"))
    }

    @Test func wrongStateRootFails() throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getProof/get-account-proof-latest.io"))
        let genesis = try BulwarkProcess.result("eth_getBlockByNumber/get-genesis.io") as! [String: Any]
        let outcome = try BulwarkProcess.run(["verify", "proof", path, "--state-root", genesis["stateRoot"] as! String])
        #expect(outcome.status == 1)
        #expect(outcome.stderrIsOneLine)
        #expect(outcome.stderr.contains("account proof: proof node 0 hashes to"))
    }

    @Test func claimedBalanceMustMatchTheProof() throws {
        var proof = try BulwarkProcess.result("eth_getProof/get-account-proof-latest.io") as! [String: Any]
        proof["balance"] = "0x0"
        let outcome = try BulwarkProcess.run(["verify", "proof", try BulwarkProcess.write(proof), "--state-root", headStateRoot])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("balance: the answer says 0x0 but the proof holds 0x76"))
    }

    @Test func truncatedProofIsBadInput() throws {
        var proof = try BulwarkProcess.result("eth_getProof/get-account-proof-latest.io") as! [String: Any]
        proof["accountProof"] = Array((proof["accountProof"] as! [String]).dropLast())
        let outcome = try BulwarkProcess.run(["verify", "proof", try BulwarkProcess.write(proof), "--state-root", headStateRoot])
        #expect(outcome.status == 2)
        #expect(outcome.stderrIsOneLine)
        #expect(outcome.stderr.contains("proof ends after 2 node(s)"))
    }

    @Test func truncatedNodeIsBadInput() throws {
        var proof = try BulwarkProcess.result("eth_getProof/get-account-proof-latest.io") as! [String: Any]
        var nodes = proof["accountProof"] as! [String]
        nodes[1] = String(nodes[1].dropLast(10))
        proof["accountProof"] = nodes
        let outcome = try BulwarkProcess.run(["verify", "proof", try BulwarkProcess.write(proof), "--state-root", headStateRoot])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("accountProof node 1 is not valid RLP") || outcome.stderr.contains("proof node 1 is not valid RLP"))
    }

    /// eth_getCode/get-code.io is the code of the same account at the same head.
    @Test func codeIsCheckedAgainstCodeHash() throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getProof/get-account-proof-latest.io"))
        let code = try #require(try BulwarkProcess.result("eth_getCode/get-code.io") as? String)
        let outcome = try BulwarkProcess.run(["verify", "proof", path, "--state-root", headStateRoot, "--code", code])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("ok: code: "))

        let altered = String(code.dropLast(2)) + (code.hasSuffix("00") ? "01" : "00")
        let tampered = try BulwarkProcess.run(["verify", "proof", path, "--state-root", headStateRoot, "--code", altered])
        #expect(tampered.status == 1)
        #expect(tampered.stderr.contains("code hashes to"))
    }

    @Test func badStateRootIsAUsageError() throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getProof/get-account-proof-latest.io"))
        let outcome = try BulwarkProcess.run(["verify", "proof", path, "--state-root", "0x1234"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("--state-root: expected 32 bytes of hex, got 2"))
    }
}

@Suite struct VerifyReceiptsCommandTests {
    @Test func recordedReceiptsRebuildRoot() throws {
        let path = try BulwarkProcess.write(try BulwarkProcess.result("eth_getBlockReceipts/get-block-receipts-latest.io"))
        let latest = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        let outcome = try BulwarkProcess.run(["verify", "receipts", path, "--receipts-root", latest["receiptsRoot"] as! String])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("ok: receiptsRoot: 4 receipt(s) rebuild"))

        let wrong = try BulwarkProcess.run(["verify", "receipts", path, "--receipts-root", latest["stateRoot"] as! String])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("4 receipt(s) rebuild receiptsRoot"))
    }

    @Test func receiptsOfTwoBlocksAreBadInput() throws {
        var receipts = try BulwarkProcess.result("eth_getBlockReceipts/get-block-receipts-latest.io") as! [[String: Any]]
        receipts[1]["blockHash"] = "0x" + String(repeating: "11", count: 32)
        let latest = try BulwarkProcess.result("eth_getBlockByNumber/get-latest.io") as! [String: Any]
        let outcome = try BulwarkProcess.run(["verify", "receipts", try BulwarkProcess.write(receipts), "--receipts-root", latest["receiptsRoot"] as! String])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("give the receipts of one block"))
    }
}

@Suite struct UsageTests {
    @Test func version() throws {
        let outcome = try BulwarkProcess.run(["version"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("bulwark "))
    }

    @Test(arguments: [["verify", "block"], ["verify", "block", "x", "--bogus"], ["verify", "proof", "x"], ["frobnicate"]])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let outcome = try BulwarkProcess.run(arguments)
        #expect(outcome.status == 2)
        #expect(outcome.stderrIsOneLine, "\(outcome.stderr)")
    }

    @Test func helpExitsZero() throws {
        let outcome = try BulwarkProcess.run(["verify", "block", "--help"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("USAGE: bulwark verify block"))
    }
}
