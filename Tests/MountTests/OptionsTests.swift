import Foundation
@testable import SwiftMountFS
import SwiftStorage
import TestSupport
import XCTest

/// Option parsing and limits, without the stack; and bad input at the command line.
final class OptionsTests: XCTestCase {
    func testUnknownOptionsAndBadValuesAreRefused() {
        for bad in ["segmnt_size=1M", "log_level=verbose", "verify_md5=maybe", "trust=sure"] {
            XCTAssertThrowsError(try MountOptions.parse([bad]), bad)
        }
        XCTAssertThrowsError(try MountOptions.parse(["segmnt_size=1M"])) { XCTAssertTrue("\($0)".contains("unknown option segmnt_size")) }
    }

    func testEveryOptionIsTakenByTheParserAndDescribedInHelpReadmeAndManPage() throws {
        for name in MountOptions.names {
            do { _ = try MountOptions.parse([name + "=\u{1}"]) } catch {
                XCTAssertFalse("\(error)".contains("unknown option"), "\(name) is parsed: \(error)")
            }
        }
        let readme = try String(contentsOfFile: DevStack.packageRoot + "/README.md", encoding: .utf8)
        // The option table's first column: one or more `name`s per row.
        let table = readme.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { $0.split(separator: "|").first ?? "" }.joined(separator: " ")
        let man = try String(contentsOfFile: DevStack.packageRoot + "/docs/swiftmount.8", encoding: .utf8)
        let help = try Shell.run([MountedContainer.binary, "--help"]).stdout
        func mentions(_ text: some StringProtocol, _ name: String) -> Bool {
            text.range(of: "(^|[^a-z_])" + name + "($|[^a-z_])", options: .regularExpression) != nil
        }
        for (document, text) in [("README option table", String(table)), ("man page", man), ("--help", help)] {
            let missing = MountOptions.names.filter { !mentions(text, "`" + $0 + "`") && !(document != "README option table" && mentions(text, $0)) }
            XCTAssertEqual(missing.sorted(), [], "\(document) leaves out these options")
        }
    }

    func testYesNoValuesInEveryCommonSpelling() throws {
        XCTAssertTrue(try MountOptions.parse(["verify_md5=on"]).verifyMD5)
        XCTAssertTrue(try MountOptions.parse(["verify_md5"]).verifyMD5)
        XCTAssertFalse(try MountOptions.parse(["verify_md5=off"]).verifyMD5)
        XCTAssertFalse(try MountOptions.parse(["verify_md5=no"]).verifyMD5)
        // A flag written out as "no" must not turn on what it names (TLS checks off, no permission checks).
        XCTAssertFalse(try MountOptions.parse(["insecure=no"]).insecure)
        XCTAssertTrue(try MountOptions.parse(["insecure"]).insecure)
        XCTAssertTrue(try MountOptions.parse(["allow_other", "nodefault_permissions=no"]).fuseOptions.contains("default_permissions"))
        XCTAssertFalse(try MountOptions.parse(["allow_other", "nodefault_permissions"]).fuseOptions.contains("default_permissions"))
        XCTAssertThrowsError(try MountOptions.parse(["insecure=maybe"]))
    }

    func testMountAndFstabFlagsAreAcceptedButNotPassedToLibfuse() throws {
        let options = try MountOptions.parse(["_netdev", "nofail", "x-systemd.automount", "noauto", "ro", "dev", "suid"])
        XCTAssertEqual(options.fuseOptions, ["ro", "dev", "suid"])
    }

    func testAllowOtherTurnsOnPermissionChecksUnlessRefused() throws {
        XCTAssertEqual(try MountOptions.parse(["allow_other"]).fuseOptions, ["allow_other", "default_permissions"])
        XCTAssertEqual(try MountOptions.parse(["allow_other", "nodefault_permissions"]).fuseOptions, ["allow_other"])
        XCTAssertEqual(try MountOptions.parse(["default_permissions", "allow_other"]).fuseOptions, ["default_permissions", "allow_other"])
        XCTAssertEqual(try MountOptions.parse([]).fuseOptions, [])
    }

    func testStorageFailuresMapToTheErrnoTheyMean() {
        let cases: [(SwiftError, Int32)] = [
            (.quota("413 Upload exceeds quota."), EDQUOT), (.rejected(status: 413, "too large"), EFBIG), (.noSpace("507"), ENOSPC),
            (.auth(.unavailable("keystone down")), EIO), (.auth(.expired("bare token")), EKEYEXPIRED),
            (.auth(.rejected("401")), EACCES), (.rejected(status: 409, "segments gone"), EIO), (.outcomeUnknown("lost"), EIO),
        ]
        for (error, errno) in cases { XCTAssertEqual(FSError.from(error).errno, errno, "\(error)") }
    }

    func testSegmentPlanCapacityUnderTheManifestLimit() {
        var cluster = ClusterInfo()
        cluster.maxManifestSegments = 1000
        XCTAssertEqual(SegmentPlan(base: 64 << 20, cluster: cluster).capacity, Int(251.75 * Double(1 << 30)))
        cluster.maxManifestSegments = 100
        XCTAssertEqual(SegmentPlan(base: 1 << 20, cluster: cluster).capacity, 436 << 20)
    }

