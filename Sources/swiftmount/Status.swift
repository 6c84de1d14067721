import CSystem
import Foundation
import Glibc
import SwiftMountFS

/// The daemon's control socket, which `swiftmount status MOUNTPOINT` asks. Its path is derived
/// from the mount point, so the status command needs nothing but that; mode 0600 keeps it to the
/// mount's owner (and root).
enum ControlSocket {
    static func path(for mountpoint: String) -> String {
        let canonical = URL(fileURLWithPath: mountpoint).resolvingSymlinksInPath().path
        let base = getuid() == 0 ? "/run" : (ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? "/tmp")
        // FNV-1a: a short, stable name whatever the mount point's length (sun_path holds 108 bytes).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "\(base)/swiftmount/\(String(hash, radix: 16)).sock"
    }

    /// Answers every connection with `answer()` on a thread of its own; nil if the socket cannot
    /// be made (status is then unavailable, the mount itself is not affected).
    static func serve(at path: String, answer: @escaping @Sendable () -> [UInt8]) -> String? {
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
        let listener = sm_unix_listen(path)
        guard listener >= 0 else { return "cannot listen on \(path): \(String(cString: strerror(errno)))" }
        serve(listener, name: "control", answer: answer)
        return nil
    }

    /// One request per connection (its first bytes are read and ignored), one answer, close.
    static func serve(_ listener: Int32, name: String, answer: @escaping @Sendable () -> [UInt8]) {
        let thread = Thread {
            while true {
                let connection = accept(listener, nil, nil)
                if connection < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                var request = [UInt8](repeating: 0, count: 64)
                _ = read(connection, &request, request.count)
                var reply = answer()
                while !reply.isEmpty {
                    let n = write(connection, reply, reply.count)
                    if n <= 0 { break }
                    reply.removeFirst(n)
                }
                close(connection)
            }
        }
        thread.name = name
        thread.start()
    }

    static func request(at path: String) -> [UInt8]? {
        let fd = sm_unix_connect(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        _ = write(fd, Array("status\n".utf8), 7)
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            reply += chunk[..<n]
        }
        return reply
    }
}

let statusEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}()

/// `swiftmount status MOUNTPOINT [--json]`
func runStatus(mountpoint: String, json: Bool) -> Int32 {
    let socket = ControlSocket.path(for: mountpoint)
    guard let reply = ControlSocket.request(at: socket), !reply.isEmpty else {
        fail(.mount, "no swiftmount daemon answers for \(mountpoint) (socket \(socket))")
    }
    if json {
        print(String(decoding: reply, as: UTF8.self))
        return 0
    }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    guard let status = try? decoder.decode(MountStatus.self, from: Data(reply)) else {
        fail(.mount, "unreadable answer from the daemon on \(socket)")
    }
    print(describe(status))
    return 0
}

func describe(_ s: MountStatus) -> String {
    let now = Date().timeIntervalSince1970
    var lines = ["\(s.mountpoint): container \(s.container), pid \(s.pid), \(s.state), up \(duration(now - s.startedAt))"]
    let expiry = (s.auth.tokenExpiresAt.map { "token expires in \(duration($0 - now))" } ?? "token without expiry")
        + (s.auth.renewable == false ? " (cannot be renewed)" : "")
    lines.append("auth: \(s.auth.method); \(expiry); \(s.auth.authentications) authentications; trust: \(s.auth.trust)")
    if let problem = s.auth.problem { lines.append("auth failing: \(problem)") }
    let statuses = s.requests.byStatus.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
    lines.append("requests: \(s.requests.total) (\(statuses)); \(s.requests.retries) retries, \(s.requests.reauthentications) refused tokens; up \(bytes(s.requests.bytesUp)), down \(bytes(s.requests.bytesDown))")
    lines.append("buffers: write \(bytes(s.memory.writeBufferUsed)) of \(bytes(s.memory.writeBufferCap)), read \(bytes(s.memory.readBufferUsed)) of \(bytes(s.memory.readBufferCap)); \(s.cachedAttributes) cached attributes; "
                 + "old segments of \(s.segmentReclaimsPending ?? 0) removed or replaced large objects to delete")
    if s.transfers.isEmpty { lines.append("no transfers in progress") }
    for t in s.transfers + s.recentTransfers.suffix(5) {
        let fraction = t.bytesTotal > 0 ? min(1, Double(t.bytesDone) / Double(t.bytesTotal)) : 0
        let filled = Int(fraction * 20)
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: 20 - filled) + "]"
        let what = t.kind == .upload ? "uploaded of \(bytes(t.bytesTotal)) written" : "read of \(bytes(t.bytesTotal))"
        let percent = String(format: "%3.0f%%", fraction * 100), rate = String(format: "%.1f MB/s", t.megabytesPerSecond)
        lines.append("\(t.kind.rawValue) \(t.path) \(bar) \(percent) \(bytes(t.bytesDone)) \(what), \(rate), "
                     + "\(t.segmentsAcknowledged) segments (\(t.state.rawValue))")
    }
    return lines.joined(separator: "\n")
}

private func bytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(n) B" : String(format: "%.1f ", value) + units[unit]
}

private func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s < 0 { return "expired" }
    return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
}
