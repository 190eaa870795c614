import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the proxy benchmark of issue 8 runnable: `benchmarks/run.sh --smoke` (about 5 s of load)
/// against the debug `bulwark`, then checks that every workload has a row for every configuration
/// with every column produced, calls made and none failed. It does not judge the numbers: a debug
/// build on a shared machine says nothing about speed.
///
/// The harness needs nginx, HAProxy, wrk, curl and a C compiler from Debian's packages. Without them
/// the test is skipped with the reason, unless BULWARK_REQUIRE_BENCH_TOOLS=1 (set by `.ci/run`, which
/// installs them) makes it run and fail.
@Suite struct BenchmarkHarnessTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tools = ["nginx", "haproxy", "wrk", "curl", "cc"]
    static var required: Bool { ProcessInfo.processInfo.environment["BULWARK_REQUIRE_BENCH_TOOLS"] == "1" }
    static var missingTools: [String] {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin"
        return tools.filter { tool in
            !path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
    }
    static var runnable: Bool {
        if missingTools.isEmpty || required { return true }
        print("benchmark harness test skipped: missing \(missingTools.joined(separator: ", ")) (apt-get install nginx haproxy wrk curl gcc); set BULWARK_REQUIRE_BENCH_TOOLS=1 to fail instead of skipping")
        return false
    }

    /// The configurations every workload table must have, in order (the start of the first cell).
    static let configurations = [
        "upstream directly", "nginx keepalive proxy", "HAProxy", "bulwark serve, cache none", "bulwark serve, cache memory",
    ]
    /// The sections with one row per configuration.
    static let workloads = ["Summary", "Workload 1", "Workload 2", "Workload 3", "Workload 4", "Workload 5"]

    @Test(.enabled(if: runnable, "nginx, haproxy, wrk, curl or cc missing"), .timeLimit(.minutes(3)))
    func smokeRunProducesEveryColumn() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("bench-harness-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let results = work.appendingPathComponent("RESULTS.md")
        let log = work.appendingPathComponent("run.log")

        let started = ContinuousClock.now
        let status = try await Self.runScript(["--smoke", "--out", results.path], log: log, limit: .seconds(150))
        let elapsed = ContinuousClock.now - started
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try #require(status == 0, "benchmarks/run.sh --smoke exited with \(status) after \(elapsed):\n\(output.suffix(3000))")
        let markdown = try String(contentsOf: results, encoding: .utf8)
        print("benchmark harness smoke run: \(elapsed), \(output.split(separator: "\n").last { $0.hasPrefix("load part") } ?? "")")

        #expect(markdown.contains("Machine: "), "the machine is not named")
        let sections = Self.tables(markdown)
        for workload in Self.workloads {
            guard let table = sections.first(where: { $0.title.hasPrefix(workload) })?.table else {
                Issue.record("no table under \"## \(workload)\" in:\n\(markdown)")
                continue
            }
            Self.check(table, of: workload)
        }
        let targets = try #require(sections.first { $0.title.hasPrefix("Targets") }?.table, "no targets table")
        #expect(targets.rows.count == 9, "\(targets.rows.count) targets")
        for row in targets.rows {
            #expect(row.count == 3 && !row[1].isEmpty && ["PASS", "FAIL"].contains(row[2]), "target row \(row)")
        }
    }

    /// One row per configuration, in order; every cell a number (a ratio may end in ×); calls made and
    /// answered, none failed.
    static func check(_ table: Table, of workload: String) {
        #expect(table.rows.count == configurations.count, "\(workload): \(table.rows.count) rows, not \(configurations.count)")
        for (row, configuration) in zip(table.rows, configurations) {
            #expect(row.first?.hasPrefix(configuration) == true, "\(workload): row \(row.first ?? "") where \(configuration) belongs")
            #expect(row.count == table.header.count, "\(workload), \(configuration): \(row.count) cells under \(table.header.count) columns")
            var values: [String: Double] = [:]
            for (column, cell) in zip(table.header, row).dropFirst() {
                let number = Double(cell.hasSuffix("×") ? String(cell.dropLast()) : cell)
                #expect(number != nil, "\(workload), \(configuration), \(column): \"\(cell)\" is not a number")
                values[column] = number
            }
            for column in ["requests", "getBalance req/s", "batch calls/s", "req/s", "batches/s", "achieved (req/s)", "p50 (µs)"]
            where table.header.contains(column) {
                #expect((values[column] ?? 0) > 0, "\(workload), \(configuration): \(column) is \(values[column] ?? 0)")
            }
            for column in ["errors", "not ok"] where table.header.contains(column) {
                #expect(values[column] == 0, "\(workload), \(configuration): \(values[column] ?? -1) \(column)")
            }
            for column in table.header where column.hasPrefix("peak RSS") || column.hasPrefix("idle RSS") {
                #expect((values[column] ?? 0) > 0, "\(workload), \(configuration): \(column) is \(values[column] ?? 0)")
            }
        }
    }

    struct Table {
        var header: [String]
        var rows: [[String]]
    }

    /// The first table under each `## ` heading.
    static func tables(_ markdown: String) -> [(title: String, table: Table)] {
        var sections: [(title: String, table: Table)] = []
        var title: String?
        var lines: [[String]] = []
        func close() {
            if let title, lines.count >= 2 {
                sections.append((title, Table(header: lines[0], rows: Array(lines.dropFirst(2)))))
            }
            lines = []
        }
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                close()
                title = String(line.dropFirst(3))
            } else if line.hasPrefix("|") {
                lines.append(line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                    .map { $0.trimmingCharacters(in: .whitespaces) })
            } else if !lines.isEmpty {
                close()
                title = nil
            }
        }
        close()
        return sections
    }

    /// Runs `benchmarks/run.sh` with the debug `bulwark`, output into `log`, and returns its exit status.
    /// It starts in a process group of its own, with no signal blocked: the test runner's threads block
    /// SIGINT and SIGTERM, and a child inheriting that mask could not stop wrk early (SIGINT) or be
    /// stopped. After `limit` the group gets SIGTERM (the script's trap stops everything it started),
    /// 10 s later SIGKILL.
    static func runScript(_ arguments: [String], log: URL, limit: Duration) async throws -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        environment["BULWARK_BIN"] = BulwarkProcess.executable.path
        let pid = try spawn(["/bin/bash", repository.appendingPathComponent("benchmarks/run.sh").path] + arguments,
                            environment: environment, output: log)
        var status: Int32 = 0
        var exited = false
        defer { if !exited { kill(-pid, SIGKILL); waitpid(pid, &status, 0) } }  // the test was cancelled
        let deadline = ContinuousClock.now + limit
        var terminated: ContinuousClock.Instant?
        while waitpid(pid, &status, WNOHANG) == 0 {
            if terminated == nil && ContinuousClock.now > deadline {
                kill(-pid, SIGTERM)
                terminated = .now
            } else if let terminated, ContinuousClock.now > terminated + .seconds(10) {
                kill(-pid, SIGKILL)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        exited = true
        // WIFEXITED / WEXITSTATUS by hand (C macros): a signal shows as 128 + its number, as in a shell.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// posix_spawn with stdin from /dev/null, stdout and stderr into `output`, an empty signal mask and
    /// default handlers, in a new process group.
    static func spawn(_ argv: [String], environment: [String: String], output: URL) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (arguments + variables).forEach { free($0) } }
        var pid = pid_t()
        let error = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, variables)
        guard error == 0 else { throw SpawnFailure(message: "posix_spawn \(argv[0]): \(String(cString: strerror(error)))") }
        return pid
    }

    struct SpawnFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
