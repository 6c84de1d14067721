import Foundation

/// MD5 (RFC 1321), for the ETag Swift computes over an object: sending it with a PUT makes Swift
/// refuse (422) a body that arrived different from what was sent.
public enum MD5 {
    private static let shifts: [UInt32] = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                           5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                           4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                           6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
    private static let constants: [UInt32] = (0..<64).map { i in
        UInt32(truncatingIfNeeded: Int64(abs(sin(Double(i + 1))) * 4_294_967_296))
    }

    /// The lower-case hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
        let span = bytes.span
        let whole = bytes.count / 64
        var words = [UInt32](repeating: 0, count: 16)
        let k = constants, r = shifts
        for block in 0..<whole {
            load(span, at: block * 64, into: &words)
            compress(&state, words, k, r)
        }
        // The tail: remaining bytes, 0x80, zeros, and the bit length, in one or two blocks.
        var tail = Array(bytes[(whole * 64)...])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bits = UInt64(bytes.count) &* 8
        for i in 0..<8 { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        let tailSpan = tail.span
        for block in 0..<(tail.count / 64) {
            load(tailSpan, at: block * 64, into: &words)
            compress(&state, words, k, r)
        }
        let digest = [state.0, state.1, state.2, state.3]
        let hexDigits = Array("0123456789abcdef")
        var out = ""
        for word in digest {
            for i in 0..<4 {
                let byte = Int((word >> (8 * UInt32(i))) & 0xff)
                out.append(hexDigits[byte >> 4])
                out.append(hexDigits[byte & 0xf])
            }
        }
        return out
    }

    @inline(__always)
    private static func load(_ span: Span<UInt8>, at offset: Int, into words: inout [UInt32]) {
        for i in 0..<16 {
            let o = offset + 4 * i
            words[i] = UInt32(span[o]) | UInt32(span[o + 1]) << 8 | UInt32(span[o + 2]) << 16 | UInt32(span[o + 3]) << 24
        }
    }

    @inline(__always)
    private static func compress(_ state: inout (UInt32, UInt32, UInt32, UInt32), _ m: [UInt32],
                                 _ constants: [UInt32], _ shifts: [UInt32]) {
        var (a, b, c, d) = state
        for i in 0..<64 {
            var f: UInt32
            let g: Int
            switch i {
            case 0..<16: f = (b & c) | (~b & d); g = i
            case 16..<32: f = (d & b) | (~d & c); g = (5 * i + 1) & 15
            case 32..<48: f = b ^ c ^ d; g = (3 * i + 5) & 15
            default: f = c ^ (b | ~d); g = (7 * i) & 15
            }
            f = f &+ a &+ constants[i] &+ m[g]
            a = d
            d = c
            c = b
            b = b &+ (f << shifts[i] | f >> (32 - shifts[i]))
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d)
    }
}
