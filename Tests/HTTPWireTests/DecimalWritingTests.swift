import HTTPWire
import NIOCore
import Testing

@Suite struct DecimalWritingTests {
    @Test(arguments: [0, 7, 9, 10, 99, 100, 404, 1_048_576, Int(Int32.max)])
    func statusCodesAndLengthsAreWrittenAsDecimalDigits(value: Int) {
        var buffer = ByteBuffer()
        buffer.writeDecimalDigits(value)
        #expect(String(buffer: buffer) == String(value))
    }
}
