import ArgumentParser
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the command and maps every failure to one line on stderr and the exit
/// codes of SPEC section 1 (the argument parser's usage-error code 64 becomes 2).
func runBulwark() async -> Never {
    do {
        var command = try Bulwark.parseAsRoot()
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
        exit(0)
    } catch let failure as CommandFailure {
        printError(failure.message)
        exit(failure.exitCode)
    } catch {
        let code = Bulwark.exitCode(for: error)
        if code == .success {
            Bulwark.exit(withError: error)  // --help, --version: the parser prints them
        }
        let message = Bulwark.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        printError(message)
        exit(code == .validationFailure ? 2 : code.rawValue)
    }
}

func printError(_ message: String) {
    let line = "bulwark: " + message.split(separator: "\n").joined(separator: " ") + "\n"
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

// Swift concurrency runs on the server's event loops: a call's tasks, its upstream I/O and its
// answer stay on the thread its connection lives on, with no hop to a separate thread pool.
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
await runBulwark()
