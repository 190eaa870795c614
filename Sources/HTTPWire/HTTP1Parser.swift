import NIOCore

/// Reads HTTP/1.1 messages, one after another, from the bytes of one connection: requests on the
/// gateway's edge, responses from an upstream. It keeps only what the gateway acts on (method,
/// target, framing, keep-alive, and a few named headers), hands bodies on as slices of the bytes
/// read (no copy), and reads no further than the caller asks: a server answering one request
/// leaves the pipelined ones after it unread in here until it wants them.
///
/// Strict where leniency lets two readers see different messages (request smuggling): a header
/// name with a space before its colon, a folded line, a bare CR or LF, a request with both
/// `Content-Length` and `Transfer-Encoding`, two different lengths, or a length that is not
/// digits is an error, not a guess.
public struct HTTP1Parser: Sendable {
    public enum Kind: Sendable {
        case request
        /// Responses to requests other than HEAD (the gateway never sends one).
        case response
    }

    public enum Version: Sendable, Equatable {
        case http1_0
        case http1_1
    }

    /// What a request's head says, as far as the gateway reads it.
    public struct RequestHead: Sendable, Equatable {
        public var method: String
        public var target: String
        public var version: Version
        /// Whether the connection stays open after the answer (HTTP/1.1 unless `Connection: close`;
        /// HTTP/1.0 only with `Connection: keep-alive`).
        public var keepAlive: Bool
        /// `Expect: 100-continue`.
        public var expectsContinue = false
        public var apiKey: String?
        public var authorization: String?
    }

    /// What an upstream's response head says, as far as the gateway reads it.
    public struct ResponseHead: Sendable, Equatable {
        public var status: Int
        /// Whether the connection may carry another request after this response.
        public var keepAlive: Bool
        public var headers: HTTPHeaderLines
    }

    public enum Event: Sendable, Equatable {
        case request(RequestHead)
        case response(ResponseHead)
        /// Part of the body (a slice of the bytes read).
        case body(ByteBuffer)
        /// The message is complete.
        case end
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Reason: Sendable, Equatable {
            case malformed
            /// The request line (or status line) and headers are larger than the limit.
            case headTooLarge
            /// A transfer coding other than `chunked`.
            case unsupportedTransferCoding
        }

        public var reason: Reason
        public var description: String

        init(_ reason: Reason, _ description: String) {
            self.reason = reason
            self.description = description
        }
    }

    private enum State: Sendable {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case failed(Failure)
    }

    public let kind: Kind
    /// Largest request line (or status line) and headers, with their line ends.
    public let maxHeadBytes: Int
    private var state = State.head
    /// Bytes read and not yet parsed.
    private var buffer = ByteBuffer()
    /// How far the current head has been searched for its end already.
    private var scanned = 0
    private var trailerBytes = 0

    public init(kind: Kind, maxHeadBytes: Int = 16_384) {
        self.kind = kind
        self.maxHeadBytes = maxHeadBytes
    }

    /// Bytes read and not yet parsed.
    public var bufferedBytes: Int { buffer.readableBytes }

    /// Whether no part of a message has been read (between messages, nothing buffered).
    public var isBetweenMessages: Bool {
        if case .head = state { return buffer.readableBytes == 0 }
        return false
    }

    /// Adds bytes read from the connection.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            if buffer.readerIndex > 4096 { buffer.discardReadBytes() }
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next part of the message from the bytes read so far; nil when more bytes are needed.
    /// After an error the connection is unusable: every further call fails the same way.
    public mutating func next() throws(Failure) -> Event? {
        switch state {
        case .failed(let failure):
            throw failure
        case .head:
            do throws(Failure) { return try nextHead() } catch {
                state = .failed(error)
                throw error
            }
        case .fixed(let remaining):
            if remaining == 0 {
                state = .head
                return .end
            }
            guard buffer.readableBytes > 0 else { return nil }
            let length = min(remaining, buffer.readableBytes)
            state = .fixed(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let length = min(remaining, buffer.readableBytes)
            state = length == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - length)
            return .body(buffer.readSlice(length: length)!)
        case .chunkSize, .chunkDataEnd, .trailers:
            do throws(Failure) { return try nextChunkFraming() } catch {
                state = .failed(error)
                throw error
            }
        }
    }

    /// The connection closed: ends a response whose body runs until the close; nil when a
    /// message was cut short (or none was under way).
    public mutating func connectionClosed() -> Event? {
        guard case .untilClose = state else { return nil }
        state = .head
        return .end
    }

