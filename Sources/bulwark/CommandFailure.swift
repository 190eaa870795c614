import ArgumentParser

/// How a command ends unsuccessfully, with the exit codes of SPEC section 1:
/// 1 when a check failed, 2 for unusable input or a usage error.
enum CommandFailure: Error {
    case checkFailed(String)
    case badInput(String)
    case usage(String)

    var message: String {
        switch self {
        case .checkFailed(let m), .badInput(let m), .usage(let m): m
        }
    }

    var exitCode: Int32 {
        switch self {
        case .checkFailed: 1
        case .badInput, .usage: 2
        }
    }
}
