import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// chmod, chown, utimens, xattrs and symlinks stored in Swift, and trees shared with other clients.
final class MetadataTests: MountTestCase {
    /// `stat` lines of every path under `root`, relative, sorted: name, type, mode, owner, size, mtime (s).
    private func tree(_ root: String) throws -> String {
        try Shell.bash("cd \(Shell.quote(root)) && find . -mindepth 1 -printf '%p %y %m %U:%G %s %TY-%Tm-%Td_%TH:%TM:%.2TS\\n' | sort")
    }

    func testModesTimesXattrsAndSymlinksSurviveARemount() throws {
        var m = try mount()
        let q = { (name: String) in Shell.quote(m.path(name)) }
        try Shell.bash("""
            printf data > \(q("f")) && chmod 600 \(q("f")) && chown 1234:5678 \(q("f"))
            touch -d '2020-01-02 03:04:05.25' \(q("f"))
            setfattr -n user.Mime_Type -v 'text/plain; charset=utf-8' \(q("f"))
            setfattr -n user.binary -v 0x00ff25 \(q("f"))
            setfattr -n user.gone -v x \(q("f")) && setfattr -x user.gone \(q("f"))
            mkdir \(q("d")) && chmod 700 \(q("d")) && touch -d '2019-09-09 09:09:09' \(q("d"))
            ln -s f \(q("d/up-is-wrong")) && ln -s ../f \(q("d/rel")) && ln -s /etc/hostname \(q("abs"))
            """)
        let expected = """
            ./abs l 777 0:0 13 
            ./d d 700 0:0 0 2019-09-09_09:09:09
            ./d/rel l 777 0:0 4 
            ./d/up-is-wrong l 777 0:0 1 
            ./f f 600 1234:5678 4 2020-01-02_03:04:05
            """
        func check(_ m: MountedContainer, _ when: String) throws {
            // Symlink mtimes are the server's: compare everything else.
            let lines = try tree(m.mountpoint).split(separator: "\n").map { line -> String in
                let fields = line.split(separator: " ")
                return fields[1] == "l" ? fields.dropLast().joined(separator: " ") + " " : String(line)
            }
            XCTAssertEqual(lines.joined(separator: "\n"), expected.split(separator: "\n").joined(separator: "\n"), when)
            XCTAssertEqual(try Shell.bash("readlink \(Shell.quote(m.path("d/rel"))) \(Shell.quote(m.path("abs")))"), "../f\n/etc/hostname\n", when)
            XCTAssertEqual(try String(contentsOfFile: m.path("d/rel"), encoding: .utf8), "data", "a symlink inside the mount is followed")
            let xattrs = try Shell.bash("getfattr -d -e text --absolute-names \(Shell.quote(m.path("f"))) | grep -v '^#'")
            XCTAssertTrue(xattrs.contains("user.Mime_Type=\"text/plain; charset=utf-8\""), xattrs)
            XCTAssertFalse(xattrs.contains("user.gone"), xattrs)
            XCTAssertEqual(try Shell.bash("getfattr -n user.binary --only-values --absolute-names \(Shell.quote(m.path("f"))) | od -An -tx1 | tr -d ' \\n'"), "00ff25")
            let mtime = try Shell.bash("stat -c %.3Y \(Shell.quote(m.path("f")))")
            XCTAssertEqual(mtime, "1577934245.250\n", "mtime keeps its fraction")
        }
        try check(m, "before unmounting")
        _ = try m.unmount()
        mounts.removeAll()
        m = try mount()
        try check(m, "after a remount")

        // Other Swift clients see a real symlink where the target is inside the mount.
        let link = try XCTUnwrap(try client.head(container: container, object: "d/rel"))
        XCTAssertEqual(link.symlinkTarget, "\(container)/f")
        XCTAssertNil(try client.head(container: container, object: "abs")?.symlinkTarget, "a target outside the mount has no Swift link")
        let info = try XCTUnwrap(try client.head(container: container, object: "f"))
        XCTAssertEqual(info.metadata["mode"], "600")
        XCTAssertEqual(info.metadata["mtime"], "1577934245.250000000")

        // Renaming keeps metadata; a moved relative symlink keeps its text.
        try Shell.bash("mv \(Shell.quote(m.path("f"))) \(Shell.quote(m.path("g"))) && mv \(Shell.quote(m.path("d/rel"))) \(Shell.quote(m.path("rel2")))")
        XCTAssertEqual(try Shell.bash("stat -c '%a %u %Y' \(Shell.quote(m.path("g")))"), "600 1234 1577934245\n")
        XCTAssertEqual(try Shell.bash("readlink \(Shell.quote(m.path("rel2")))"), "../f\n")
        // Moving a directory moves its symlinks as symlinks (a server-side copy would copy the target).
        try Shell.bash("ln -s ../g \(Shell.quote(m.path("d/to-g"))) && mv \(Shell.quote(m.path("d"))) \(Shell.quote(m.path("d2")))")
        XCTAssertEqual(try Shell.bash("readlink \(Shell.quote(m.path("d2/to-g")))"), "../g\n")
        XCTAssertEqual(try client.head(container: container, object: "d2/to-g")?.symlinkTarget, "\(container)/g")
    }

