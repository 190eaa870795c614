import EthereumKit
import HTTPWire
import NIOCore

// Calls and answers as bytes on the wire, written straight into the buffers they are sent from.
// Apart from RPCCall.swift, which the JSON-RPC fuzzer compiles on its own with EthereumKit only.

extension RPCCall {
    /// The request as sent to an upstream, under the gateway's own id, in a buffer of its size:
    /// params as written once (`paramsText`) or serialized.
    public func upstreamBody(id upstreamId: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 64 + method.utf8.count + (paramsText?.utf8.count ?? 64))
        writeUpstreamBody(id: upstreamId, into: &buffer)
        return buffer
    }

    /// `upstreamBody`, written into `buffer`.
    public func writeUpstreamBody(id upstreamId: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"jsonrpc":"2.0","id":"#)
        buffer.writeDecimalDigits(upstreamId)
        buffer.writeStaticString(#","method":"#)
        if method.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 < 0x80 }) {
            buffer.writeStaticString("\"")
            buffer.writeString(method)
            buffer.writeStaticString("\"")
        } else {
            var quoted = ""
            JSONValue.string(method).write(to: &quoted)
            buffer.writeString(quoted)
        }
        if let paramsText {
            buffer.writeStaticString(#","params":"#)
            buffer.writeString(paramsText)
        } else if let params {
            buffer.writeStaticString(#","params":"#)
            buffer.writeString(params.serialized())
        }
        buffer.writeStaticString("}")
    }

    /// `upstreamBody` as text.
    public func upstreamBodyText(id upstreamId: Int) -> String {
        String(buffer: upstreamBody(id: upstreamId))
    }
}

extension CallOutcome {
    /// The JSON-RPC response object for a client id (`idText`: the id as the client wrote it).
    public func responseJSON(id: JSONValue?, idText: String? = nil) -> String {
        var buffer = ByteBuffer()
        writeResponse(id: id, idText: idText, into: &buffer)
        return String(buffer: buffer)
    }

    /// `responseJSON`, written into `buffer`: an answer's bytes go in as they arrived (they were
    /// checked as JSON, and so as UTF-8, when the answer was read), without a String between.
    public func writeResponse(id: JSONValue?, idText: String?, into buffer: inout ByteBuffer) {
        let member: String, value: [UInt8]
        switch self {
        case .answered(let name, let bytes, _): (member, value) = (name, bytes)
        case .cached(let bytes, _), .verified(let bytes, _): (member, value) = ("result", bytes)
        case .local(let result):
            var text = ""
            result.write(to: &text)
            (member, value) = ("result", Array(text.utf8))
        case .failed(let error):
            buffer.writeString(error.responseJSON(id: id, idText: idText))
            return
        }
        buffer.writeStaticString(#"{"jsonrpc":"2.0","id":"#)
        if let idText {
            buffer.writeString(idText)
        } else if case .number(let number)? = id, let integer = Int(exactly: number), integer >= 0 {
            buffer.writeDecimalDigits(integer)
        } else {
            var text = ""
            (id ?? .null).write(to: &text)
            buffer.writeString(text)
        }
        buffer.writeStaticString(#",""#)
        buffer.writeString(member)
        buffer.writeStaticString(#"":"#)
        buffer.writeBytes(value)
        buffer.writeStaticString("}")
    }
}
