import NIOCore

/// The header lines of a message as they arrived, read only when asked: looking a header up
/// scans the lines, so a message whose headers nobody reads costs no parsing and no strings.
public struct HTTPHeaderLines: Sendable, Equatable {
    /// `Name: value` lines, each ending with CRLF (the start line and the blank line excluded).
    var lines: ByteBuffer

    init(lines: ByteBuffer) {
        self.lines = lines
    }

    public init(_ fields: [(name: String, value: String)] = []) {
        var lines = ByteBuffer()
        for (name, value) in fields { lines.writeString("\(name): \(value)\r\n") }
        self.lines = lines
    }

    /// The first value of the header `name` (any case), without surrounding spaces.
    public subscript(name: String) -> String? {
        let wanted = Array(name.utf8).map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        return lines.withUnsafeReadableBytes { bytes -> String? in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\r") { end += 1 }
                let line = bytes[start..<end]
                start = end + 2
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")), HTTP1Parser.equalsLowercased(line[line.startIndex..<colon], wanted) else { continue }
                return String(decoding: HTTP1Parser.trimmed(line[(colon + 1)...]), as: UTF8.self)
            }
            return nil
        }
    }
}
