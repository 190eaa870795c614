import Cache
import Foundation
import Synchronization

/// A fresh directory under the system's temporary directory; `remove()` deletes it and its files.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("bulwark-cache-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    func path(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

func key(_ chain: String, _ method: String, _ params: String) -> CacheKey {
    CacheKey(chain: chain, method: method, params: params)
}

func key(chain: String = "1", method: String = "eth_getBlockByNumber", params: String = #"["0x1",false]"#) -> CacheKey {
    CacheKey(chain: chain, method: method, params: params)
}

func entry(_ text: String, storedAt: Int64 = 1_700_000_000_000) -> CacheEntry {
    CacheEntry(value: Array(text.utf8), storedAt: storedAt)
}

/// An entry whose key and value together take exactly `size` bytes under `key`.
func entry(filling size: Int, under key: CacheKey, byte: UInt8 = 0x61) -> CacheEntry {
    CacheEntry(value: [UInt8](repeating: byte, count: max(0, size - key.byteCount)), storedAt: 1)
}

/// A wall clock the test moves by hand (milliseconds since the Unix epoch).
final class ManualClock: Sendable {
    private let milliseconds: Mutex<Int64>

    init(_ start: Int64 = 1_700_000_000_000) {
        milliseconds = Mutex(start)
    }

    var now: Int64 { milliseconds.withLock { $0 } }

    func advance(byMilliseconds delta: Int64) {
        milliseconds.withLock { $0 += delta }
    }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() {
            return true
        }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}
