import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// Every way a mount authenticates, against the real Keystone with 8-second tokens.
final class AuthModeTests: StackFaultTestCase {
    /// A segmented upload that outlives two tokens, then the bytes read back and downloaded.
    func roundTripAcrossTokenLifetimes(_ m: MountedContainer, name: String, user: String = "demo") throws {
        let source = try randomFile(name, mebibytes: 24)
        try slowCopy(source, to: m.path(name), mebibytes: 24, pause: 0.8)
        let expected = try Shell.sha256(source)
        XCTAssertEqual(try Shell.sha256(m.path(name)), expected)
        XCTAssertEqual(try serverSHA256(name, user: user), expected)
        XCTAssertTrue(try XCTUnwrap(client.head(container: container, object: name)).isStaticLargeObject)
    }

    func testApplicationCredentialMountRenewsTokens() throws {
        let cred = try Keystone.createApplicationCredential(for: "demo")
        let base = try DevStack.credentials("demo")
        let m = try MountedContainer(container: container, options: ["segment_size=4M", "expire_soon_interval=3"], credentials: [
            "OS_AUTH_URL": base["OS_AUTH_URL"]!, "OS_AUTH_TYPE": "v3applicationcredential",
            "OS_APPLICATION_CREDENTIAL_ID": cred.id, "OS_APPLICATION_CREDENTIAL_SECRET": cred.secret])
        mounts.append(m)
        try roundTripAcrossTokenLifetimes(m, name: "appcred.img")
        XCTAssertGreaterThanOrEqual(authentications(in: m), 3, m.log)
        XCTAssertTrue(m.log.contains("application credential"), m.log)
    }

    func testCloudsYamlMountRenewsTokens() throws {
        let clouds = try Shell.bash("\(Shell.quote(DevStack.script)) clouds").trimmingCharacters(in: .whitespacesAndNewlines)
        let m = try MountedContainer(container: container, options: ["segment_size=4M", "expire_soon_interval=3", "os_cloud=demo"],
                                     credentials: ["OS_CLIENT_CONFIG_FILE": clouds])
        mounts.append(m)
        try roundTripAcrossTokenLifetimes(m, name: "clouds.img")
        XCTAssertGreaterThanOrEqual(authentications(in: m), 3, m.log)
    }

    func testTempAuthMountRenewsTokens() throws {
        client = try DevStack.client("tempauth")
        try client.createContainer(container)
        let m = try mount(["segment_size=4M", "expire_soon_interval=3"], user: "tempauth")
        try roundTripAcrossTokenLifetimes(m, name: "tempauth.img", user: "tempauth")
        XCTAssertTrue(m.log.contains("tempauth v1"), m.log)
        XCTAssertGreaterThanOrEqual(authentications(in: m), 2, "tempauth tokens were renewed during the copy:\n\(m.log)")
    }

