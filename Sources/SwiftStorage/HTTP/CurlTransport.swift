import CCurl
import Foundation

/// HTTP over libcurl easy handles kept in a small pool, so connections are reused across requests
/// and threads. This file is the libcurl adapter: the only place in this target with raw pointers.
/// Unchecked: idle easy handles are raw C pointers, guarded by `lock`.
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var connectTimeout: Int = 10
        /// A transfer slower than 1 byte/s for this long is cut (a hung proxy, a dead peer).
        public var stallTimeout: Int = 60
        public var verifyTLS: Bool = true
        public var caFile: String?
        public var maxIdleHandles: Int = 16

        public init() {}
    }

    private let config: Configuration
    private let lock = NSLock()
    private var idle: [EasyHandle] = []

    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    public init(configuration: Configuration = Configuration()) {
        precondition(Self.globalInit, "curl_global_init failed")
        self.config = configuration
    }

    deinit {
        for handle in idle { curl_easy_cleanup(handle.raw) }
    }

    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        let handle = checkout()
        defer { checkin(handle) }
        return try handle.run(request, config: config)
    }

    private func checkout() -> EasyHandle {
        lock.lock()
        let handle = idle.popLast()
        lock.unlock()
        return handle ?? EasyHandle()
    }

    private func checkin(_ handle: EasyHandle) {
        lock.lock()
        if idle.count < config.maxIdleHandles {
            idle.append(handle)
            lock.unlock()
        } else {
            lock.unlock()
            curl_easy_cleanup(handle.raw)
        }
    }
}

/// State of one transfer, reached from libcurl's callbacks through their userdata pointer.
private final class TransferState {
    let upload: [UInt8]
    let uploadFile: FileRegion?
    var uploadOffset = 0
    /// Why reading `uploadFile` failed, reported instead of curl's "aborted by callback".
    var uploadError: LocalFileError?
    let sink: ByteSink
    /// The body of a non-2xx answer, kept apart so it never mixes with data in a caller's sink.
    var errorBody: [UInt8] = []
    /// From the latest status line: decides where body bytes go.
    var status = 0
    var headers = HTTPHeaders()

    init(upload: [UInt8], uploadFile: FileRegion?, sink: ByteSink?, expectedBytes: Int) {
        self.upload = upload
        self.uploadFile = uploadFile
        self.sink = sink ?? ByteSink()
        self.sink.bytes.reserveCapacity(self.sink.bytes.count + expectedBytes)
    }
}

private final class EasyHandle {
    let raw: UnsafeMutableRawPointer

    init() {
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed") }
        raw = h
    }