    // MARK: Heads

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    private mutating func nextHead() throws(Failure) -> Event? {
        // Empty lines before a request line are tolerated (RFC 9112 section 2.2).
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            scanned = 0
        }
        guard let headLength = try findHeadEnd() else {
            if buffer.readableBytes > maxHeadBytes {
                throw Failure(.headTooLarge, "the head is larger than \(maxHeadBytes) bytes")
            }
            return nil
        }
        guard headLength <= maxHeadBytes else { throw Failure(.headTooLarge, "the head is larger than \(maxHeadBytes) bytes") }
        scanned = 0
        let head = buffer.readSlice(length: headLength)!
        let kind = self.kind
        let parsed: Parsed = try head.withUnsafeReadableBytes { (bytes) throws(Failure) -> Parsed in
            try Self.parseHead(bytes, kind: kind)
        }
        switch parsed {
        case .request(let request, let framing):
            state = framing
            return .request(request)
        case .response(var response, let framing):
            // The header lines: after the status line, before the blank line.
            let firstLineEnd = head.readableBytesView.firstIndex(of: Self.lf)! + 1 - head.readerIndex
            response.headers = HTTPHeaderLines(lines: head.getSlice(at: head.readerIndex + firstLineEnd, length: headLength - firstLineEnd - 2)!)
            if response.status >= 100 && response.status < 200 {
                // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                guard response.status != 101 else { throw Failure(.malformed, "the upstream switched protocols") }
                return try nextHead()
            }
            state = framing
            return .response(response)
        }
    }

    /// The length of the head (through its blank line) if it has arrived whole. A head whose
    /// lines end in bare LFs is refused here (it would never end otherwise).
    private mutating func findHeadEnd() throws(Failure) -> Int? {
        let start = max(0, scanned - 3)
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count >= 4 else { return nil }
            var index = start
            let last = bytes.count - 4
            while index <= last {
                if bytes[index + 3] != Self.lf {
                    // The next possible end is at least one byte on; skip faster when the byte cannot be part of one.
                    index += bytes[index + 3] == Self.cr ? 1 : 4
                    continue
                }
                if bytes[index] == Self.cr && bytes[index + 1] == Self.lf && bytes[index + 2] == Self.cr { return index + 4 }
                index += 1
            }
            return nil
        }
        if found == nil {
            let bareLF = buffer.withUnsafeReadableBytes { bytes in
                (min(max(1, scanned), bytes.count)..<bytes.count).contains { bytes[$0] == Self.lf && bytes[$0 - 1] != Self.cr }
                    || (scanned == 0 && bytes.first == Self.lf)
            }
            if bareLF { throw Failure(.malformed, "a bare LF in the head") }
            scanned = buffer.readableBytes
        }
        return found
    }

    private enum Parsed {
        case request(RequestHead, State)
        case response(ResponseHead, State)
    }

    /// Header names the gateway reads, lower case.
    private enum Field {
        case contentLength, transferEncoding, connection, expect, apiKey, authorization, other

        init(_ name: UnsafeRawBufferPointer.SubSequence) {
            switch name.count {
            case 6 where HTTP1Parser.equalsLowercased(name, "expect"): self = .expect
            case 9 where HTTP1Parser.equalsLowercased(name, "x-api-key"): self = .apiKey
            case 10 where HTTP1Parser.equalsLowercased(name, "connection"): self = .connection
            case 13 where HTTP1Parser.equalsLowercased(name, "authorization"): self = .authorization
            case 14 where HTTP1Parser.equalsLowercased(name, "content-length"): self = .contentLength
            case 17 where HTTP1Parser.equalsLowercased(name, "transfer-encoding"): self = .transferEncoding
            default: self = .other
            }
        }
    }

    /// `bytes` is the whole head, ending with its blank line.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer, kind: Kind) throws(Failure) -> Parsed {
        let end = bytes.count - 2
        var lineStart = 0
        var lineEnd = try lineEnd(in: bytes, from: 0, before: end)
        let firstLine = bytes[0..<lineEnd]

        var request: RequestHead?
        var response: ResponseHead?
        let version: Version
        switch kind {
        case .request:
            let parsed = try requestLine(firstLine)
            request = parsed
            version = parsed.version
        case .response:
            let parsed = try statusLine(firstLine)
            response = ResponseHead(status: parsed.status, keepAlive: true, headers: HTTPHeaderLines())
            version = parsed.version
        }

        var contentLength: Int?
        var chunked = false
        var transferEncodings = 0
        var close = false
        var keepAliveAsked = false
        lineStart = lineEnd + 2
        while lineStart < end {
            lineEnd = try Self.lineEnd(in: bytes, from: lineStart, before: end)
            let line = bytes[lineStart..<lineEnd]
            lineStart = lineEnd + 2
            guard let first = line.first, first != UInt8(ascii: " ") && first != UInt8(ascii: "\t") else {
                throw Failure(.malformed, "a folded or empty header line")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw Failure(.malformed, "a header line without a colon") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw Failure(.malformed, "a header name that is not a token") }
            let value = trimmed(line[(colon + 1)...])
            guard value.allSatisfy({ $0 != 0 }) else { throw Failure(.malformed, "a NUL byte in a header value") }
            switch Field(name) {
            case .contentLength:
                guard let length = decimal(value) else { throw Failure(.malformed, "Content-Length is not a length") }
                if let contentLength, contentLength != length { throw Failure(.malformed, "two different Content-Length values") }
                contentLength = length
            case .transferEncoding:
                transferEncodings += 1
                guard transferEncodings == 1, equalsLowercased(value, "chunked") else {
                    throw Failure(.unsupportedTransferCoding, "only the chunked transfer coding is supported")
                }
                chunked = true
            case .connection:
                for token in value.split(separator: UInt8(ascii: ",")) {
                    let token = trimmed(token)
                    if equalsLowercased(token, "close") { close = true }
                    if equalsLowercased(token, "keep-alive") { keepAliveAsked = true }
                }
            case .expect where kind == .request:
                request!.expectsContinue = equalsLowercased(value, "100-continue")
            case .apiKey where kind == .request:
                request!.apiKey = String(decoding: value, as: UTF8.self)
            case .authorization where kind == .request:
                request!.authorization = String(decoding: value, as: UTF8.self)
            default:
                break
            }
        }
        let keepAlive = !close && (version == .http1_1 || keepAliveAsked)

        switch kind {
        case .request:
            request!.keepAlive = keepAlive
            if chunked {
                guard contentLength == nil else { throw Failure(.malformed, "both Content-Length and Transfer-Encoding") }
                guard version == .http1_1 else { throw Failure(.malformed, "Transfer-Encoding in an HTTP/1.0 request") }
                return .request(request!, .chunkSize)
            }
            return .request(request!, .fixed(remaining: contentLength ?? 0))
        case .response:
            var head = response!
            head.keepAlive = keepAlive
            if head.status < 200 || head.status == 204 || head.status == 304 { return .response(head, .fixed(remaining: 0)) }
            if chunked {
                // Both framings: the chunked one wins and the connection is not reused (RFC 9112 section 6.3).
                if contentLength != nil { head.keepAlive = false }
                return .response(head, .chunkSize)
            }
            if let contentLength { return .response(head, .fixed(remaining: contentLength)) }
            head.keepAlive = false
            return .response(head, .untilClose)
        }
    }

    /// Where the line starting at `start` ends (the index of its CR); a bare CR or LF is an error.
    private static func lineEnd(in bytes: UnsafeRawBufferPointer, from start: Int, before end: Int) throws(Failure) -> Int {
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == cr {
                guard bytes[index + 1] == lf else { throw Failure(.malformed, "a bare CR in the head") }
                return index
            }
            if byte == lf { throw Failure(.malformed, "a bare LF in the head") }
            index += 1
        }
        return end
    }

    private static func requestLine(_ line: UnsafeRawBufferPointer.SubSequence) throws(Failure) -> RequestHead {
        guard let firstSpace = line.firstIndex(of: UInt8(ascii: " ")) else { throw Failure(.malformed, "not a request line") }
        let method = line[line.startIndex..<firstSpace]
        let rest = line[(firstSpace + 1)...]
        guard let secondSpace = rest.firstIndex(of: UInt8(ascii: " ")) else { throw Failure(.malformed, "not a request line") }
        let target = rest[rest.startIndex..<secondSpace]
        let version = try self.version(rest[(secondSpace + 1)...])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw Failure(.malformed, "not a request method") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw Failure(.malformed, "not a request target") }
        return RequestHead(method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
                           version: version, keepAlive: version == .http1_1)
    }

    private static func statusLine(_ line: UnsafeRawBufferPointer.SubSequence) throws(Failure) -> (version: Version, status: Int) {
        guard line.count >= 12 else { throw Failure(.malformed, "not a status line") }
        let start = line.startIndex
        let version = try self.version(line[start..<(start + 8)])
        let code = line[(start + 9)..<(start + 12)]
        guard line[start + 8] == UInt8(ascii: " "), let status = decimal(code), (100...599).contains(status),
              line.count == 12 || line[start + 12] == UInt8(ascii: " ") else {
            throw Failure(.malformed, "not a status line")
        }
        return (version, status)
    }

    private static func version(_ text: UnsafeRawBufferPointer.SubSequence) throws(Failure) -> Version {
        // "HTTP/1." compared as one word (a generic `starts(with:)` cost more than the rest of the line).
        guard text.count == 8 else { throw Failure(.malformed, "not HTTP/1.0 or HTTP/1.1") }
        let word = UnsafeRawBufferPointer(rebasing: text).loadUnaligned(as: UInt64.self)
        switch UInt64(littleEndian: word) {
        case 0x312E_312F_5054_5448: return .http1_1  // "HTTP/1.1"
        case 0x302E_312F_5054_5448: return .http1_0  // "HTTP/1.0"
        default: throw Failure(.malformed, "not HTTP/1.0 or HTTP/1.1")
        }
    }

    // MARK: Chunked bodies

    private mutating func nextChunkFraming() throws(Failure) -> Event? {
        while true {
            switch state {
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw Failure(.malformed, "a chunk longer than its size") }
                state = .chunkSize
            case .chunkSize:
                guard let line = try readLine(limit: 1024, tooLong: .malformed) else { return nil }
                let size: Int? = line.withUnsafeReadableBytes { bytes in
                    // The size, then maybe `;extensions` (ignored).
                    let digits = bytes.prefix { $0 != UInt8(ascii: ";") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                    return Self.hexadecimal(digits)
                }
                guard let size else { throw Failure(.malformed, "not a chunk size") }
                if size == 0 {
                    trailerBytes = 0
                    state = .trailers
                } else {
                    state = .chunkData(remaining: size)
                    return try next()
                }
            case .trailers:
                guard let line = try readLine(limit: maxHeadBytes - trailerBytes, tooLong: .headTooLarge) else { return nil }
                trailerBytes += line.readableBytes + 2
                guard trailerBytes <= maxHeadBytes else { throw Failure(.headTooLarge, "the trailers are larger than \(maxHeadBytes) bytes") }
                if line.readableBytes == 0 {
                    state = .head
                    return .end
                }
            default:
                return try next()
            }
        }
    }

    /// The next line without its CRLF, if it has arrived whole.
    private mutating func readLine(limit: Int, tooLong: Failure.Reason) throws(Failure) -> ByteBuffer? {
        let end: Int? = buffer.withUnsafeReadableBytes { $0.firstIndex(of: Self.lf) }
        guard let end else {
            if buffer.readableBytes > limit { throw Failure(tooLong, "a chunk size or trailer line longer than \(limit) bytes") }
            return nil
        }
        guard end > 0, buffer.getInteger(at: buffer.readerIndex + end - 1, as: UInt8.self) == Self.cr else {
            throw Failure(.malformed, "a bare LF in the chunk framing")
        }
        guard end - 1 <= limit else { throw Failure(tooLong, "a chunk size or trailer line longer than \(limit) bytes") }
        let line = buffer.readSlice(length: end - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    // MARK: Bytes

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// Whether `bytes` equals `lowercase` ignoring ASCII case.
    static func equalsLowercased(_ bytes: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        lowercase.withUTF8Buffer { equalsLowercased(bytes, $0) }
    }

    /// Whether `bytes` equals `lowercase` (lower-case ASCII already) ignoring ASCII case.
    static func equalsLowercased(_ bytes: some Collection<UInt8>, _ lowercase: some Collection<UInt8>) -> Bool {
        bytes.count == lowercase.count && zip(bytes, lowercase).allSatisfy { byte, want in (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == want }
    }

    static func trimmed(_ bytes: UnsafeRawBufferPointer.SubSequence) -> UnsafeRawBufferPointer.SubSequence {
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return bytes[start..<end]
    }

    /// A non-negative decimal of at most 15 digits.
    static func decimal(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }

    /// A chunk size: hexadecimal digits, at most 12 of them.
    static func hexadecimal(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 12 else { return nil }
        var value = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | Int(nibble)
        }
        return value
    }
}