    func testCopiesWithPreservedAttributesStoreThemInTheirOnePut() throws {
        let m = try mount()
        let source = scratch + "/src"
        try Shell.bash("printf hello > \(Shell.quote(source)) && chmod 640 \(Shell.quote(source)) && touch -d '2021-03-04 05:06:07' \(Shell.quote(source))")
        try Shell.bash("cp -p \(Shell.quote(source)) \(Shell.quote(m.path("copy")))")
        XCTAssertEqual(try Shell.bash("stat -c '%a %Y' \(Shell.quote(m.path("copy")))"), "640 1614834367\n")
        let requests = m.log.split(separator: "\n").filter { $0.contains("trace: ") && $0.contains("/copy") }
        XCTAssertEqual(requests.filter { $0.contains("trace: POST") }.count, 0,
                       "chmod and futimens on the open file go with its PUT:\n\(requests.joined(separator: "\n"))")
        XCTAssertEqual(requests.filter { $0.contains("trace: PUT") }.count, 1, "one PUT:\n\(requests.joined(separator: "\n"))")
        XCTAssertEqual(try client.head(container: container, object: "copy")?.metadata["mode"], "640")
        // touch on an existing file changes its metadata without copying its data.
        try Shell.bash("touch -d '2022-01-01 00:00:00' \(Shell.quote(m.path("copy")))")
        XCTAssertEqual(try Shell.bash("stat -c %Y \(Shell.quote(m.path("copy")))"), "1640995200\n")
        XCTAssertFalse(m.log.contains("staged for changing"), "touch staged the file")
    }

