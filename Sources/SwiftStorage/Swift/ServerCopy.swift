import Foundation

extension SwiftClient {
    /// Server-side copy within a container. `manifestOnly` copies a large object's manifest (so the
    /// copy shares the segments) instead of its content. `headers` (metadata, Content-Type)
    /// override the source's.
    public func copy(container: String, from source: String, to destination: String, manifestOnly: Bool,
                     headers: [(name: String, value: String)] = []) throws {
        var call = Call(.put, container: container, object: destination)
        call.headers = headers + [("X-Copy-From", "/" + PathEncoding.encode(container, keepSlash: false) + "/" + PathEncoding.encode(source, keepSlash: true))]
        if manifestOnly { call.query = [("multipart-manifest", "get")] }
        _ = try send(call)
    }
}
