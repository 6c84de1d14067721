import CSystem
import Foundation
import Logging

/// Where log lines go: stderr in the foreground, `log_file=` if given, else syslog once daemonized.
/// The destination changes once, at daemonize, so every logger reads it from here.
/// Unchecked: its sink holds a FileHandle (not Sendable), guarded by `lock`.
final class LogRouting: @unchecked Sendable {
    enum Sink {
        case standardError
        case file(FileHandle)
        case syslog
    }

    static let shared = LogRouting()
    private let lock = NSLock()
    private var sink: Sink = .standardError
    private(set) var level: Logger.Level = .info
    private let formatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
        return f
    }()

    func configure(sink: Sink, level: Logger.Level) {
        lock.lock()
        self.sink = sink
        self.level = level
        lock.unlock()
        if case .syslog = sink { sm_syslog_open() }
    }

    func write(_ level: Logger.Level, _ message: String) {
        lock.lock()
        defer { lock.unlock() }
        switch sink {
        case .syslog:
            sm_syslog(Self.priority(level), "\(level): \(message)")
        case .standardError:
            FileHandle.standardError.write(Data("\(formatter.string(from: Date())) swiftmount \(level): \(message)\n".utf8))
        case .file(let handle):
            handle.write(Data("\(formatter.string(from: Date())) swiftmount[\(getpid())] \(level): \(message)\n".utf8))
        }
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: LOG_DEBUG
        case .info: LOG_INFO
        case .notice: LOG_NOTICE
        case .warning: LOG_WARNING
        case .error: LOG_ERR
        case .critical: LOG_CRIT
        }
    }
}

struct RoutedLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level {
        get { LogRouting.shared.level }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        LogRouting.shared.write(event.level, event.message.description)
    }
}
