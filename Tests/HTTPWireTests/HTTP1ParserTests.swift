import HTTPWire
import NIOCore
import Testing

/// One message as a server or client sees it: its head, its whole body, and whether it ended.
struct Message: Equatable {
    var request: HTTP1Parser.RequestHead?
    var response: HTTP1Parser.ResponseHead?
    var body = ""
    var ended = false
}

/// Feeds text to a parser and drains every event after each piece.
struct Reader {
    var parser: HTTP1Parser
    var messages: [Message] = []

    init(_ kind: HTTP1Parser.Kind = .request, maxHeadBytes: Int = 16_384) {
        parser = HTTP1Parser(kind: kind, maxHeadBytes: maxHeadBytes)
    }

    mutating func feed(_ text: String) throws(HTTP1Parser.Failure) {
        parser.append(ByteBuffer(string: text))
        while let event = try parser.next() { record(event) }
    }

    mutating func close() {
        if let event = parser.connectionClosed() { record(event) }
    }

    private mutating func record(_ event: HTTP1Parser.Event) {
        switch event {
        case .request(let head):
            messages.append(Message(request: head))
        case .response(let head):
            messages.append(Message(response: head))
        case .body(let bytes):
            #expect(bytes.readableBytes > 0, "an empty body slice")
            guard !messages.isEmpty, !messages[messages.count - 1].ended else {
                Issue.record("a body slice outside a message")
                return
            }
            messages[messages.count - 1].body += String(buffer: bytes)
        case .end:
            guard !messages.isEmpty, !messages[messages.count - 1].ended else {
                Issue.record("an end outside a message")
                return
            }
            messages[messages.count - 1].ended = true
        }
    }
}

func read(_ pieces: [String], as kind: HTTP1Parser.Kind = .request, maxHeadBytes: Int = 16_384) throws(HTTP1Parser.Failure) -> [Message] {
    var reader = Reader(kind, maxHeadBytes: maxHeadBytes)
    for piece in pieces { try reader.feed(piece) }
    return reader.messages
}

func read(_ text: String, as kind: HTTP1Parser.Kind = .request, maxHeadBytes: Int = 16_384) throws(HTTP1Parser.Failure) -> [Message] {
    try read([text], as: kind, maxHeadBytes: maxHeadBytes)
}

/// Why `body` fails, or nil when it does not.
func failure(of body: () throws(HTTP1Parser.Failure) -> Void) -> HTTP1Parser.Failure.Reason? {
    do {
        try body()
        return nil
    } catch {
        return error.reason
    }
}

func failure(reading text: String, as kind: HTTP1Parser.Kind = .request, maxHeadBytes: Int = 16_384) -> HTTP1Parser.Failure.Reason? {
    failure { () throws(HTTP1Parser.Failure) in _ = try read(text, as: kind, maxHeadBytes: maxHeadBytes) }
}

func bytewise(_ text: String) -> [String] {
    text.utf8.map { String(decoding: [$0], as: UTF8.self) }
}

func split(_ text: String, at offset: Int) -> [String] {
    let bytes = Array(text.utf8)
    return [String(decoding: bytes[..<offset], as: UTF8.self), String(decoding: bytes[offset...], as: UTF8.self)]
}

let post = "POST /rpc?x=1 HTTP/1.1\r\nHost: node\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"id\":1234}"

let chunkedPost = "POST /rpc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    + "5\r\nhello\r\n"
    + "1;name=val\r\n \r\n"
    + "a\r\n0123456789\r\n"
    + "1A;x=\"q\";y\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    + "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"

let chunkedBody = "hello 0123456789abcdefghijklmnopqrstuvwxyz"

@Suite struct Requests {
    @Test func postWithContentLengthGivesHeadBodyAndEnd() throws {
        let messages = try read(post)
        try #require(messages.count == 1)
        let head = try #require(messages[0].request)
        #expect(head.method == "POST")
        #expect(head.target == "/rpc?x=1")
        #expect(head.version == .http1_1)
        #expect(head.keepAlive)
        #expect(!head.expectsContinue)
        #expect(head.apiKey == nil)
        #expect(head.authorization == nil)
        #expect(messages[0].body == "{\"id\":1234}")
        #expect(messages[0].ended)
    }

    @Test func byteByByteFeedGivesTheSameMessage() throws {
        #expect(try read(bytewise(post)) == read(post))
    }

