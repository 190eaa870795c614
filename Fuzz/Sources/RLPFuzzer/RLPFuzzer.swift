@testable import EthereumKit

/// What libFuzzer runs on each input. The input is used twice, with properties that trap when
/// violated, so a wrong answer is found like a crash:
/// 1. As RLP: the decoder is strict (canonical only), so whatever it accepts re-encodes to
///    exactly the input; `RLP.validate` (used on proof nodes) accepts exactly what `decode`
///    accepts; a header that `BlockHeader(rlp:)` accepts re-encodes to the input.
/// 2. As a recipe for an item (`RLPRecipe`): `decode(encode(x)) == x` for every item within the
///    nesting bound, and items beyond it are rejected by both `decode` and `validate`.
func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    checkDecoding(bytes)
    checkEncoding(RLPRecipe.item(from: bytes))
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

func isValid(_ bytes: [UInt8]) -> Bool {
    do throws(RLPError) {
        try RLP.validate(bytes, from: 0, to: bytes.count)
        return true
    } catch {
        return false
    }
}

func checkDecoding(_ bytes: [UInt8]) {
    let valid = isValid(bytes)
    let item: RLPItem
    do throws(RLPError) {
        item = try RLP.decode(bytes)
    } catch {
        check(!valid, "validate accepts what decode rejects (\(error))")
        check(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) outside the input")
        return
    }
    check(valid, "validate rejects what decode accepts")
    check(RLP.encode(item) == bytes, "a decoded item does not re-encode to its input")
    check(RLP.encodedLength(item) == bytes.count, "encodedLength disagrees with the input's length")
    if let header = try? BlockHeader(rlp: item) {
        check(header.encoded == bytes, "a decoded header does not re-encode to its input")
        _ = header.hash
    }
}

func checkEncoding(_ item: RLPItem) {
    let encoded = RLP.encode(item)
    check(RLP.encodedLength(item) == encoded.count, "encodedLength disagrees with encode")
    let decoded = try? RLP.decode(encoded)
    if RLPRecipe.listDepth(item) <= RLP.maxDepth {
        check(decoded == item, "decode(encode(x)) != x")
    } else {
        check(decoded == nil, "decode accepts lists nested deeper than RLP.maxDepth")
    }
    check(isValid(encoded) == (decoded != nil), "validate and decode disagree on an encoded item")
}

/// Builds an item from arbitrary bytes, read as instructions, so the fuzzer can reach every
/// shape: strings of every length class (single byte, short, long with 1- or 2-byte lengths),
/// empty and nested lists, and nesting past the decoder's bound.
enum RLPRecipe {
    static func item(from bytes: [UInt8]) -> RLPItem {
        var open: [[RLPItem]] = [[]]
        var index = 0
        var longStringBytes = 0
        while index < bytes.count {
            let op = bytes[index]
            index += 1
            let argument = Int(op >> 2)
            switch op & 3 {
            case 0:  // a string of the next `argument` (0...63) input bytes
                let length = min(argument, bytes.count - index)
                open[open.count - 1].append(.bytes(Array(bytes[index..<index + length])))
                index += length
            case 1:  // open a list, up to just past the decoder's bound (encoding is recursive)
                if open.count <= RLP.maxDepth + 1 { open.append([]) }
            case 2:  // close the innermost list
                if open.count > 1 {
                    let items = open.removeLast()
                    open[open.count - 1].append(.list(items))
                }
            default:  // 40...71 or 255...286 copies of one byte: across the short/long form and 1-/2-byte length boundaries
                let length = argument < 32 ? 40 + argument : 223 + argument
                guard longStringBytes + length <= 4096 else { continue }  // big items only slow the fuzzer down
                longStringBytes += length
                open[open.count - 1].append(.bytes(Array(repeating: op, count: length)))
            }
        }
        while open.count > 1 {
            let items = open.removeLast()
            open[open.count - 1].append(.list(items))
        }
        return open[0].count == 1 ? open[0][0] : .list(open[0])
    }

    /// Lists on the deepest path: 0 for a string, 1 for a list of strings.
    static func listDepth(_ item: RLPItem) -> Int {
        guard case .list(let items) = item else { return 0 }
        return 1 + (items.map(listDepth).max() ?? 0)
    }
}
