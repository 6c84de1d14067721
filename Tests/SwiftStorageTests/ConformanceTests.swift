import Foundation
import SwiftSimulator
import SwiftStorage
import TestSupport
import XCTest

/// The simulator must answer as the real Swift 2.30 of the dev stack does: one script of
/// requests runs against both, and their normalized answers (status, the headers the mount
/// reads, listing JSON, SLO error reports) must be equal line for line.
final class ConformanceTests: XCTestCase {
    struct Target {
        let transport: any HTTPTransport
        let storageURL: String
        let token: String
    }

    func real() throws -> Target {
        let transport = CurlTransport()
        let auth = try EnvironmentCredentials.authenticator(from: DevStack.credentials("demo")).authenticate(using: transport)
        return Target(transport: transport, storageURL: auth.storageURL, token: auth.token.reveal)
    }

    func simulated() throws -> Target {
        let cluster = SimulatedCluster()
        let auth = try EnvironmentCredentials.authenticator(from: cluster.addUser("demo")).authenticate(using: cluster)
        return Target(transport: cluster, storageURL: auth.storageURL, token: auth.token.reveal)
    }

    /// The headers the mount reads, in a fixed order.
    static let headersCompared = ["content-length", "content-range", "etag", "content-type", "x-static-large-object",
                                  "x-object-manifest", "x-symlink-target", "x-object-meta-mtime", "x-object-meta-color", "location",
                                  "content-disposition"]