    @Test func everySplitPointGivesTheSameMessage() throws {
        let whole = try read(post)
        for offset in 1..<post.utf8.count {
            #expect(try read(split(post, at: offset)) == whole, "split at \(offset)")
        }
    }

    @Test func pipelinedRequestsAreReadOnlyAsFarAsAsked() throws {
        let first = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        let second = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nbye"
        var parser = HTTP1Parser(kind: .request)
        parser.append(ByteBuffer(string: first + second))

        guard case .request(let a) = try parser.next() else { Issue.record("no first head"); return }
        #expect(a.target == "/a")
        #expect(parser.bufferedBytes == 5 + second.utf8.count)
        #expect(try parser.next() == .body(ByteBuffer(string: "hello")))
        #expect(parser.bufferedBytes == second.utf8.count)
        #expect(try parser.next() == .end)
        #expect(parser.bufferedBytes == second.utf8.count)
        #expect(!parser.isBetweenMessages)

        guard case .request(let b) = try parser.next() else { Issue.record("no second head"); return }
        #expect(b.target == "/b")
        #expect(parser.bufferedBytes == 3)
        #expect(try parser.next() == .body(ByteBuffer(string: "bye")))
        #expect(try parser.next() == .end)
        #expect(parser.bufferedBytes == 0)
        #expect(parser.isBetweenMessages)
        #expect(try parser.next() == nil)
    }

