/// Percent-encoding of container and object names for URLs. Every byte outside RFC 3986's
/// unreserved set is escaped, so names with %, ?, #, + or spaces reach Swift unchanged.
public enum PathEncoding {
    private static let hex: [Character] = Array("0123456789ABCDEF")

    public static func encode(_ text: String, keepSlash: Bool) -> String {
        escape(Array(text.utf8)) { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                return true
            case UInt8(ascii: "/"):
                return keepSlash
            default:
                return false
            }
        }
    }

    /// `bytes` with every byte for which `keep` is false written as %XX.
    public static func escape(_ bytes: [UInt8], keep: (UInt8) -> Bool) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if keep(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out.append("%")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// Decodes %XX (either case); a % not followed by two hex digits stays as it is.
    public static func unescape(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
               let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    public static func query(_ items: [(String, String)]) -> String {
        items.map { "\(encode($0.0, keepSlash: false))=\(encode($0.1, keepSlash: false))" }.joined(separator: "&")
    }
}
