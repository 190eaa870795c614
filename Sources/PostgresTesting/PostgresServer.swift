import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, then `pg_ctl`
/// on 127.0.0.1 with a free port, trust authentication and its unix socket in that directory.
/// It can be stopped and started again (same port, same data) to simulate a database outage.
///
/// PostgreSQL refuses to run as root, so when the tests run as root the server commands run as
/// the `postgres` OS user (`runuser`) and the directory belongs to it.
public final class PostgresServer: Sendable {
    /// The port the server listens on, on 127.0.0.1.
    public let port: Int
    /// The temporary directory holding the cluster (`data/`), its socket and its log.
    public let directory: URL
    private let binaries: Binaries
    private let state = Mutex(State.stopped)

    private enum State {
        case stopped, running, destroyed
    }

    /// A connection URL for the `postgres` superuser (no password: trust authentication on loopback).
    public var url: String { url(database: "postgres") }

    /// A connection URL for the `postgres` superuser and `database` (see `createDatabase`).
    public func url(database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Initialises a new cluster and starts it. Throws `PostgresServerError` naming
    /// `apt-get install postgresql` when the PostgreSQL binaries cannot be found.
    ///
    /// - Parameter searchPaths: directories to look for `initdb` and `pg_ctl` in; by default `PATH`
    ///   and then `/usr/lib/postgresql/*/bin`, newest version first.
    public static func start(searchPaths: [String]? = nil) async throws -> PostgresServer {
        let binaries = try Binaries.locate(in: searchPaths ?? Binaries.defaultSearchPaths())
        let directory = try makeDirectory()
        do {
            try await initialiseCluster(in: directory, binaries: binaries)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        // A free port can be taken between probing and binding: try a few.
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port: Int
            do {
                port = try freeLoopbackPort()
            } catch {
                lastError = error
                continue
            }
            let server = PostgresServer(port: port, directory: directory, binaries: binaries)
            do {
                try server.writePortConfiguration()
                try await server.start()
                return server
            } catch {
                lastError = error
                // In case it came up after pg_ctl gave up waiting; then keep the directory for the next attempt.
                _ = try? asServerUser(
                    binaries.pgCtl,
                    ["-D", server.dataDirectory.path, "-m", "immediate", "-w", "-t", "10", "stop"],
                    directory: directory
                ).run(timeout: 15)
                server.state.withLock { $0 = .destroyed }
            }
        }
        try? FileManager.default.removeItem(at: directory)
        throw lastError!
    }

    /// Whether `initdb` and `pg_ctl` can be found (in `PATH` or under `/usr/lib/postgresql/*/bin`).
    public static var isInstalled: Bool {
        (try? Binaries.locate(in: Binaries.defaultSearchPaths())) != nil
    }

    private init(port: Int, directory: URL, binaries: Binaries) {
        self.port = port
        self.directory = directory
        self.binaries = binaries
    }

    deinit {
        destroySynchronously()
    }

    /// Starts the server again on the same port with the same data (after `stop()`). Waits until it accepts connections.
    public func start() async throws {
        let shouldStart = try state.withLock { state -> Bool in
            switch state {
            case .running: return false
            case .stopped: return true
            case .destroyed: throw PostgresServerError("the server has been destroyed")
            }
        }
        guard shouldStart else { return }
        try await runServerCommand(
            binaries.pgCtl,
            ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "30", "start"],
            what: "pg_ctl start"
        )
        state.withLock { if case .stopped = $0 { $0 = .running } }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): connections are cut, nothing is flushed.
    public func stop() async throws {
        let shouldStop = state.withLock { state -> Bool in
            guard case .running = state else { return false }
            state = .stopped
            return true
        }
        guard shouldStop else { return }
        try await runServerCommand(
            binaries.pgCtl,
            ["-D", dataDirectory.path, "-m", "immediate", "-w", "-t", "30", "stop"],
            what: "pg_ctl stop"
        )
    }

    /// Stops the server and removes its directory. Also done (best effort) when the object goes away.
    /// Blocks the calling thread while `pg_ctl stop` runs; in async code prefer `await destroy()`.
    public func destroy() {
        destroySynchronously()
    }

