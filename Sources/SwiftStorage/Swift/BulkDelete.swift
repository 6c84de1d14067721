import Foundation

/// An object by container and name.
public struct ObjectRef: Sendable, Hashable {
    public var container: String
    public var name: String

    public init(container: String, name: String) {
        self.container = container
        self.name = name
    }
}

extension SwiftClient {
    /// Deletes `objects`: with the cluster's bulk middleware (`bulkLimit` from /info), up to that
    /// many per request; otherwise one DELETE each. Objects already gone count as deleted. Throws
    /// after trying them all if any could not be deleted.
    public func deleteMany(_ objects: [ObjectRef], bulkLimit: Int?) throws {
        guard let bulkLimit, bulkLimit > 1, objects.count > 1 else {
            var firstError: Error?
            for object in objects {
                do { try delete(container: object.container, object: object.name) } catch { firstError = firstError ?? error }
            }
            if let firstError { throw firstError }
            return
        }
        var start = 0
        while start < objects.count {
            let batch = objects[start..<min(start + bulkLimit, objects.count)]
            try bulkDelete(Array(batch))
            start += batch.count
        }
    }

    private func bulkDelete(_ batch: [ObjectRef]) throws {
        var call = Call(.post)
        call.query = [("bulk-delete", "true")]
        call.headers = [("Content-Type", "text/plain"), ("Accept", "application/json")]
        let lines = batch.map { "/" + PathEncoding.encode($0.container, keepSlash: false) + "/" + PathEncoding.encode($0.name, keepSlash: true) }
        call.body = Array(lines.joined(separator: "\n").utf8)
        let response = try send(call)
        // The middleware answers 200 and reports per-object failures in the body.
        let report = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        let errors = report["Errors"] as? [[Any]] ?? []
        let status = report["Response Status"] as? String ?? ""
        if !errors.isEmpty || !(status.hasPrefix("200") || status.isEmpty) {
            let sample = errors.prefix(3).map { $0.map { "\($0)" }.joined(separator: " ") }.joined(separator: "; ")
            throw SwiftError.unavailable("bulk delete: \(status), \(errors.count) failed (\(sample))")
        }
    }
}
