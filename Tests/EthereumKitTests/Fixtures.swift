import Foundation
@testable import EthereumKit

/// Conformance data copied from ../shared/fixtures (Ethereum Foundation, see the LICENSE files).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func data(_ path: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent(path))
    }

    static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(path), options: [.fragmentsAllowed])
    }

    /// One recorded JSON-RPC exchange of execution-apis/tests: the request and the response.
    struct Exchange {
        let request: [String: Any]
        let response: [String: Any]
        var result: Any? { response["result"] }
        /// The raw JSON text of `result`, as a client would receive it.
        let resultJSON: Data
    }

    /// The first exchange of an `.io` file.
    static func exchange(_ path: String) throws -> Exchange {
        let text = String(decoding: try data("execution-apis/tests/" + path), as: UTF8.self)
        var request: [String: Any] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix(">> ") {
                request = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as! [String: Any]
            } else if line.hasPrefix("<< ") {
                let response = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as! [String: Any]
                let result = response["result"] ?? NSNull()
                let resultJSON = try JSONSerialization.data(withJSONObject: result, options: [.fragmentsAllowed])
                return Exchange(request: request, response: response, resultJSON: resultJSON)
            }
        }
        throw CocoaError(.fileReadCorruptFile)
    }

    static func files(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("execution-apis/tests/" + directory).path)
            .filter { $0.hasSuffix(".io") }.sorted().map { directory + "/" + $0 }
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        self = try! Hex.decode(hex)
    }
}