    /// Stops the server and removes its directory, without blocking a thread of Swift's cooperative pool.
    public func destroy() async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.destroySynchronously()
                continuation.resume()
            }
        }
    }

    /// Creates a database (`createdb` over TCP) and returns its URL; lets parallel tests share one server.
    public func createDatabase(_ name: String) async throws -> String {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !name.isEmpty else {
            throw PostgresServerError("invalid database name \(name.debugDescription): use letters, digits and _")
        }
        let createdb = binaries.directory.appendingPathComponent("createdb")
        try await runCommand(
            ProcessCommand(
                executable: createdb,
                arguments: ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name],
                directory: directory
            ),
            what: "createdb \(name)"
        )
        return url(database: name)
    }

    // MARK: - Implementation

    private var dataDirectory: URL { directory.appendingPathComponent("data") }
    private var logFile: URL { directory.appendingPathComponent("server.log") }

    private func destroySynchronously() {
        let wasRunning = state.withLock { state -> Bool? in
            switch state {
            case .destroyed: return nil
            case .running: state = .destroyed; return true
            case .stopped: state = .destroyed; return false
            }
        }
        guard let wasRunning else { return }
        if wasRunning {
            let command = Self.asServerUser(
                binaries.pgCtl,
                ["-D", dataDirectory.path, "-m", "immediate", "-w", "-t", "10", "stop"],
                directory: directory
            )
            _ = try? command.run(timeout: 15)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private func writePortConfiguration() throws {
        // Appended last, so these win over anything earlier in postgresql.conf; kept across restarts.
        // fsync off is safe for a server that only ever crashes (stop -m immediate), not the machine;
        // synchronous_commit stays on, or commits acknowledged just before such a stop would be lost.
        let settings = """

            # bulwark PostgresServer
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory.path)'
            fsync = off
            full_page_writes = off
            max_connections = 200
            shared_buffers = 16MB

            """
        let configuration = dataDirectory.appendingPathComponent("postgresql.conf")
        let handle = try FileHandle(forWritingTo: configuration)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    private func runServerCommand(_ executable: URL, _ arguments: [String], what: String) async throws {
        do {
            try await Self.runCommand(Self.asServerUser(executable, arguments, directory: directory), what: what)
        } catch let error as PostgresServerError {
            throw PostgresServerError("\(error.message)\(Self.tail(of: logFile, label: "server log"))")
        }
    }

    private func runCommand(_ command: ProcessCommand, what: String) async throws {
        try await Self.runCommand(command, what: what)
    }

    private static func runCommand(_ command: ProcessCommand, what: String) async throws {
        // Process waits block a thread: keep them off the cooperative pool.
        let result = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                // A little longer than pg_ctl's own -t 30, so that its message wins.
                continuation.resume(returning: Result { try command.run(timeout: 35) })
            }
        }
        let outcome: ProcessCommand.Outcome
        do {
            outcome = try result.get()
        } catch {
            throw PostgresServerError("\(what) could not run: \(error)")
        }
        switch outcome {
        case .exited(0, _):
            return
        case .exited(let status, let output):
            throw PostgresServerError("\(what) failed with exit status \(status)\(tail(output, label: "output"))")
        case .timedOut(let output):
            throw PostgresServerError("\(what) did not finish within 35 s\(tail(output, label: "output"))")
        }
    }

    private static func initialiseCluster(in directory: URL, binaries: Binaries) async throws {
        let data = directory.appendingPathComponent("data")
        try await runCommand(
            asServerUser(
                binaries.initdb,
                ["-D", data.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                directory: directory
            ),
            what: "initdb"
        )
    }

    private static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bulwark-postgres-\(UUID().uuidString.prefix(8).lowercased())")
        // PostgreSQL insists that its data directory is private to its owner.
        try FileManager.default.createDirectory(
            at: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        if geteuid() == 0 {
            guard let user = getpwnam("postgres") else {
                try? FileManager.default.removeItem(at: directory)
                throw PostgresServerError(
                    "running as root, but there is no `postgres` OS user to run PostgreSQL as (apt-get install postgresql creates it)"
                )
            }
            guard chown(directory.path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                try? FileManager.default.removeItem(at: directory)
                throw PostgresServerError("could not hand \(directory.path) to the postgres user (errno \(errno))")
            }
        }
        return directory
    }

    /// Runs `executable` as the `postgres` user when we are root (PostgreSQL refuses root).
    private static func asServerUser(_ executable: URL, _ arguments: [String], directory: URL) -> ProcessCommand {
        if geteuid() == 0 {
            return ProcessCommand(
                executable: URL(fileURLWithPath: "/usr/sbin/runuser"),
                arguments: ["-u", "postgres", "--", executable.path] + arguments,
                directory: directory
            )
        }
        return ProcessCommand(executable: executable, arguments: arguments, directory: directory)
    }

    private static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresServerError("socket() failed (errno \(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else { throw PostgresServerError("could not find a free port on 127.0.0.1 (errno \(errno))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func tail(_ text: String, label: String, lines: Int = 20) -> String {
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines)
        let joined = kept.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        return joined.isEmpty ? "" : "\n--- \(label) (last \(lines) lines) ---\n\(joined)"
    }

    private static func tail(of file: URL, label: String) -> String {
        guard let data = FileManager.default.contents(atPath: file.path) else { return "" }
        return tail(String(decoding: data, as: UTF8.self), label: label)
    }
}

/// Why the test server could not be set up or controlled; the message carries the command's output tail.
public struct PostgresServerError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// The PostgreSQL binaries of one installation.
private struct Binaries: Sendable {
    var directory: URL
    var initdb: URL { directory.appendingPathComponent("initdb") }
    var pgCtl: URL { directory.appendingPathComponent("pg_ctl") }

    static func defaultSearchPaths() -> [String] {
        let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map(String.init) ?? []
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let installed = versions
            .sorted { (Int($0) ?? 0, $0) > (Int($1) ?? 0, $1) }
            .map { "\(root)/\($0)/bin" }
        return path + installed
    }

    static func locate(in searchPaths: [String]) throws -> Binaries {
        let fileManager = FileManager.default
        for path in searchPaths where !path.isEmpty {
            let directory = URL(fileURLWithPath: path)
            guard fileManager.isExecutableFile(atPath: directory.appendingPathComponent("initdb").path),
                fileManager.isExecutableFile(atPath: directory.appendingPathComponent("pg_ctl").path)
            else { continue }
            // Debian links the binaries into PATH; use the real directory so createdb and postgres sit beside them.
            let resolved = directory.appendingPathComponent("initdb").resolvingSymlinksInPath().deletingLastPathComponent()
            return Binaries(directory: resolved)
        }
        throw PostgresServerError(
            "PostgreSQL is not installed: initdb and pg_ctl were not found in PATH or /usr/lib/postgresql/*/bin "
                + "(install it with `apt-get install postgresql`)"
        )
    }
}

/// One external command, its output captured in a file, with a hard time limit.
///
/// Spawned with `posix_spawn` rather than Foundation's `Process`, for two reasons. `pg_ctl start`
/// leaves a daemon behind, and that daemon inherits every descriptor not marked close-on-exec;
/// `Process` learns that its child exited when a socket it shares with the child closes, so with
/// the server holding it, it never learns. Here descriptors from 3 up are closed in the child,
/// and the exit is polled with `waitpid`. And the child gets an empty signal mask and default
/// handlers, not whatever the spawning thread (often a Dispatch worker, all signals blocked) had.
private struct ProcessCommand: Sendable {
    var executable: URL
    var arguments: [String]
    var directory: URL

    enum Outcome {
        case exited(Int32, output: String)
        case timedOut(output: String)
    }

    /// Runs the command, blocking the calling thread for at most `timeout` seconds (then SIGKILL).
    func run(timeout: TimeInterval) throws -> Outcome {
        let outputFile = directory.appendingPathComponent("command-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: outputFile) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        guard let closeFrom = GlibcSpawnExtensions.addCloseFrom, let changeDirectory = GlibcSpawnExtensions.addChangeDirectory else {
            throw PostgresServerError("posix_spawn_file_actions_addclosefrom_np needs glibc 2.34 or newer")
        }
        _ = closeFrom(&actions, 3)
        _ = directory.path.withCString { changeDirectory(&actions, $0) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }

        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable.path, &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw PostgresServerError("could not start \(executable.path): \(String(cString: strerror(spawned)))")
        }

        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        var timedOut = false
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0, errno != EINTR {
                throw PostgresServerError("waiting for \(executable.path) failed (errno \(errno))")
            }
            if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                timedOut = true
                break
            }
            usleep(10_000)
        }

        let data = FileManager.default.contents(atPath: outputFile.path) ?? Data()
        let output = String(decoding: data, as: UTF8.self)
        if timedOut { return .timedOut(output: output) }
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        let exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return .exited(exitStatus, output: output)
    }
}

/// glibc's `posix_spawn` extensions (2.29 / 2.34), which Swift's Glibc module does not import
/// because they are declared only for _GNU_SOURCE; looked up at run time.
private enum GlibcSpawnExtensions {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let addChangeDirectory: AddChangeDirectory? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}