    func testLsOfWhatTheMountWroteReadsListingsOnlyAndKeepsNanosecondsCtimesAndSpecialFiles() throws {
        var m = try mount()
        let d = Shell.quote(m.path("d"))
        try Shell.bash("""
            mkdir \(d) && cd \(d) && for i in $(seq 30); do printf $i > f$i; done
            head -c 3000000 /dev/urandom > big && chmod 600 f3 && chown 7:8 f4
            touch -d '2001-02-03 04:05:06.123456789' f5 && mkfifo -m 640 fifo && mknod dev c 1 7 && mknod blk b 8 1
            python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('sock')"
            setfattr -n user.k -v v f6
            """)
        // %.9Y: mtime to the ns; %Z: ctime (moves on chmod, unlike the mtime).
        let format = "%n %F %a %u:%g %s %.9Y %t:%T"
        let before = try Shell.bash("cd \(d) && stat -c '\(format)' * | sort")
        XCTAssertTrue(before.contains("f5 regular file 644 0:0 1 981173106.123456789 0:0"), before)
        XCTAssertTrue(before.contains("fifo fifo 640 0:0 0 "), before)
        XCTAssertNotNil(before.split(separator: "\n").first { $0.hasPrefix("dev character special file 644 0:0 0 ") && $0.hasSuffix(" 1:7") },
                        before)
        XCTAssertTrue(before.contains("blk block special file ") && before.contains("sock socket "), before)
        let ctime = try Shell.bash("stat -c %.9Z \(Shell.quote(m.path("d/f5")))")
        Thread.sleep(forTimeInterval: 1.1)
        try Shell.bash("chmod 604 \(Shell.quote(m.path("d/f5")))")
        let after = try Shell.bash("stat -c '%.9Y %.9Z' \(Shell.quote(m.path("d/f5")))")
        XCTAssertTrue(after.hasPrefix("981173106.123456789 ") && !after.hasSuffix(ctime), "chmod moves the ctime only: \(ctime) → \(after)")
        Thread.sleep(forTimeInterval: 1.1)
        try Shell.bash("touch -a \(Shell.quote(m.path("d/f5")))")
        let touched = try Shell.bash("stat -c '%.9Y %.9Z' \(Shell.quote(m.path("d/f5")))")
        XCTAssertTrue(touched.hasPrefix("981173106.123456789 ") && touched != after,
                      "touch -a (UTIME_OMIT for the mtime) keeps the mtime, moves the ctime: \(after) → \(touched)")
        let inode = try Shell.bash("stat -c %i \(Shell.quote(m.path("d/f7")))")
        try Shell.bash("mv \(Shell.quote(m.path("d/f7"))) \(Shell.quote(m.path("d/f7b")))")
        XCTAssertEqual(try Shell.bash("stat -c %i \(Shell.quote(m.path("d/f7b")))"), inode, "rename keeps the inode number")
        let expected = try Shell.bash("cd \(d) && stat -c '\(format) %.9Z' * | sort")

        _ = try m.unmount()
        mounts.removeAll()
        m = try mount()
        let lsLong = try Shell.bash("ls -l \(Shell.quote(m.path("d"))) | wc -l")
        XCTAssertEqual(lsLong, "36\n", "total line and 35 names")
        XCTAssertEqual(try Shell.bash("cd \(Shell.quote(m.path("d"))) && stat -c '\(format) %.9Z' * | sort"), expected,
                       "a cold mount shows the same attributes, to the ns")
        // (The directory's own marker, d/, is read: markers keep their plain type for other clients.)
        let heads = m.log.split(separator: "\n").filter { $0.contains("trace: HEAD \(container)/d/") && !$0.contains("/d/?") }
        XCTAssertEqual(heads, [], "ls -l and stat of what the mount wrote cost no HEAD")
        XCTAssertEqual(try Shell.bash("getfattr -n user.k --only-values \(Shell.quote(m.path("d/f6")))"), "v", "xattrs still read")
    }

