/// Percent-encoding of container and object names for URLs. Every byte outside RFC 3986's
/// unreserved set is escaped, so names with %, ?, #, + or spaces reach Swift unchanged.
public enum PathEncoding {
    private static let hex: [Character] = Array("0123456789ABCDEF")

    public static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    public static func query(_ items: [(String, String)]) -> String {
        items.map { "\(encode($0.0, keepSlash: false))=\(encode($0.1, keepSlash: false))" }.joined(separator: "&")
    }
}