    @Test func fiftyPipelinedRequestsComeOutInOrder() throws {
        let requests = (0..<50).map { index in
            let body = String(repeating: "b", count: index)
            return "POST /\(index) HTTP/1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        let text = requests.joined()
        for pieces in [[text], bytewise(text)] {
            let messages = try read(pieces)
            try #require(messages.count == 50)
            for (index, message) in messages.enumerated() {
                #expect(message.request?.target == "/\(index)")
                #expect(message.body == String(repeating: "b", count: index))
                #expect(message.ended)
            }
        }
    }

    @Test func getWithoutBodyEndsAtOnce() throws {
        var parser = HTTP1Parser(kind: .request)
        parser.append(ByteBuffer(string: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        guard case .request(let head) = try parser.next() else { Issue.record("no head"); return }
        #expect(head.method == "GET")
        #expect(head.target == "/health")
        #expect(try parser.next() == .end)
        #expect(parser.isBetweenMessages)
        #expect(try parser.next() == nil)
    }

    @Test func emptyLinesBeforeRequestLineAreSkipped() throws {
        let text = "\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n"
        for pieces in [[text], bytewise(text)] {
            let messages = try read(pieces)
            #expect(messages.count == 1)
            #expect(messages.first?.request?.method == "GET")
            #expect(messages.first?.ended == true)
        }
    }

    @Test(arguments: [
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: Upgrade, KEEP-ALIVE\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nconnection:  CLOSE \r\n\r\n", false),
        ("GET / HTTP/1.1\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: Upgrade,close\r\n\r\n", false),
    ])
    func keepAliveFollowsVersionAndConnection(text: String, keepAlive: Bool) throws {
        let head = try #require(try read(text).first?.request)
        #expect(head.keepAlive == keepAlive)
        #expect(head.version == (text.contains("HTTP/1.0") ? .http1_0 : .http1_1))
    }

    @Test(arguments: ["Expect: 100-continue", "expect: 100-Continue", "EXPECT:100-CONTINUE", "Expect:  100-continue  "])
    func expectContinueIsNoticed(field: String) throws {
        let text = "POST / HTTP/1.1\r\n\(field)\r\nContent-Length: 2\r\n\r\n"
        let messages = try read(text)
        #expect(messages.first?.request?.expectsContinue == true)
        #expect(messages.first?.ended == false)
    }

    @Test func otherExpectationsAreNotContinue() throws {
        #expect(try read("POST / HTTP/1.1\r\nExpect: something\r\n\r\n").first?.request?.expectsContinue == false)
    }

    @Test func apiKeyAndAuthorizationAreCapturedTrimmed() throws {
        let text = "GET / HTTP/1.1\r\nX-Api-Key:   k3y-123 \t\r\nAuthorization: \tBearer abc.def  \r\n\r\n"
        let head = try #require(try read(text).first?.request)
        #expect(head.apiKey == "k3y-123")
        #expect(head.authorization == "Bearer abc.def")
    }

    @Test func headerNamesAreCaseInsensitive() throws {
        let text = "POST / HTTP/1.1\r\nx-api-KEY: k\r\nAUTHORIZATION: Basic x\r\ncontent-LENGTH: 3\r\nEXPECT: 100-continue\r\n\r\nabc"
        let messages = try read(text)
        let head = try #require(messages.first?.request)
        #expect(head.apiKey == "k")
        #expect(head.authorization == "Basic x")
        #expect(head.expectsContinue)
        #expect(messages.first?.body == "abc")
        #expect(messages.first?.ended == true)
    }
}

@Suite struct ChunkedBodies {
    @Test func chunksExtensionsAndTrailersGiveTheWholeBody() throws {
        let messages = try read(chunkedPost + "GET /next HTTP/1.1\r\n\r\n")
        try #require(messages.count == 2)
        #expect(messages[0].body == chunkedBody)
        #expect(messages[0].ended)
        #expect(messages[1].request?.target == "/next")
        #expect(messages[1].ended)
    }

    @Test func bodySplitAtEveryPointIsTheSame() throws {
        let whole = try read(chunkedPost)
        #expect(whole.first?.body == chunkedBody)
        for offset in 1..<chunkedPost.utf8.count {
            #expect(try read(split(chunkedPost, at: offset)) == whole, "split at \(offset)")
        }
        #expect(try read(bytewise(chunkedPost)) == whole)
    }

    @Test func chunkedIsCaseInsensitive() throws {
        let messages = try read("POST / HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        #expect(messages.first?.body == "abc")
        #expect(messages.first?.ended == true)
    }

    @Test func chunkLongerThanItsSizeIsRefused() {
        #expect(failure(reading: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n") == .malformed)
    }

    @Test(arguments: ["g", "0x5", "-5", "", " 5", "5\u{0B}", "1234567890abc"])
    func chunkSizeThatIsNotHexIsRefused(size: String) {
        #expect(failure(reading: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nhello\r\n0\r\n\r\n") == .malformed)
    }

    @Test func bareLFInChunkFramingIsRefused() {
        #expect(failure(reading: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n") == .malformed)
    }
}

@Suite struct Smuggling {
    @Test(arguments: [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
        "Transfer-Encoding: chunked\r\nContent-Length: 0",
    ])
    func bothLengthAndChunkedIsRefused(fields: String) {
        #expect(failure(reading: "POST / HTTP/1.1\r\n\(fields)\r\n\r\n0\r\n\r\n") == .malformed)
    }

    @Test func twoDifferentLengthsAreRefused() {
        #expect(failure(reading: "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") == .malformed)
    }

    @Test func twoEqualLengthsAreAccepted() throws {
        let messages = try read("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello")
        #expect(messages.first?.body == "hello")
        #expect(messages.first?.ended == true)
    }

    @Test(arguments: ["-1", "1e3", "+5", "", "0x10", "5 5", "5,5", "1.0", "9999999999999999"])
    func lengthThatIsNotDigitsIsRefused(value: String) {
        #expect(failure(reading: "POST / HTTP/1.1\r\nContent-Length: \(value)\r\n\r\nhello") == .malformed)
    }

    @Test(arguments: ["Content-Length : 5", "Content-Length\t: 5", "Host : x"])
    func whitespaceBeforeColonIsRefused(field: String) {
        #expect(failure(reading: "POST / HTTP/1.1\r\n\(field)\r\n\r\nhello") == .malformed)
    }

    @Test(arguments: [" ", "\t"])
    func foldedLineIsRefused(fold: String) {
        #expect(failure(reading: "GET / HTTP/1.1\r\nX-Long: a\r\n\(fold)b\r\n\r\n") == .malformed)
        #expect(failure(reading: "GET / HTTP/1.1\r\n\(fold)Host: x\r\n\r\n") == .malformed)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\r\n",
    ])
    func bareLFInHeadIsRefused(text: String) {
        #expect(failure(reading: text) == .malformed)
    }

    @Test func headEndingInBareLFsIsRefused() {
        #expect(failure(reading: "GET / HTTP/1.1\nHost: x\n\n") == .malformed)
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nX-A: a\rContent-Length: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A\r: a\r\n\r\n",
        "GET / HTTP/1.1\rHost: x\r\n\r\n",
    ])
    func bareCRInHeadIsRefused(text: String) {
        #expect(failure(reading: text) == .malformed)
    }

    @Test(arguments: [
        "GET\r\n", "GET /\r\n", "GET HTTP/1.1\r\n", "GET  HTTP/1.1\r\n", " GET / HTTP/1.1\r\n",
        "GET / HTTP/1.1 \r\n", "GET / / HTTP/1.1\r\n", "G(T / HTTP/1.1\r\n",
    ])
    func incompleteRequestLineIsRefused(line: String) {
        #expect(failure(reading: line + "Host: x\r\n\r\n") == .malformed)
    }

    @Test(arguments: ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1", "HTTP/1.10", "HTTP/11"])
    func otherVersionsAreRefused(version: String) {
        #expect(failure(reading: "GET / \(version)\r\nHost: x\r\n\r\n") == .malformed)
    }

    @Test func transferEncodingInHTTP10IsRefused() {
        #expect(failure(reading: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == .malformed)
    }

    @Test func headerLineWithoutColonIsRefused() {
        #expect(failure(reading: "GET / HTTP/1.1\r\nHost x\r\n\r\n") == .malformed)
    }

    @Test func emptyHeaderNameIsRefused() {
        #expect(failure(reading: "GET / HTTP/1.1\r\n: x\r\n\r\n") == .malformed)
    }

    @Test(arguments: [
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: chunked, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: identity",
    ])
    func otherTransferCodingsAreUnsupported(fields: String) {
        #expect(failure(reading: "POST / HTTP/1.1\r\n\(fields)\r\n\r\n0\r\n\r\n") == .unsupportedTransferCoding)
    }
}

@Suite struct Limits {
    static let head = "GET /limit HTTP/1.1\r\nHost: x\r\nX-Pad: 0123456789\r\n\r\n"

    @Test func headExactlyAtLimitIsAccepted() throws {
        let limit = Self.head.utf8.count
        #expect(try read(Self.head, maxHeadBytes: limit).first?.request?.target == "/limit")
        #expect(try read(bytewise(Self.head), maxHeadBytes: limit).first?.ended == true)
    }

    @Test func completeHeadOverLimitIsRefused() {
        #expect(failure(reading: Self.head, maxHeadBytes: Self.head.utf8.count - 1) == .headTooLarge)
    }

    @Test func unfinishedHeadOverLimitIsRefused() throws {
        var reader = Reader(maxHeadBytes: 64)
        try reader.feed("GET / HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 64 - 23))
        #expect(reader.parser.bufferedBytes == 64)
        #expect(failure { () throws(HTTP1Parser.Failure) in try reader.feed("a") } == .headTooLarge)
        #expect(failure(reading: "GET / HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 1000), maxHeadBytes: 64) == .headTooLarge)
    }

    @Test func manyTrailersOverLimitAreRefused() {
        let trailers = String(repeating: "X-T: 0123456789\r\n", count: 10)
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\(trailers)\r\n"
        #expect(failure(reading: text, maxHeadBytes: 100) == .headTooLarge)
    }

    @Test func longTrailerLineIsRefusedAsTooLarge() {
        let trailer = "X-T: " + String(repeating: "a", count: 200)
        let start = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(failure(reading: start + trailer + "\r\n\r\n", maxHeadBytes: 100) == .headTooLarge)
        #expect(failure(reading: start + trailer, maxHeadBytes: 100) == .headTooLarge)
    }

    @Test func trailersWithinLimitAreAccepted() throws {
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 0123456789\r\n\r\n"
        #expect(try read(text, maxHeadBytes: 64).first?.ended == true)
    }

    @Test func afterFailureNextKeepsFailing() {
        var parser = HTTP1Parser(kind: .request)
        parser.append(ByteBuffer(string: "GET / HTTP/9.9\r\n\r\n"))
        for _ in 0..<3 {
            #expect(failure { () throws(HTTP1Parser.Failure) in _ = try parser.next() } == .malformed)
        }
        parser.append(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(failure { () throws(HTTP1Parser.Failure) in _ = try parser.next() } == .malformed)
        #expect(!parser.isBetweenMessages)
    }

    @Test func afterChunkFailureNextKeepsFailing() throws {
        var parser = HTTP1Parser(kind: .request)
        parser.append(ByteBuffer(string: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
        guard case .request = try parser.next() else { Issue.record("no head"); return }
        #expect(failure { () throws(HTTP1Parser.Failure) in _ = try parser.next() } == .malformed)
        parser.append(ByteBuffer(string: "0\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
        #expect(failure { () throws(HTTP1Parser.Failure) in _ = try parser.next() } == .malformed)
    }
}