    func testMigrateAttrsGivesOtherClientsObjectsListedAttributesWithoutChangingWhatStatShows() throws {
        try client.put(container: container, object: "old/a", body: Array("aaa".utf8),
                       headers: [("X-Object-Meta-Mtime", "1500000000.25"), ("X-Object-Meta-Mode", "600"), ("Content-Type", "text/plain")])
        try client.put(container: container, object: "old/b", body: Array("bb".utf8), headers: [("Content-Type", "image/png")])
        try client.put(container: container, object: "old/", body: [], headers: [("Content-Type", "application/directory")])
        let env = DevStack.environment(with: try DevStack.credentials())
        let format = "%n %a %s %.9Y"
        var m = try mount()
        let before = try Shell.bash("cd \(Shell.quote(m.path("old"))) && stat -c '\(format)' a b")
        _ = try m.unmount()
        mounts.removeAll()

        let dry = try Shell.run([MountedContainer.binary, "migrate-attrs", container, "--dry-run", "--min-age", "0"], environment: env)
        XCTAssertTrue(dry.stdout.contains("3 objects: 2 would update, 0 already current, 1 skipped"), dry.stdout + dry.stderr)
        XCTAssertEqual(try client.head(container: container, object: "old/b")?.contentType, "image/png", "a dry run changes nothing")
        let young = try Shell.run([MountedContainer.binary, "migrate-attrs", container], environment: env)
        XCTAssertTrue(young.stdout.contains("3 objects: 0 updated, 0 already current, 3 skipped"),
                      "objects changed in the last minute are left alone: " + young.stdout + young.stderr)
        let run = try Shell.run([MountedContainer.binary, "migrate-attrs", container, "--min-age", "0"], environment: env)
        XCTAssertTrue(run.stdout.contains("3 objects: 2 updated"), run.stdout + run.stderr)
        let again = try Shell.run([MountedContainer.binary, "migrate-attrs", container, "--min-age", "0"], environment: env)
        XCTAssertTrue(again.stdout.contains("0 updated, 2 already current"), again.stdout + again.stderr)
        let a = try XCTUnwrap(try client.head(container: container, object: "old/a"))
        XCTAssertTrue(a.contentType.hasPrefix("text/plain;swiftmount=1;mtime=1500000000.250000000;"), a.contentType)
        XCTAssertEqual(a.metadata["mode"], "600", "metadata kept")
        XCTAssertEqual(try client.head(container: container, object: "old/")?.contentType, "application/directory")

        m = try mount()
        XCTAssertEqual(try Shell.bash("cd \(Shell.quote(m.path("old"))) && ls -l >/dev/null && stat -c '\(format)' a b"), before,
                       "the same modes and times, b's Last-Modified kept as its mtime")
        XCTAssertEqual(try Shell.bash("cat \(Shell.quote(m.path("old/a")))"), "aaa")
        let heads = m.log.split(separator: "\n").filter { $0.contains("trace: HEAD \(container)/old/a") || $0.contains("trace: HEAD \(container)/old/b") }
        XCTAssertEqual(heads.count, 1, "ls -l and stat took both from the listing; only cat's open read a:\n\(heads.joined(separator: "\n"))")
    }

    func testExtendedAttributeLimitsComeFromTheCluster() throws {
        let m = try mount()
        try Shell.bash("printf x > \(Shell.quote(m.path("f")))")
        let info = try client.clusterInfo().metadataLimits
        let bigValue = try Shell.run(["/usr/bin/setfattr", "-n", "user.big", "-v", String(repeating: "v", count: info.valueLength + 1), m.path("f")])
        XCTAssertTrue(bigValue.stderr.contains("Argument list too long"), "E2BIG: \(bigValue.stderr)")
        let longName = try Shell.run(["/usr/bin/setfattr", "-n", "user." + String(repeating: "n", count: info.nameLength + 1), "-v", "x", m.path("f")])
        XCTAssertTrue(longName.stderr.contains("Numerical result out of range"), "ERANGE: \(longName.stderr)")
        let missing = try Shell.run(["/usr/bin/getfattr", "-n", "user.none", m.path("f")])
        XCTAssertTrue(missing.stderr.contains("No such attribute"), missing.stderr)
        let other = try Shell.run(["/usr/bin/setfattr", "-n", "trusted.x", "-v", "1", m.path("f")])
        XCTAssertTrue(other.stderr.contains("Operation not supported"), "only user.* is stored: \(other.stderr)")
        XCTAssertEqual(try client.head(container: container, object: "f")?.metadata.keys.filter { $0 != "mtime" && $0 != "ctime" }, [])
    }

