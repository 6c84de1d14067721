/// Plain HTTP values exchanged with the transport; nothing here knows about Swift or auth.
public enum HTTPMethod: String, Sendable {
    case get = "GET", head = "HEAD", put = "PUT", post = "POST", patch = "PATCH", delete = "DELETE", copy = "COPY"
}

/// Response headers, looked up case-insensitively (names are stored lower-cased).
public struct HTTPHeaders: Sendable {
    private var values: [String: String] = [:]

    public init() {}

    public subscript(name: String) -> String? {
        get { values[name.lowercased()] }
        set { values[name.lowercased()] = newValue }
    }

    public var all: [String: String] { values }
}

/// Where a response body is written when the caller wants to own the buffer: a recycled array
/// (no fresh pages to fault in), and bytes that survive a failed transfer for a resume.
/// Unchecked: one transfer at a time writes it (libcurl's callback), then hands it on; never shared at once.
public final class ByteSink: @unchecked Sendable {
    public var bytes: [UInt8]

    /// `buffer` should be empty and not shared (its capacity is what is reused).
    public init(reusing buffer: consuming [UInt8] = []) {
        bytes = consume buffer
    }

    /// Hands the bytes over and leaves the sink empty.
    public func take() -> [UInt8] {
        var out: [UInt8] = []
        swap(&out, &bytes)
        return out
    }
}

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    /// Sent in this order; an entry with an empty value suppresses a header libcurl would add.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// When set, the body is read from this file region (file data) and `body` is not sent.
    public var bodyFile: FileRegion?
    /// Size the response body is expected to have, to size its buffer once.
    public var expectedResponseBytes: Int
    /// When set, a successful response's body goes here (appended) instead of `HTTPResponse.body`.
    public var responseSink: ByteSink?

    public init(method: HTTPMethod, url: String, headers: [(name: String, value: String)] = [],
                body: [UInt8] = [], expectedResponseBytes: Int = 0) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.expectedResponseBytes = expectedResponseBytes
    }

    /// The bytes the request sends.
    public var bodyCount: Int { bodyFile?.count ?? body.count }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A failure below HTTP: connection refused or reset, timeout, TLS. `partialBody` holds the bytes
/// received before the failure (or they stay in the request's sink), so a ranged read can resume.
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public let partialBody: [UInt8]
    /// The status and headers of the answer the failure cut short (0: none came), so a caller
    /// that resumes can check what the bytes it kept were.
    public var status = 0
    public var headers = HTTPHeaders()

    public init(code: Int, message: String, partialBody: [UInt8], status: Int = 0, headers: HTTPHeaders = HTTPHeaders()) {
        self.code = code
        self.message = message
        self.partialBody = partialBody
        self.status = status
        self.headers = headers
    }

    public var description: String { "transport error \(code): \(message)" }
}

/// Anything that can carry an HTTP request: libcurl in production.
public protocol HTTPTransport: Sendable {
    func perform(_ request: HTTPRequest) throws -> HTTPResponse
}