    /// Runs the script; each request's answer becomes one line with `C` for the container name.
    /// `container`: the name the script's requests use (made and left by the script).
    func script(_ t: Target, container c: String = DevStack.uniqueName("conf")) throws -> [String] {
        var lines: [String] = []
        func call(_ label: String, _ method: HTTPMethod, _ path: String, headers: [(name: String, value: String)] = [],
                  body: [UInt8] = [], token: String? = nil, normalize: (HTTPResponse) -> String = { _ in "" }) throws -> HTTPResponse {
            let url = t.storageURL + path.replacingOccurrences(of: "{C}", with: c)
            let request = HTTPRequest(method: method, url: url, headers: headers + [("X-Auth-Token", token ?? t.token)],
                                      body: body.isEmpty ? [] : body)
            let response = try t.transport.perform(request)
            var line = "\(label): \(response.status)"
            // Error pages and the bodies of PUT/POST/DELETE answers are not read by the mount.
            let bodyRead = response.isSuccess && (method == .get || method == .head)
            // JSON answers are compared by what they say, not by their bytes (spacing, key order).
            let json = response.headers["content-type"]?.contains("json") == true
            var compared = Self.headersCompared.filter { bodyRead || !["content-length", "content-type"].contains($0) }
            if json { compared.removeAll { $0 == "content-length" || $0 == "etag" } }
            for name in compared {
                if let value = response.headers[name] { line += " \(name)=\(Self.normalized(value, container: c))" }
            }
            let extra = normalize(response)
            lines.append(line + (extra.isEmpty ? "" : " " + Self.normalized(extra, container: c)))
            return response
        }
        func json(_ r: HTTPResponse) -> Any? { try? JSONSerialization.jsonObject(with: Data(r.body)) }
        func listing(_ r: HTTPResponse) -> String {
            guard let entries = json(r) as? [[String: Any]] else { return "body=\(r.bodyText.prefix(80))" }
            return entries.map { e -> String in
                if let subdir = e["subdir"] as? String { return "subdir \(subdir)" }
                var fields = ["\(e["name"] ?? "?")", "bytes=\(e["bytes"] ?? "?")", "type=\(e["content_type"] ?? "?")"]
                if let slo = e["slo_etag"] { fields.append("slo_etag=\(slo)") } else { fields.append("hash=\(e["hash"] ?? "?")") }
                if e["symlink_path"] != nil { fields.append("symlink") }
                return fields.joined(separator: ",")
            }.joined(separator: " | ")
        }
        func report(_ r: HTTPResponse) -> String {
            guard let object = json(r) as? [String: Any] else { return "body=\(r.bodyText.prefix(60))" }
            let errors = (object["Errors"] as? [[Any]] ?? []).map { $0.map { "\($0)" }.joined(separator: " ") }.sorted()
            let counts = ["Number Deleted", "Number Not Found"].compactMap { key in object[key].map { "\(key)=\($0)" } }
            return "status=\(object["Response Status"] ?? "?") errors=\(errors) " + counts.joined(separator: " ")
        }
        let text = Array("hello world".utf8)
        _ = try call("put container", .put, "/{C}")
        _ = try call("put segment container", .put, "/{C}_segments")
        _ = try call("put object", .put, "/{C}/dir/a%20b", headers: [("X-Object-Meta-Mtime", "1700000000.5"), ("Content-Type", "text/plain")], body: text)
        _ = try call("head object", .head, "/{C}/dir/a%20b?symlink=get")
        _ = try call("range", .get, "/{C}/dir/a%20b", headers: [("Range", "bytes=2-4")]) { $0.bodyText }
        _ = try call("range past the end", .get, "/{C}/dir/a%20b", headers: [("Range", "bytes=20-30")])
        _ = try call("if-match refused", .get, "/{C}/dir/a%20b", headers: [("If-Match", "\"0123\"")])
        _ = try call("etag mismatch", .put, "/{C}/x", headers: [("ETag", "0123")], body: Array("abc".utf8))
        let one = try call("segment 1", .put, "/{C}_segments/s/1", body: [UInt8](repeating: 97, count: 1000))
        let two = try call("segment 2", .put, "/{C}_segments/s/2", body: [UInt8](repeating: 98, count: 10))
        let e1 = one.headers["etag"] ?? "", e2 = two.headers["etag"] ?? ""
        func manifest(_ entries: [(String, String, Int)]) -> [UInt8] {
            Array(try! JSONSerialization.data(withJSONObject: entries.map { ["path": $0.0.replacingOccurrences(of: "{C}", with: c), "etag": $0.1, "size_bytes": $0.2] }))
        }
        let good = manifest([("/{C}_segments/s/1", e1, 1000), ("/{C}_segments/s/2", e2, 10)])
        let bad = manifest([("/{C}_segments/s/1", "00000000000000000000000000000000", 1000), ("/{C}_segments/s/9", e2, 10)])
        let acceptJSON = [("Accept", "application/json")]
        _ = try call("slo put with heartbeat", .put, "/{C}/big?multipart-manifest=put&heartbeat=on", headers: acceptJSON, body: good, normalize: report)
        _ = try call("slo errors with heartbeat", .put, "/{C}/bad?multipart-manifest=put&heartbeat=on", headers: acceptJSON, body: bad, normalize: report)
        _ = try call("slo errors", .put, "/{C}/bad?multipart-manifest=put", body: bad) { r in
            "etag-mismatch=\(r.bodyText.contains("Etag Mismatch")) missing=\(r.bodyText.contains("404 Not Found"))"
        }
        _ = try call("head slo", .head, "/{C}/big")
        // The mount keeps stat's attributes in Content-Type parameters, which listings show as
        // sent, for a manifest too, after a POST that replaces them and through a copy.
        let typed = "application/octet-stream;swiftmount=1;mtime=1700000000.123456789;mode=100600"
        _ = try call("post type to slo", .post, "/{C}/big", headers: [("Content-Type", typed)])
        _ = try call("copy of the manifest with a new type", .put, "/{C}/typed?multipart-manifest=get",
                     headers: [("X-Copy-From", "/{C}/big".replacingOccurrences(of: "{C}", with: c)),
                               ("Content-Type", typed.replacingOccurrences(of: "100600", with: "100444"))])
        _ = try call("fresh metadata copy", .put, "/{C}/fresh", headers: [
            ("X-Copy-From", "/{C}/dir/a%20b".replacingOccurrences(of: "{C}", with: c)), ("X-Fresh-Metadata", "true"),
            ("X-Object-Meta-Color", "green")])
        _ = try call("only the request's metadata", .head, "/{C}/fresh")
        _ = try call("delete fresh copy", .delete, "/{C}/fresh")
        _ = try call("types listed", .get, "/{C}?format=json&prefix=typed", normalize: listing)
        _ = try call("slo type listed", .get, "/{C}?format=json&prefix=big", normalize: listing)
        _ = try call("delete typed copy", .delete, "/{C}/typed")
        _ = try call("range across segments", .get, "/{C}/big", headers: [("Range", "bytes=995-1004")]) { $0.bodyText }
        _ = try call("manifest get", .get, "/{C}/big?multipart-manifest=get") { r in
            ((json(r) as? [[String: Any]]) ?? []).map { "\($0["name"] ?? "?") \($0["bytes"] ?? "?") \($0["hash"] ?? "?")" }.joined(separator: " | ")
        }
        _ = try call("copy of the manifest", .put, "/{C}/copy?multipart-manifest=get", headers: [("X-Copy-From", "/{C}/big".replacingOccurrences(of: "{C}", with: c))])
        _ = try call("dlo", .put, "/{C}/dlo", headers: [("X-Object-Manifest", "{C}_segments/s/".replacingOccurrences(of: "{C}", with: c))])
        _ = try call("head dlo", .head, "/{C}/dlo")
        _ = try call("symlink", .put, "/{C}/link", headers: [("X-Symlink-Target", "{C}/dir/a%20b".replacingOccurrences(of: "{C}", with: c))])
        _ = try call("head symlink itself", .head, "/{C}/link?symlink=get")
        _ = try call("read through symlink", .get, "/{C}/link") { $0.bodyText }
        _ = try call("post to symlink", .post, "/{C}/link", headers: [("X-Object-Meta-Color", "red")])
        _ = try call("listing", .get, "/{C}?format=json", normalize: listing)
        _ = try call("listing with delimiter", .get, "/{C}?format=json&delimiter=%2F", normalize: listing)
        _ = try call("listing page", .get, "/{C}?format=json&limit=2&marker=bad", normalize: listing)
        _ = try call("listing with prefix", .get, "/{C}?format=json&prefix=dir%2F&delimiter=%2F", normalize: listing)
        func lastModified(_ r: HTTPResponse) -> String {
            ((json(r) as? [[String: Any]])?.first?["last_modified"] as? String) ?? "none"
        }
        let before = lastModified(try call("listed before a post", .get, "/{C}?format=json&prefix=dir%2Fa"))
        Thread.sleep(forTimeInterval: 0.05)
        _ = try call("put with a disposition", .put, "/{C}/disposed", headers: [("Content-Disposition", "attachment")], body: text)
        _ = try call("fresh copy keeps it", .put, "/{C}/disposed2", headers: [
            ("X-Copy-From", "/{C}/disposed".replacingOccurrences(of: "{C}", with: c)), ("X-Fresh-Metadata", "true")])
        _ = try call("copy's disposition", .head, "/{C}/disposed2")
        _ = try call("post without it", .post, "/{C}/disposed", headers: [("X-Object-Meta-Color", "red")])
        _ = try call("a post drops the disposition", .head, "/{C}/disposed")
        _ = try call("delete disposed", .delete, "/{C}/disposed")
        _ = try call("delete disposed2", .delete, "/{C}/disposed2")
        _ = try call("post metadata", .post, "/{C}/dir/a%20b", headers: [("X-Object-Meta-Color", "red")])
        _ = try call("a post moves the listed time", .get, "/{C}?format=json&prefix=dir%2Fa") { "moved=\(lastModified($0) > before)" }
        _ = try call("metadata replaced", .head, "/{C}/dir/a%20b")
        _ = try call("metadata folded", .put, "/{C}/meta", headers: [("X-Object-Meta-Color_Name", "  blue  ")], body: text)
        _ = try call("folded names and trimmed values", .head, "/{C}/meta") { r in
            "color-name=\(r.headers["x-object-meta-color-name"] ?? "none") color_name=\(r.headers["x-object-meta-color_name"] ?? "none")"
        }
        _ = try call("metadata value too long", .put, "/{C}/long", headers: [("X-Object-Meta-Color", String(repeating: "x", count: 257))], body: text)
        _ = try call("listing limit over the maximum", .get, "/{C}?format=json&limit=10001")
        _ = try call("post to nothing", .post, "/{C}/nothing", headers: [("X-Object-Meta-Color", "red")])
        _ = try call("delete nothing", .delete, "/{C}/nothing")
        _ = try call("delete container not empty", .delete, "/{C}")
        _ = try call("delete slo with segments", .delete, "/{C}/big?multipart-manifest=delete", headers: acceptJSON, normalize: report)
        _ = try call("segments left", .get, "/{C}_segments?format=json", normalize: listing)
        _ = try call("copy with a segment gone", .put, "/{C}/copy2?multipart-manifest=get",
                     headers: [("X-Copy-From", "/{C}/copy".replacingOccurrences(of: "{C}", with: c))])
        _ = try call("head slo with segments gone", .head, "/{C}/copy2")
        _ = try call("delete copy", .delete, "/{C}/copy")
        _ = try call("delete copy2", .delete, "/{C}/copy2")
        _ = try call("bulk delete", .post, "?bulk-delete=true", headers: acceptJSON + [("Content-Type", "text/plain")],
                     body: Array("/{C}/dir/a%20b\n/{C}/nothing\n/{C}/link\n/{C}/dlo\n/{C}/meta".replacingOccurrences(of: "{C}", with: c).utf8),
                     normalize: report)
        _ = try call("refused token", .head, "/{C}", token: "bogus")
        return lines
    }

    /// The run's container name and the account's id differ between the two targets.
    static func normalized(_ text: String, container: String) -> String {
        text.replacingOccurrences(of: container, with: "C").replacing(/AUTH_[0-9a-zA-Z_]+/, with: "AUTH_X")
    }

    func testTheSimulatorAnswersAsSwiftDoes() throws {
        // The script's container on the stack goes, with what it holds: each gc would list it.
        let container = DevStack.uniqueName("conf")
        let stack = try DevStack.client()
        defer { try? DevStack.purge(container, client: stack) }
        let expected = try script(real(), container: container)
        let actual = try script(simulated())
        XCTAssertEqual(actual.count, expected.count)
        for (want, got) in zip(expected, actual) where want != got {
            XCTFail("real:      \(want)\nsimulator: \(got)")
        }
    }
}
