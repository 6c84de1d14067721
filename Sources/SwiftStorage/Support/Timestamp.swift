import Foundation
import Glibc

/// Timestamps as Keystone and Swift write them, parsed and formatted with plain UTC arithmetic:
/// a DateFormatter per call costs about a millisecond, and there is one per HEAD.
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
        let parts = s.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).compactMap { Int($0) }
        guard parts.count == 6 else { return nil }
        return utc(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5])
            .map { $0.addingTimeInterval(fraction) }
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// An HTTP date (RFC 7231's IMF-fixdate): "Mon, 30 Nov 2026 01:58:28 GMT".
    public static func parseHTTPDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]),
              let month = months.firstIndex(of: String(parts[2])) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        return utc(year: year, month: month + 1, day: day, hour: clock[0], minute: clock[1], second: clock[2])
    }

    /// "Mon, 30 Nov 2026 01:58:28 GMT", whole seconds cut.
    public static func formatHTTPDate(_ date: Date) -> String {
        let t = fields(date)
        return String(format: "%@, %02d %@ %04d %02d:%02d:%02d GMT", weekdays[Int(t.tm_wday)], t.tm_mday, months[Int(t.tm_mon)],
                      t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec)
    }

    /// Keystone's form: "2026-11-29T11:09:38.000000Z" (microseconds).
    public static func formatISO8601(_ date: Date) -> String {
        formatListing(date) + "Z"
    }

    /// A Swift listing's form: "2026-11-29T10:09:38.123450".
    public static func formatListing(_ date: Date) -> String {
        let t = fields(date)
        let micros = Int(((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1_000_000).rounded(.down))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                      t.tm_hour, t.tm_min, t.tm_sec, micros)
    }

    private static func fields(_ date: Date) -> tm {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        return t
    }

    private static func utc(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Date? {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute),
              (0...60).contains(second) else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&t)))
    }
}