    func testUnknownOptionExitsTwoBeforeAnyNetworkRequest() throws {
        let mountpoint = NSTemporaryDirectory() + "swiftmount-opt-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountpoint) }
        // Port 9 (discard) has nobody listening: any auth attempt would fail with exit 3.
        let started = Date()
        let result = try Shell.run([MountedContainer.binary, "c", mountpoint, "-o", "segmnt_size=1M"],
                                   environment: DevStack.environment(with: ["OS_AUTH_URL": "http://127.0.0.1:9/v3", "OS_USERNAME": "u",
                                                                            "OS_PASSWORD": "p", "OS_PROJECT_NAME": "p"]))
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("unknown option segmnt_size"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    /// The command line as README and the man page promise it: each subcommand's own help, shell
    /// completion, `-oa=b` joined as mount(8) may pass it, `mount` spelled out, and usage errors
    /// exiting 2 with the usage.
    func testSubcommandsHaveTheirOwnHelpCompletionAndUsageErrorsExitTwo() throws {
        let binary = MountedContainer.binary
        for (args, expected) in [(["gc", "--help"], "--grace"), (["help", "migrate-attrs"], "--min-age"), (["status", "--help"], "--json"),
                                 (["mount", "--help"], "segment_size"), (["--generate-completion-script", "bash"], "migrate-attrs")] {
            let out = try Shell.run([binary] + args)
            XCTAssertEqual(out.status, 0, "\(args): \(out.stderr)")
            XCTAssertTrue(out.stdout.contains(expected), "\(args) says \(expected)")
        }
        for args in [["status"], ["only-a-container"], ["gc", "--grace", "soon", "c"], ["c", "/mnt", "--bogus"]] {
            let out = try Shell.run([binary] + args)
            XCTAssertEqual(out.status, 2, "\(args): \(out.stderr)")
            XCTAssertTrue(out.stderr.contains("Usage:"), "\(args): \(out.stderr)")
        }
        let mountpoint = NSTemporaryDirectory() + "swiftmount-opt-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountpoint) }
        let offline = DevStack.environment(with: ["OS_AUTH_URL": "http://127.0.0.1:9/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
                                                  "OS_PROJECT_NAME": "p"])
        // A container named like a subcommand, with the subcommand spelled out.
        for args in [["c", mountpoint, "-osegmnt_size=1M"], ["mount", "c", mountpoint, "-o", "rw,segmnt_size=1M"],
                     ["mount", "gc", mountpoint, "-o", "segmnt_size=1M"], ["mount", "help", mountpoint, "-o", "segmnt_size=1M"]] {
            let out = try Shell.run([binary] + args, environment: offline)
            XCTAssertEqual(out.status, 2, "\(args): \(out.stderr)")
            XCTAssertTrue(out.stderr.contains("unknown option segmnt_size"), "\(args): the -o items reach the option parser: \(out.stderr)")
        }
    }

    func testUnusableCacheDirIsRefusedBeforeMounting() throws {
        let mountpoint = NSTemporaryDirectory() + "swiftmount-opt-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountpoint) }
        // Under a regular file: no directory can be made there.
        let result = try Shell.run([MountedContainer.binary, "c", mountpoint, "-o", "cache_dir=/etc/hostname/spool"],
                                   environment: DevStack.environment(with: ["OS_AUTH_URL": "http://127.0.0.1:9/v3", "OS_USERNAME": "u",
                                                                            "OS_PASSWORD": "p", "OS_PROJECT_NAME": "p"]))
        XCTAssertEqual(result.status, 5, result.stderr)
        XCTAssertTrue(result.stderr.contains("cache_dir /etc/hostname/spool cannot be created (Not a directory)"), result.stderr)
        XCTAssertFalse(try String(contentsOfFile: "/proc/mounts", encoding: .utf8).contains(mountpoint), "nothing mounted")
    }

    func testGcWithWrongCredentialsExitsThreeLikeTheMount() throws {
        var credentials = try DevStack.credentials()
        credentials["OS_PASSWORD"] = "wrong"
        let result = try Shell.run([MountedContainer.binary, "gc", "c"], environment: DevStack.environment(with: credentials))
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertFalse(result.stderr.contains("wrong"), "no secret in the message")
    }

    func testCredentialsFileAndOsCloudTogetherAreRefused() throws {
        let file = NSTemporaryDirectory() + "swiftmount-creds-" + UUID().uuidString.prefix(8)
        try "OS_AUTH_URL=http://127.0.0.1:5000/v3\n".write(toFile: file, atomically: true, encoding: .utf8)
        try Shell.bash("chmod 600 \(Shell.quote(file))")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try Shell.run([MountedContainer.binary, "gc", "c", "-o", "credentials=\(file),os_cloud=demo"],
                                   environment: DevStack.environment(with: [:]))
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertTrue(result.stderr.contains("give one"), result.stderr)
    }
}
