import HTTPWire
import NIOCore
import Testing

@Suite struct Responses {
    @Test func responseWithLength() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"result\":1}"
        let messages = try read(text, as: .response)
        try #require(messages.count == 1)
        #expect(messages[0].response?.status == 200)
        #expect(messages[0].response?.keepAlive == true)
        #expect(messages[0].response?.headers["Content-Type"] == "application/json")
        #expect(messages[0].response?.headers["Retry-After"] == nil)
        #expect(messages[0].body == "{\"result\":1}")
        #expect(messages[0].ended)
        #expect(try read(bytewise(text), as: .response) == messages)
    }

    @Test func chunkedResponse() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nB\r\nefghijklmno\r\n0\r\n\r\n"
        let messages = try read(text, as: .response)
        #expect(messages.count == 1)
        #expect(messages.first?.body == "abcdefghijklmno")
        #expect(messages.first?.ended == true)
        #expect(messages.first?.response?.keepAlive == true)
    }

    @Test func responseWithoutLengthRunsUntilClose() throws {
        var reader = Reader(.response)
        try reader.feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ")
        try reader.feed("second")
        try #require(reader.messages.count == 1)
        #expect(reader.messages[0].response?.keepAlive == false)
        #expect(reader.messages[0].body == "first second")
        #expect(!reader.messages[0].ended)
        reader.close()
        #expect(reader.messages[0].ended)
    }

    @Test(arguments: [204, 304])
    func noContentAndNotModifiedHaveNoBody(status: Int) throws {
        let text = "HTTP/1.1 \(status) X\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        let messages = try read(text, as: .response)
        try #require(messages.count == 2)
        #expect(messages[0].response?.status == status)
        #expect(messages[0].body == "")
        #expect(messages[0].ended)
        #expect(messages[0].response?.keepAlive == true)
        #expect(messages[1].response?.status == 200)
        #expect(messages[1].body == "ok")
    }

    @Test(arguments: ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"])
    func interimResponsesAreSkipped(interim: String) throws {
        let final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for pieces in [[interim + final], [interim, final], bytewise(interim + final)] {
            let messages = try read(pieces, as: .response)
            try #require(messages.count == 1)
            #expect(messages[0].response?.status == 200)
            #expect(messages[0].response?.headers["Link"] == nil)
            #expect(messages[0].body == "ok")
            #expect(messages[0].ended)
        }
    }

    @Test func switchingProtocolsIsRefused() {
        #expect(failure(reading: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", as: .response) == .malformed)
    }

    @Test func retryAfterIsCapturedOnTooManyRequests() throws {
        let text = "HTTP/1.1 429 Too Many Requests\r\nretry-after:  30 \r\nContent-Length: 0\r\n\r\n"
        let head = try #require(try read(text, as: .response).first?.response)
        #expect(head.status == 429)
        #expect(head.headers["Retry-After"] == "30")
        #expect(head.keepAlive)
    }

    @Test func lengthAndChunkedInResponseChunkedWinsAndCloses() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        let messages = try read(text, as: .response)
        #expect(messages.count == 1)
        #expect(messages.first?.body == "abc")
        #expect(messages.first?.ended == true)
        #expect(messages.first?.response?.keepAlive == false)
    }

    @Test(arguments: ["HTTP/1.1 200\r\n", "HTTP/1.1 200 \r\n", "HTTP/1.1 200 Fine By Me\r\n"])
    func statusLineReasonIsOptional(line: String) throws {
        let messages = try read(line + "Content-Length: 2\r\n\r\nok", as: .response)
        #expect(messages.first?.response?.status == 200)
        #expect(messages.first?.body == "ok")
    }

    @Test(arguments: [
        "garbage\r\n", "HTTP/1.1 2x0 OK\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1  200 OK\r\n",
        "HTTP/1.1 200OK\r\n", "HTTP/2 200 OK\r\n", "HTTP/2.0 200 OK\r\n", "ICY 200 OK\r\n", "HTTP/1.1 -20 OK\r\n",
    ])
    func garbageStatusLineIsRefused(line: String) {
        #expect(failure(reading: line + "Content-Length: 0\r\n\r\n", as: .response) == .malformed)
    }

    @Test func http10ResponseCloses() throws {
        let head = try #require(try read("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", as: .response).first?.response)
        #expect(!head.keepAlive)
    }

    @Test func connectionCloseResponseCloses() throws {
        let head = try #require(try read("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", as: .response).first?.response)
        #expect(!head.keepAlive)
    }

    @Test func closeInsideLengthBodyIsCutShort() throws {
        var reader = Reader(.response)
        try reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        #expect(reader.parser.connectionClosed() == nil)
        #expect(reader.messages.first?.body == "abc")
        #expect(reader.messages.first?.ended == false)
    }

    @Test func closeInsideChunkedBodyIsCutShort() throws {
        var reader = Reader(.response)
        try reader.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        #expect(reader.parser.connectionClosed() == nil)
        #expect(reader.messages.first?.ended == false)
    }

    @Test func unsupportedCodingInResponseIsRefused() {
        #expect(failure(reading: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", as: .response) == .unsupportedTransferCoding)
    }
}
