import CSystem
import Foundation
import Glibc
import SwiftMountFS

/// `-o metrics_port=N`: Prometheus text on http://127.0.0.1:N/ (loopback only), from the same
/// numbers as `swiftmount status`.
enum MetricsEndpoint {
    static func serve(port: Int, status: @escaping @Sendable () -> MountStatus) -> String? {
        let listener = sm_tcp_listen_loopback(Int32(port))
        guard listener >= 0 else { return "cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))" }
        ControlSocket.serve(listener, name: "metrics") {
            let body = render(status())
            let head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            return Array((head + body).utf8)
        }
        return nil
    }

    static func render(_ s: MountStatus) -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            lines.append("# HELP swiftmount_\(name) \(help)")
            lines.append("# TYPE swiftmount_\(name) \(type)")
            for sample in samples { lines.append("swiftmount_\(name)\(sample.labels) \(sample.value)") }
        }
        func one(_ value: some Numeric) -> [(labels: String, value: String)] { [("", "\(value)")] }
        metric("requests_total", "counter", "Requests sent to Swift, by HTTP status (error: no response).",
               s.requests.byStatus.sorted { $0.key < $1.key }.map { ("{status=\"\($0.key)\"}", "\($0.value)") })
        metric("request_retries_total", "counter", "Requests re-sent after a transient failure.", one(s.requests.retries))
        metric("token_refusals_total", "counter", "Requests answered 401 and re-sent after re-authentication.",
               one(s.requests.reauthentications))
        metric("authentications_total", "counter", "Tokens obtained.", one(s.auth.authentications))
        metric("token_expiry_timestamp_seconds", "gauge", "When the current token expires.",
               one(s.auth.tokenExpiresAt ?? 0))
        metric("bytes_uploaded_total", "counter", "Request body bytes sent.", one(s.requests.bytesUp))
        metric("bytes_downloaded_total", "counter", "Response body bytes received.", one(s.requests.bytesDown))
        metric("attribute_cache_lookups_total", "counter", "Lookups answered by the cache (hit) or by Swift (miss).",
               [("{result=\"hit\"}", "\(s.attributeCacheHits)"), ("{result=\"miss\"}", "\(s.attributeCacheMisses)")])
        metric("buffer_bytes", "gauge", "Segment and read-ahead bytes held.",
               [("{buffer=\"write\"}", "\(s.memory.writeBufferUsed)"), ("{buffer=\"read\"}", "\(s.memory.readBufferUsed)")])
        metric("segment_reclaims_pending", "gauge",
               "Removed or replaced large objects whose segments wait for the check that no other manifest uses them.",
               one(s.segmentReclaimsPending ?? 0))
        let uploads = s.transfers.filter { $0.kind == .upload }.count
        metric("transfers", "gauge", "Uploads and reads in progress.",
               [("{kind=\"upload\"}", "\(uploads)"), ("{kind=\"read\"}", "\(s.transfers.count - uploads)")])
        let h = s.segmentUploadSeconds
        metric("segment_upload_seconds", "histogram", "Time from a segment's submission to its acknowledgement.",
               zip(h.bounds, h.cumulativeCounts).map { ("_bucket{le=\"\($0.0)\"}", "\($0.1)") }
               + [("_bucket{le=\"+Inf\"}", "\(h.count)"), ("_sum", "\(h.sum)"), ("_count", "\(h.count)")])
        return lines.joined(separator: "\n") + "\n"
    }
}
