import ArgumentParser

/// The `bulwark` command line (SPEC section 1).
struct Bulwark: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "A self-hosted, multi-provider JSON-RPC gateway that keeps answering while providers and cloud regions fail.",
        version: version,
        subcommands: [ServeCommand.self, DemoCommand.self, Verify.self, SimnetCommand.self, CheckConfigCommand.self, AuditCommand.self, InitCommand.self, CacheCommand.self, Version.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("bulwark \(Bulwark.version)")
    }
}
