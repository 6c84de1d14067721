import Foundation

/// Parses sizes as mount options write them: "1048576", "64K", "32M", "5G", "1T" (powers of 1024).
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        guard let last = trimmed.last else { return nil }
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(trimmed)
        var multiplier = 1
        if let unit = units[last] {
            multiplier = unit
            digits = digits.dropLast()
        } else if last == "B", trimmed.count >= 2, let unit = units[trimmed[trimmed.index(trimmed.endIndex, offsetBy: -2)]] {
            multiplier = unit
            digits = digits.dropLast(2)
        }
        guard let value = Int(digits), value >= 0 else { return nil }
        let (result, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }
}