    func run(_ request: HTTPRequest, config: CurlTransport.Configuration) throws -> HTTPResponse {
        // Reset keeps the connection cache; every option is set again for this request.
        curl_easy_reset(raw)
        let state = TransferState(upload: request.body, uploadFile: request.bodyFile, sink: request.responseSink, expectedBytes: request.expectedResponseBytes)
        let ctx = Unmanaged.passUnretained(state).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errBuf in
            sm_setopt_string(raw, CURLOPT_URL, request.url)
            sm_setopt_long(raw, CURLOPT_NOSIGNAL, 1)
            sm_setopt_long(raw, CURLOPT_CONNECTTIMEOUT, config.connectTimeout)
            sm_setopt_long(raw, CURLOPT_LOW_SPEED_LIMIT, 1)
            sm_setopt_long(raw, CURLOPT_LOW_SPEED_TIME, config.stallTimeout)
            sm_setopt_long(raw, CURLOPT_SSL_VERIFYPEER, config.verifyTLS ? 1 : 0)
            sm_setopt_long(raw, CURLOPT_SSL_VERIFYHOST, config.verifyTLS ? 2 : 0)
            if let ca = config.caFile { sm_setopt_string(raw, CURLOPT_CAINFO, ca) }
            sm_setopt_pointer(raw, CURLOPT_ERRORBUFFER, errBuf.baseAddress)
            sm_setopt_write_cb(raw, CURLOPT_WRITEFUNCTION, curlWriteBody)
            sm_setopt_pointer(raw, CURLOPT_WRITEDATA, ctx)
            sm_setopt_write_cb(raw, CURLOPT_HEADERFUNCTION, curlWriteHeader)
            sm_setopt_pointer(raw, CURLOPT_HEADERDATA, ctx)

            var headers = request.headers
            switch request.method {
            case .get:
                break
            case .head:
                sm_setopt_long(raw, CURLOPT_NOBODY, 1)
            case .put:
                sm_setopt_long(raw, CURLOPT_UPLOAD, 1)
                sm_setopt_off(raw, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.bodyCount))
                // With 100-continue a rejected PUT (401) costs no body bytes.
                if request.bodyCount > 0 && !headers.contains(where: { $0.name.lowercased() == "expect" }) {
                    headers.append(("Expect", "100-continue"))
                }
            case .post, .patch:
                sm_setopt_long(raw, CURLOPT_POST, 1)
                sm_setopt_off(raw, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.bodyCount))
                if request.method == .patch { sm_setopt_string(raw, CURLOPT_CUSTOMREQUEST, "PATCH") }
                headers.append(("Expect", ""))
                // libcurl would add a form Content-Type, which Swift stores as the object's type.
                if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { headers.append(("Content-Type", "")) }
            case .delete, .copy:
                sm_setopt_string(raw, CURLOPT_CUSTOMREQUEST, request.method.rawValue)
            }
            if request.method == .put || request.method == .post || request.method == .patch {
                sm_setopt_read_cb(raw, curlReadBody)
                sm_setopt_pointer(raw, CURLOPT_READDATA, ctx)
            }
            for (name, value) in headers {
                // "Name:" removes a header libcurl would add on its own.
                headerList = curl_slist_append(headerList, value.isEmpty ? "\(name):" : "\(name): \(value)")
            }
            sm_setopt_slist(raw, CURLOPT_HTTPHEADER, headerList)
            return withExtendedLifetime(state) { curl_easy_perform(raw) }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = state.uploadError?.description ?? (detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
            let partial = request.responseSink == nil ? state.sink.bytes : []
            throw HTTPTransportError(code: Int(code.rawValue), message: message, partialBody: partial,
                                     status: state.status, headers: state.headers)
        }
        var status = 0
        sm_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &status)
        let success = (200..<300).contains(status)
        let body = success ? (request.responseSink == nil ? state.sink.take() : []) : state.errorBody
        return HTTPResponse(status: status, headers: state.headers, body: body)
    }
}

private func curlWriteBody(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                           _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let userdata else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    let bytes = UnsafeRawBufferPointer(start: ptr, count: n)
    if (200..<300).contains(state.status) {
        state.sink.bytes.append(contentsOf: bytes)
    } else {
        state.errorBody.append(contentsOf: bytes)
    }
    return n
}

private func curlWriteHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                             _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let userdata else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new status line (after "100 Continue" or a redirect) starts a new header block.
        state.headers = HTTPHeaders()
        state.status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingCharacters(in: .whitespaces)
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        state.headers[name] = value
    }
    return n
}

private func curlReadBody(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                          _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let userdata else { return Int(CURL_READFUNC_ABORT) }
    let state = Unmanaged<TransferState>.fromOpaque(userdata).takeUnretainedValue()
    if let region = state.uploadFile {
        let n = min(size * count, region.count - state.uploadOffset)
        guard n > 0 else { return 0 }
        let got = pread(region.file.fd, ptr, n, off_t(region.offset + state.uploadOffset))
        guard got > 0 else {
            // A short file would send a body shorter than announced: the transfer stops instead.
            state.uploadError = LocalFileError(errno: got < 0 ? errno : EIO, what: "reading \(region.file.place) for the request body")
            return Int(CURL_READFUNC_ABORT)
        }
        state.uploadOffset += got
        return got
    }
    let n = min(size * count, state.upload.count - state.uploadOffset)
    guard n > 0 else { return 0 }
    state.upload.withUnsafeBytes { src in
        UnsafeMutableRawPointer(ptr).copyMemory(from: src.baseAddress! + state.uploadOffset, byteCount: n)
    }
    state.uploadOffset += n
    return n
}
