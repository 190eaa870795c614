import EthereumKit
import Foundation
import SimnetTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A one-minute version of `benchmarks/soak/run.sh` for CI: `bulwark serve` in front of
/// `bulwark simnet`, both as child processes, under a bounded mixed client load while faults
/// cycle every 10 s; the gateway's RSS, file descriptors and threads are sampled every 5 s.
/// It fails on any failed client call, on descriptors that keep growing, or on memory that
/// keeps growing after warm-up.
@Suite struct SoakTests {
    static let loadDuration: Duration = .seconds(60)
    static let faultPeriod: Duration = .seconds(10)
    static let samplePeriod: Duration = .seconds(5)
    /// Samples before this are warm-up: caches, pools and the allocator still settling.
    static let warmUp: Duration = .seconds(20)
    static let clients = 8
    /// Pause between one client's calls: about 300 calls a second in all, so the test measures
    /// leaks and not the machine, and new connections stay well inside the ephemeral port range.
    static let pause: Duration = .milliseconds(20)

    /// The faults of `benchmarks/soak/run.sh`, in its order, cleared between one and the next.
    static let faults = [
        #"{"fault":"down","match":{"cloud":"aws","region":"us-east-1"}}"#,
        #"{"fault":"stall","match":{"id":"quicknode-euw1"}}"#,
        #"{"fault":"lag:10","match":{"id":"ankr-eastus"}}"#,
        #"{"fault":"flaky:0.5","match":{"id":"own-node"}}"#,
        #"{"fault":"garbage","match":{"cloud":"aws"}}"#,
        #"{"fault":"reset","match":{"id":"quicknode-euw1"}}"#,
    ]

    struct Sample {
        var seconds: Int
        var rssKiB: Int
        var fds: Int
        var threads: Int
        var fault: String
    }

    struct LoadOutcome {
        var calls = 0
        var failures: [String] = []
    }

    @Test(.timeLimit(.minutes(2)))
    func gatewayHoldsSteadyUnderLoadAndFaults() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("soak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let simnetOut = work.appendingPathComponent("simnet.out")
        let simnet = try Self.launch(["simnet", "--port", "0"], stdout: simnetOut, stderr: nil)
        defer { Self.stop(simnet) }
        let announcement = try await Self.waitFor(simnetOut, process: simnet) { text in
            text.contains("\nadmin ") && text.contains("\naccount ") ? text : nil
        }
        let lines = announcement.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let admin = try #require(lines.first { $0.first == "admin" }?[1])
        let account = try #require(lines.first { $0.first == "account" }?[1])
        let faces = lines.filter { $0.first == "face" && $0.count == 6 }.map { face in
            // face <id> <url> provider=<p> cloud=<c> region=<r>
            let label = { (i: Int) in face[i].split(separator: "=", maxSplits: 1).last.map(String.init) ?? "" }
            return (id: face[1], url: face[2], provider: label(3), cloud: label(4), region: label(5))
        }
        #expect(faces.count == 5)
        let served = try await ServedGateway.start(upstreams: ServedGateway.upstreams(faces))
        defer { served.remove() }
        let serve = served.process
        let gateway = served.address + "/eth"
        // Block 1 is the historic block the load reads; wait until the gateway serves it.
        let ready = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < ready {
            if let head = try? await HTTPTestClient.call(gateway, "eth_blockNumber"), head != .string("0x0") { break }
            try await Task.sleep(for: .milliseconds(200))
        }

        let start = ContinuousClock.now
        async let load = Self.drive(gateway, account: account, until: start + Self.loadDuration)
        let samples = try await Self.cycleFaultsAndSample(pid: serve.processIdentifier, admin: admin, from: start)
        let outcome = await load
        _ = try? await HTTPTestClient.request(.DELETE, admin + "/faults")

        func row(_ cells: [Any]) -> String {
            zip(cells, [6, 10, 6, 8]).map { cell, width in
                let text = "\(cell)"
                return String(repeating: " ", count: max(0, width - text.count)) + text
            }.joined(separator: " ") + "  \(cells.last!)\n"
        }
        var table = row(["t(s)", "RSS(KiB)", "fds", "threads", "fault"])
        for sample in samples {
            table += row([sample.seconds, sample.rssKiB, sample.fds, sample.threads, sample.fault])
        }
        print("soak: \(outcome.calls) calls, \(outcome.failures.count) failed, pid \(serve.processIdentifier)\n" + table)

        #expect(outcome.calls >= 1_000, "the load made only \(outcome.calls) calls")
        #expect(outcome.failures.isEmpty, "\(outcome.failures.count) of \(outcome.calls) calls failed, first: \(outcome.failures.prefix(5))")
        #expect(serve.isRunning, "the gateway exited")
        // Samples after the warm-up; the one at 20 s is left out because it still holds the upstream
        // connections hung by the stall fault of 10–20 s, which would hide a slow leak.
        let settled = samples.filter { $0.seconds > Int(Self.warmUp.components.seconds) }
        let baseline = try #require(settled.first)
        let last = try #require(settled.last)
        #expect(last.seconds >= 55, "the last sample is at \(last.seconds) s")
        let maxFDs = settled.map(\.fds).max() ?? 0
        #expect(maxFDs <= baseline.fds + 16, "open descriptors grew from \(baseline.fds) at \(baseline.seconds) s to \(maxFDs)")
        let growth = Double(last.rssKiB - baseline.rssKiB) / Double(baseline.rssKiB)
        #expect(growth < 0.10, "RSS grew \(Int(growth * 100)) % from \(baseline.rssKiB) KiB at \(baseline.seconds) s to \(last.rssKiB) KiB at \(last.seconds) s")
    }