    func testLsLongAsksForSELinuxLabelsAndACLsOnceNotPerFile() throws {
        let m = try mount()
        try Shell.bash("cd \(Shell.quote(m.path(""))) && touch a b c d e")
        let label = try Shell.run(["/usr/bin/getfattr", "-n", "security.selinux", m.path("a")])
        XCTAssertTrue(label.stderr.contains("Operation not supported"), label.stderr)
        // ls remembers a filesystem that does not support them (ENOTSUP), not one where a file lacks them (ENODATA).
        let ls = try Shell.run(["/usr/bin/strace", "-e", "trace=getxattr,lgetxattr", "/bin/ls", "-l", m.path("")])
        XCTAssertEqual(ls.status, 0, ls.stderr)
        let asked = ls.stderr.split(separator: "\n").filter { $0.contains("getxattr(") }
        XCTAssertEqual(asked.count, 2, "one label and one ACL request for the first file only:\n\(ls.stderr)")
    }

    func testRsyncRoundTripKeepsModesAndMtimes() throws {
        let source = scratch + "/tree", back = scratch + "/back"
        try Shell.bash("""
            mkdir -p \(source)/a/b \(source)/empty && cd \(source)
            head -c 300000 /dev/urandom > big && printf small > a/small && printf deep > a/b/deep
            chmod 600 big && chmod 750 a && chmod 711 a/b/deep && ln -s ../big a/link
            touch -d '2018-08-08 08:08:08.5' big a/b/deep && touch -d '2017-07-07' a/b empty a
            touch -h -d '2016-06-06 06:06:06' a/link && touch -d '2015-05-05' a/small .
            """)
        var m = try mount()
        try Shell.bash("rsync -a \(source)/ \(Shell.quote(m.path("copy")))/")
        _ = try m.unmount()
        mounts.removeAll()
        m = try mount()
        try Shell.bash("rsync -a \(Shell.quote(m.path("copy")))/ \(back)/")
        XCTAssertEqual(try Shell.run(["/usr/bin/diff", "-r", source, back]).status, 0, "diff -r is clean")
        XCTAssertEqual(try tree(back), try tree(source), "modes and mtimes came back")
        // A second rsync finds nothing to do: sizes and mtimes match, and the files' attributes
        // come from listings (one page per directory), not a HEAD each.
        let before = m.log.split(separator: "\n").count
        let again = try Shell.bash("rsync -ai \(source)/ \(Shell.quote(m.path("copy")))/")
        XCTAssertEqual(again, "", "rsync wanted to transfer again:\n\(again)")
        let heads = m.log.split(separator: "\n").dropFirst(before).filter { line in
            ["copy/big ", "copy/a/small ", "copy/a/b/deep "].contains { line.contains("trace: HEAD \(container)/\($0)") }
        }
        XCTAssertEqual(heads, [], "no HEAD for the files")
    }

    func testSwiftclientTreeAppearsWithItsMtimesAndMountTreeListsInSwiftclient() throws {
        let source = scratch + "/up"
        try Shell.bash("""
            mkdir -p \(source)/x/y && cd \(source) && printf 1 > one && head -c 5000 /dev/urandom > x/two && printf 333 > x/y/three
            touch -d '2016-06-06 06:06:06' one x/two x/y/three
            """)
        let env = DevStack.environment(with: try DevStack.credentials())
        try Shell.bash("cd \(source) && swiftclient upload \(Shell.quote(container)) . >/dev/null", environment: env)
        let m = try mount()
        let files = try tree(m.mountpoint).split(separator: "\n").filter { $0.contains(" f ") }.joined(separator: "\n")
        // Modes and owners match too: the local files are root's 644, the mount's defaults.
        let local = try tree(source).split(separator: "\n").filter { $0.contains(" f ") }.joined(separator: "\n")
        XCTAssertEqual(files, local, "same names, sizes and mtimes as uploaded")

        try Shell.bash("mkdir -p \(Shell.quote(m.path("made/sub"))) && printf z > \(Shell.quote(m.path("made/sub/z")))")
        let listed = try Shell.bash("swiftclient list \(Shell.quote(container)) --prefix made/", environment: env)
        XCTAssertEqual(listed, "made/\nmade/sub/\nmade/sub/z\n", "directory markers and the file, as swiftclient lists them")
    }
}
