import Foundation

/// Timestamps as Keystone and Swift write them.
public enum Timestamp {
    /// Keystone's `expires_at`: "2026-11-29T11:09:38.000000Z" (fraction optional, UTC).
    /// Swift listings' `last_modified`: "2026-11-29T10:09:38.123450" (no zone, UTC).
    public static func parseISO8601(_ text: String) -> Date? {
        var s = Substring(text)
        if s.hasSuffix("Z") { s = s.dropLast() }
        if s.hasSuffix("+00:00") { s = s.dropLast(6) }
        var fraction = 0.0
        if let dot = s.firstIndex(of: ".") {
            guard let f = Double("0" + s[dot...]) else { return nil }
            fraction = f
            s = s[..<dot]
        }
        let parts = s.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" })
        guard parts.count == 6 else { return nil }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == 6 else { return nil }
        var components = DateComponents()
        components.calendar = Calendar(identifier: .gregorian)
        components.timeZone = TimeZone(identifier: "UTC")
        (components.year, components.month, components.day) = (numbers[0], numbers[1], numbers[2])
        (components.hour, components.minute, components.second) = (numbers[3], numbers[4], numbers[5])
        guard let date = components.date else { return nil }
        return date.addingTimeInterval(fraction)
    }

    /// Keystone's form, to the second: "2026-11-29T11:09:38.000000Z".
    public static func formatISO8601(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'.000000Z'"
        return formatter.string(from: date)
    }
}