    // MARK: Load

    /// `clients` loops, each cycling through a head read, a balance, a historic block and a
    /// small batch until `deadline`. A call fails on a transport error, a status other than
    /// 200, or a JSON-RPC error anywhere in the answer.
    static func drive(_ gateway: String, account: String, until deadline: ContinuousClock.Instant) async -> LoadOutcome {
        let bodies = [
            #"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["\#(account)","latest"]}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"eth_getBlockByNumber","params":["0x1",false]}"#,
            #"[{"jsonrpc":"2.0","id":4,"method":"eth_chainId","params":[]},{"jsonrpc":"2.0","id":5,"method":"eth_getTransactionCount","params":["\#(account)","latest"]}]"#,
        ]
        return await withTaskGroup(of: LoadOutcome.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var outcome = LoadOutcome()
                    var turn = client
                    while ContinuousClock.now < deadline && !Task.isCancelled {
                        let body = bodies[turn % bodies.count]
                        turn += 1
                        outcome.calls += 1
                        if let failure = await call(gateway, body) {
                            outcome.failures.append("\(failure) for \(body)")
                        }
                        try? await Task.sleep(for: pause)
                    }
                    return outcome
                }
            }
            return await group.reduce(into: LoadOutcome()) { total, outcome in
                total.calls += outcome.calls
                total.failures += outcome.failures
            }
        }
    }

    /// Nil when the call succeeded, else what went wrong.
    static func call(_ url: String, _ body: String) async -> String? {
        let response: HTTPTestClient.Response
        do { response = try await HTTPTestClient.request(.POST, url, body: body, timeout: .seconds(12)) } catch {
            return "\(error)"
        }
        guard response.status == .ok else { return "HTTP \(response.status.code): \(response.text.prefix(200))" }
        guard let json = try? JSONValue.parse(response.body) else { return "not JSON: \(response.text.prefix(200))" }
        let answers = json.arrayValue ?? [json]
        if body.hasPrefix("["), answers.count != 2 { return "a batch of 2 got \(answers.count) answers" }
        for answer in answers where answer["result"] == nil || answer["error"] != nil {
            return "error: \(answer.serialized().prefix(200))"
        }
        return nil
    }

    // MARK: Faults and samples

    /// Every `faultPeriod`: clear the faults and set the next one; every `samplePeriod`: sample
    /// the gateway, through the end of the load.
    static func cycleFaultsAndSample(pid: Int32, admin: String, from start: ContinuousClock.Instant) async throws -> [Sample] {
        var samples: [Sample] = []
        var current = "none"
        let ticks = Int(loadDuration.components.seconds / samplePeriod.components.seconds)
        let ticksPerFault = Int(faultPeriod.components.seconds / samplePeriod.components.seconds)
        for tick in 0...ticks {
            try await Task.sleep(until: start + samplePeriod * tick, clock: .continuous)
            if tick < ticks && tick % ticksPerFault == 0 {
                let cleared = try await HTTPTestClient.request(.DELETE, admin + "/faults")
                #expect(cleared.status == .ok)
                current = faults[(tick / ticksPerFault) % faults.count]
                let set = try await HTTPTestClient.request(.POST, admin + "/faults", body: current)
                #expect(set.status == .ok, "\(current): \(set.text)")
            }
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            func field(_ name: String) -> Int {
                let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
                return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
            }
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
            let seconds = Int((ContinuousClock.now - start).components.seconds)
            samples.append(Sample(seconds: seconds, rssKiB: field("VmRSS"), fds: fds, threads: field("Threads"), fault: current))
        }
        return samples
    }

    // MARK: Child processes

    static func launch(_ arguments: [String], stdout: URL?, stderr: URL?) throws -> Process {
        let process = Process()
        process.executableURL = BulwarkProcess.executable
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        func sink(_ url: URL?) throws -> FileHandle {
            guard let url else { return FileHandle.nullDevice }
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            return try FileHandle(forWritingTo: url)
        }
        process.standardOutput = try sink(stdout)
        process.standardError = try sink(stderr)
        try process.run()
        return process
    }

    /// Polls `file` (a child's output) until `found` returns a value, for at most 20 s.
    static func waitFor<T>(_ file: URL, process: Process, _ found: (String) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(20)
        var text = ""
        while ContinuousClock.now < deadline {
            text = "\n" + ((try? String(contentsOf: file, encoding: .utf8)) ?? "")
            if let value = found(text) { return value }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ChildFailure(message: "\(process.arguments?.joined(separator: " ") ?? "") did not start: \(text.suffix(500))")
    }

    struct ChildFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// SIGTERM, up to 5 s for a graceful exit, then SIGKILL.
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
