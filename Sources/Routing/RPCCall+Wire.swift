import HTTPWire
import NIOCore

// Calls and answers written straight into the buffers they are sent from (the writers are in
// RPCCall.swift, which the JSON-RPC fuzzer compiles on its own with EthereumKit only).

extension ByteBuffer: JSONTextOutput {
    public mutating func append(_ text: StaticString) { writeStaticString(text) }
    public mutating func append(_ text: String) { writeString(text) }
    public mutating func append(bytes: [UInt8]) { writeBytes(bytes) }
    public mutating func append(decimal: Int) { writeDecimalDigits(decimal) }
}

extension RPCCall {
    /// The request as sent to an upstream, in a buffer of its size.
    public func upstreamBody(id upstreamId: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 64 + method.utf8.count + (paramsText?.utf8.count ?? 64))
        writeUpstreamBody(id: upstreamId, into: &buffer)
        return buffer
    }
}