    func testTrustMountOutlivesTheUserTokenAndDeletesTheTrust() throws {
        let (userToken, info) = try Keystone.token(for: "demo")
        let lifetime = try XCTUnwrap(info.expiresAt).timeIntervalSinceNow
        XCTAssertLessThanOrEqual(lifetime, 10, "the user's token has at most 10 s of life left")
        let clouds = try Shell.bash("\(Shell.quote(DevStack.script)) clouds").trimmingCharacters(in: .whitespacesAndNewlines)
        let base = try DevStack.credentials("demo")
        let m = try MountedContainer(
            container: container,
            options: ["segment_size=32M", "expire_soon_interval=3", "trust=yes", "service_credentials=\(clouds)", "service_cloud=service"],
            credentials: ["OS_AUTH_URL": base["OS_AUTH_URL"]!, "OS_AUTH_TYPE": "token", "OS_TOKEN": userToken.reveal])
        mounts.append(m)
        let trustID = try XCTUnwrap(m.log.firstMatch(of: /trust ([0-9a-f]{32}) created/)?.1, m.log)
        XCTAssertTrue(try Keystone.trustExists(String(trustID)))

        let source = try randomFile("gig", mebibytes: 1024)
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("gig.img")))")
        let expected = try Shell.sha256(source)
        XCTAssertEqual(try serverSHA256("gig.img"), expected, "the upload, done as the user through the trust")
        // A throttled read that takes several token lifetimes.
        let started = Date()
        XCTAssertEqual(try slowSHA256(m.path("gig.img"), chunk: 8 << 20, pause: 0.15), expected)
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 16)
        XCTAssertLessThan(info.expiresAt!.timeIntervalSinceNow, 0, "the user's own token is long expired")
        XCTAssertGreaterThanOrEqual(m.log.components(separatedBy: "trust=\(trustID)").count - 1, 3, m.log)

        XCTAssertEqual(try m.unmount(), 0)
        XCTAssertTrue(m.log.contains("trust \(trustID) deleted"), m.log)
        XCTAssertFalse(try Keystone.trustExists(String(trustID)), "the trust is gone after unmount")
    }

    func testTrustThatCannotBeCreatedFallsBackToTheUserToken() throws {
        let (userToken, _) = try Keystone.token(for: "demo")
        let base = try DevStack.credentials("demo")
        // A service user Keystone refuses: the trust cannot be made.
        let bad = scratch + "/service.yaml"
        try """
            clouds:
              service:
                auth: {auth_url: "\(base["OS_AUTH_URL"]!)", username: service, password: wrong, project_name: service,
                       user_domain_name: Default, project_domain_name: Default}
            """.write(toFile: bad, atomically: true, encoding: .utf8)
        try Shell.bash("chmod 600 \(Shell.quote(bad))")
        let m = try MountedContainer(container: container, options: ["trust=yes", "service_credentials=\(bad)"],
                                     credentials: ["OS_AUTH_URL": base["OS_AUTH_URL"]!, "OS_AUTH_TYPE": "token",
                                                   "OS_TOKEN": userToken.reveal, "OS_PROJECT_NAME": "demo"])
        mounts.append(m)
        XCTAssertEqual(m.log.components(separatedBy: "could not create a trust").count - 1, 1, m.log)
        try Shell.bash("printf fallback > \(Shell.quote(m.path("f")))")
        XCTAssertEqual(try String(contentsOfFile: m.path("f"), encoding: .utf8), "fallback")
    }

    func testWorldReadableServiceCredentialsAreRefused() throws {
        let clouds = try Shell.bash("\(Shell.quote(DevStack.script)) clouds").trimmingCharacters(in: .whitespacesAndNewlines)
        let open = scratch + "/open.yaml"
        try FileManager.default.copyItem(atPath: clouds, toPath: open)
        try Shell.bash("chmod 644 \(Shell.quote(open))")
        let mountpoint = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let result = try Shell.run([MountedContainer.binary, container, mountpoint, "-o", "trust=yes,service_credentials=\(open)"],
                                   environment: DevStack.environment(with: ["OS_AUTH_URL": "http://127.0.0.1:5000/v3",
                                                                            "OS_AUTH_TYPE": "token", "OS_TOKEN": "x"]))
        XCTAssertEqual(result.status, 3)
        XCTAssertTrue(result.stderr.contains("readable by others"), result.stderr)
        XCTAssertFalse(MountedContainer.isMounted(mountpoint))
    }

    func testRevokedTokenMidUploadIsReplacedAndUploadCompletes() throws {
        // With 8 s tokens the mount renews before a revocation could bite; tokens of a minute are
        // kept ~30 s, so the revoked one is still in use when the proxy starts refusing it (within
        // its 10 s token cache).
        let ttl = DevStack.tokenTTL() ?? 8
        try Shell.bash("TOKEN_TTL=60 \(Shell.quote(DevStack.script)) start >/dev/null")
        defer { _ = try? Shell.bash("TOKEN_TTL=\(ttl) \(Shell.quote(DevStack.script)) start >/dev/null") }
        let m = try mount(["segment_size=2M"])
        let source = try randomFile("revoked", mebibytes: 24)
        let writer = try startSlowCopy(source, to: m.path("revoked.img"), mebibytes: 24, pause: 1.0)
        Thread.sleep(forTimeInterval: 3)
        try Keystone.revokeAllTokens(of: "demo")
        try Shell.finish(writer)
        XCTAssertEqual(try serverSHA256("revoked.img"), try Shell.sha256(source))
        XCTAssertTrue(m.log.contains("token refused (401)"), "the revocation was seen and answered with a re-auth:\n\(m.log)")
    }

    func testEightParallelWritersShareOneReauthPerExpiry() throws {
        let m = try mount(["segment_size=2M", "expire_soon_interval=3"])
        let source = try randomFile("par", mebibytes: 16)
        let started = Date()
        // Every writer's exit status counts (a bare `wait` would drop them).
        try Shell.bash((0..<8).map { i in
            "(for k in $(seq 0 15); do dd if=\(Shell.quote(source)) bs=1M skip=$k count=1 status=none || exit 1; sleep 1; done > \(Shell.quote(m.path("p\(i)")))) & pids=\"$pids $!\""
        }.joined(separator: "\n") + "\nfor p in $pids; do wait $p || exit 1; done")
        let elapsed = Date().timeIntervalSince(started)
        let expected = try Shell.sha256(source)
        for i in 0..<8 { XCTAssertEqual(try Shell.sha256(m.path("p\(i)")), expected) }
        let auths = authentications(in: m)
        // Tokens live 7-8 s and are renewed with 3 s left: one re-auth every ~4-5 s for the mount
        // as a whole, however many writers share it.
        let ttl = Double(try XCTUnwrap(DevStack.tokenTTL()))
        let ceiling = Int(elapsed / (ttl - 1 - 3)) + 2
        XCTAssertLessThanOrEqual(auths, ceiling, "8 writers over \(Int(elapsed)) s caused \(auths) authentications")
        XCTAssertGreaterThanOrEqual(auths, 2)
        print("eight writers: \(auths) authentications in \(Int(elapsed)) s")
    }

    func testKeystoneDownForTwentySecondsMidUploadStillCompletes() throws {
        let m = try mount(["segment_size=2M", "expire_soon_interval=3"])
        let source = try randomFile("outage", mebibytes: 30)
        let writer = try startSlowCopy(source, to: m.path("outage.img"), mebibytes: 30, pause: 1.0)
        try outage(of: "keystone", after: 3, lasting: 20, during: writer)
        XCTAssertEqual(try serverSHA256("outage.img"), try Shell.sha256(source))
        XCTAssertTrue(m.log.contains("authentication service unavailable"), m.log)
    }

    func trustOptions() throws -> [String] {
        let clouds = try Shell.bash("\(Shell.quote(DevStack.script)) clouds").trimmingCharacters(in: .whitespacesAndNewlines)
        return ["trust=yes", "service_credentials=\(clouds)", "service_cloud=service"]
    }

    func userTokenCredentials() throws -> [String: String] {
        let (userToken, _) = try Keystone.token(for: "demo")
        return ["OS_AUTH_URL": try DevStack.credentials("demo")["OS_AUTH_URL"]!, "OS_AUTH_TYPE": "token", "OS_TOKEN": userToken.reveal]
    }

    func testTrustModeMountOfAMissingContainerCreatesNoTrust() throws {
        let before = try Keystone.serviceTrusts()
        let mountpoint = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let result = try Shell.run([MountedContainer.binary, DevStack.uniqueName("missing"), mountpoint, "-o",
                                    try trustOptions().joined(separator: ",")],
                                   environment: DevStack.environment(with: try userTokenCredentials()))
        XCTAssertEqual(result.status, 4, result.stderr)
        XCTAssertTrue(result.stderr.contains("does not exist"), result.stderr)
        XCTAssertEqual(Set(try Keystone.serviceTrusts().keys), Set(before.keys), "no trust was left behind")
    }

    func testKilledTrustDaemonLeavesAnExpiringTrustThatGcFindsAndDeletes() throws {
        let m = try MountedContainer(container: container, options: try trustOptions() + ["trust_lifetime=3600"],
                                     credentials: try userTokenCredentials())
        mounts.append(m)
        let trustID = String(try XCTUnwrap(m.log.firstMatch(of: /trust ([0-9a-f]{32}) created/)?.1, m.log))
        let expiry = try XCTUnwrap(try Keystone.serviceTrusts()[trustID] ?? nil, "the trust has an expiry")
        let expiresAt = try XCTUnwrap(Timestamp.parseISO8601(expiry))
        XCTAssertEqual(expiresAt.timeIntervalSinceNow, 3600, accuracy: 120)
        let clouds = try trustOptions()[1...2].joined(separator: ",")
        let gc = [MountedContainer.binary, "gc", "--trusts", "-o", clouds]
        XCTAssertFalse(try Shell.run(gc).stdout.contains(trustID), "a trust a running mount holds is not listed")
        try m.kill()
        XCTAssertTrue(try Keystone.trustExists(trustID), "kill -9 leaves the trust")
        XCTAssertTrue(try Shell.run(gc).stdout.contains("trust \(trustID)"))
        let deleted = try Shell.run(gc + ["--delete"])
        XCTAssertEqual(deleted.status, 0, deleted.stderr)
        XCTAssertFalse(try Keystone.trustExists(trustID), "gc --trusts --delete removed it")
    }

    func testTrustIsRenewedFromAFreshUserTokenBeforeItExpires() throws {
        // A trust of 60 s: a quarter before its end the mount makes a new one from the token in
        // user_token_file (refreshed here, as whoever acts for the user would), then drops the old.
        let tokenFile = scratch + "/user-token"
        func freshToken() throws {
            try Keystone.token(for: "demo").0.reveal.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            try Shell.bash("chmod 600 \(Shell.quote(tokenFile))")
        }
        try freshToken()
        let m = try MountedContainer(container: container, options: try trustOptions() + ["trust_lifetime=60", "user_token_file=\(tokenFile)"],
                                     credentials: ["OS_AUTH_URL": try DevStack.credentials("demo")["OS_AUTH_URL"]!])
        mounts.append(m)
        let first = String(try XCTUnwrap(m.log.firstMatch(of: /trust ([0-9a-f]{32}) created/)?.1, m.log))
        let deadline = Date().addingTimeInterval(90)
        while !m.log.contains("trust \(first) deleted") {
            XCTAssertLessThan(Date(), deadline, "the trust was not renewed:\n\(m.log.suffix(3000))")
            if Date() >= deadline { return }
            try freshToken()
            Thread.sleep(forTimeInterval: 2)
        }
        let created = m.log.matches(of: /trust ([0-9a-f]{32}) created/).map { String($0.1) }
        let second = try XCTUnwrap(created.last)
        XCTAssertNotEqual(second, first)
        XCTAssertFalse(try Keystone.trustExists(first), "the old trust is deleted")
        XCTAssertTrue(try Keystone.trustExists(second))
        try Shell.bash("printf renewed > \(Shell.quote(m.path("after")))")
        XCTAssertEqual(try m.unmount(), 0)
        XCTAssertFalse(try Keystone.trustExists(second), "and the new one at unmount")
    }

    func testBareTokenMountSaysItCannotRenewAndFailsWithKeyExpired() throws {
        let m = try MountedContainer(container: container, options: [], credentials: try userTokenCredentials())
        mounts.append(m)
        XCTAssertTrue(m.log.contains("this token cannot be renewed"), m.log)
        try Shell.bash("printf before > \(Shell.quote(m.path("f")))")
        let json = try Shell.bash("\(Shell.quote(MountedContainer.binary)) status \(Shell.quote(m.mountpoint)) --json")
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual((status["auth"] as? [String: Any])?["renewable"] as? Bool, false)
        Thread.sleep(forTimeInterval: Double(DevStack.tokenTTL() ?? 8) + 1)
        // Python reports close(2)'s error (the name's lookup may need no request: the upload at
        // close is where the expired token shows).
        let result = try Shell.run(["/usr/bin/python3", "-c", "import sys; f = open(sys.argv[1], 'w'); f.write('after'); f.close()",
                                    m.path("g")])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("Key has expired"), result.stderr)
    }
}
