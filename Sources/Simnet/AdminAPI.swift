import EthereumKit
import NIOHTTP1
import Synchronization

/// The simnet's admin HTTP API.
///
/// | request | effect |
/// |---|---|
/// | `GET /faces` | every face: id, url, labels, fault |
/// | `POST /faults` `{"fault": "down", "match": {"cloud": "aws", "region": "us-east-1"}}` | set a fault on every matching face (match keys: id, provider, cloud, region; no match = all faces) |
/// | `DELETE /faults` | every face back to `none` |
/// | `POST /mine` `{"blocks": 3}` | produce blocks now |
/// | `POST /reorg` `{"depth": 3}` | replace the last 3 blocks with a new branch of 4 (1 ≤ depth ≤ finalityDepth); answers `ancestor`, `head`, and the `abandoned` and `adopted` blocks' `number` and `hash` |
/// | `GET /chain` | chainId, head, safe, finalized |
struct AdminAPI: Sendable {
    /// Lets the admin listener be created before the simnet it refers to is complete.
    final class Box: Sendable {
        private let value = Mutex<AdminAPI?>(nil)
        var api: AdminAPI? {
            get { value.withLock { $0 } }
            set { value.withLock { $0 = newValue } }
        }
    }

    unowned let simnet: Simnet

    func handle(_ request: HTTPRequest) -> HTTPReply {
        let path = request.path.split(separator: "?").first.map(String.init) ?? request.path
        switch (request.method, path) {
        case (.GET, "/faces"):
            return .json(facesJSON().serialized())
        case (.GET, "/chain"):
            let head = simnet.chain.headNumber
            let depth = UInt64(simnet.chain.finalityDepth)
            return .json(JSONValue.object([
                "chainId": .quantity(simnet.chain.chainId),
                "head": .quantity(head),
                "safe": .quantity(head >= depth / 2 ? head - depth / 2 : 0),
                "finalized": .quantity(head >= depth ? head - depth : 0),
            ]).serialized())
        case (.POST, "/mine"):
            let count = (try? JSONValue.parse(request.body))?["blocks"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 1
            guard (1...1000).contains(count) else { return error("blocks: expected 1 to 1000", status: .badRequest) }
            return .json(JSONValue.object(["head": .quantity(simnet.mine(count))]).serialized())
        case (.POST, "/reorg"):
            let maximum = simnet.chain.finalityDepth
            guard let body = try? JSONValue.parse(request.body), case .number(let value)? = body["depth"],
                  value.rounded() == value, let depth = Int(exactly: value) else {
                return error(#"expected {"depth": N}, N from 1 to the finality depth (\#(maximum))"#, status: .badRequest)
            }
            do {
                return .json(Self.reorgJSON(try simnet.reorg(depth: depth)).serialized())
            } catch {
                return self.error("reorg refused: \(error.message)", status: .badRequest)
            }
        case (.DELETE, "/faults"):
            let simnet = self.simnet
            return .deferred {
                do {
                    let changed = try await simnet.setFault(.none)
                    return .json(JSONValue.object(["changed": .array(changed.map { .string($0) })]).serialized())
                } catch {
                    return AdminAPI.error("could not clear faults: \(error)", status: .internalServerError)
                }
            }
        case (.POST, "/faults"):
            guard let body = try? JSONValue.parse(request.body), let text = body["fault"]?.stringValue else {
                return error(#"expected {"fault": "...", "match": {...}}"#, status: .badRequest)
            }
            let fault: Fault
            do { fault = try Fault(parsing: text) } catch { return AdminAPI.error(error.message, status: .badRequest) }
            var criteria: [String: String] = [:]
            if let match = body["match"]?.objectValue {
                for (key, value) in match {
                    guard ["id", "face", "provider", "cloud", "region"].contains(key), let text = value.stringValue else {
                        return error("match.\(key): unknown label (use id, provider, cloud, region)", status: .badRequest)
                    }
                    criteria[key] = text
                }
            }
            if let id = body["face"]?.stringValue { criteria["id"] = id }
            let simnet = self.simnet
            let match = criteria
            return .deferred {
                do {
                    let changed = try await simnet.setFault(fault, matching: match)
                    guard !changed.isEmpty else { return AdminAPI.error("no face matches \(match)", status: .notFound) }
                    return .json(JSONValue.object(["fault": .string(fault.description), "changed": .array(changed.map { .string($0) })]).serialized())
                } catch {
                    return AdminAPI.error("could not set the fault: \(error)", status: .internalServerError)
                }
            }
        default:
            return error("unknown admin endpoint \(request.method) \(path)", status: .notFound)
        }
    }

    private func facesJSON() -> JSONValue {
        .array(simnet.faces.map { face in
            .object([
                "id": .string(face.id), "url": .string(face.url), "fault": .string(face.fault.description),
                "labels": .object(["provider": .string(face.provider), "cloud": .string(face.cloud), "region": .string(face.region)]),
            ])
        })
    }

    static func reorgJSON(_ reorg: Reorg) -> JSONValue {
        func blocks(_ hashes: [UInt64: Bytes32]) -> JSONValue {
            .array(hashes.sorted { $0.key < $1.key }.map { .object(["number": .quantity($0.key), "hash": .data($0.value.bytes)]) })
        }
        return .object([
            "depth": .number(Double(reorg.depth)),
            "ancestor": .quantity(reorg.ancestor),
            "head": .quantity(reorg.head),
            "abandoned": blocks(reorg.abandoned),
            "adopted": blocks(reorg.adopted),
        ])
    }

    static func error(_ message: String, status: HTTPResponseStatus) -> HTTPReply {
        .json(JSONValue.object(["error": .string(message)]).serialized(), status: status)
    }

    private func error(_ message: String, status: HTTPResponseStatus) -> HTTPReply {
        Self.error(message, status: status)
    }
}
