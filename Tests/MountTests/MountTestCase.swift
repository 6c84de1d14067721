import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// Base for tests that mount a fresh container of the real dev stack.
class MountTestCase: XCTestCase {
    var container = ""
    /// The container setUp made and the client it used, deleted with its content at tearDown.
    private var made: (name: String, client: SwiftClient?) = ("", nil)
    var client: SwiftClient!
    var mounts: [MountedContainer] = []
    var scratch = ""

    override func setUpWithError() throws {
        client = try DevStack.client()
        container = DevStack.uniqueName("t")
        try client.createContainer(container)
        made = (container, client)
        scratch = NSTemporaryDirectory() + "swiftmount-scratch-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        // What the test stored goes (each gc and large-object unlink lists the whole account), also
        // the container a test made in another account; a failed purge only leaves it behind.
        defer {
            if let setUpClient = made.client {
                try? DevStack.purge(made.name, client: setUpClient)
                if client !== setUpClient { try? DevStack.purge(container, client: client) }
            }
        }
        // A daemon that hangs or fails at unmount fails the test (unless the test ended it itself).
        for mount in mounts {
            let status = try mount.unmount()
            if !mount.endedByTest { XCTAssertEqual(status, 0, "the daemon exited \(status) at unmount:\n\(mount.log.suffix(2000))") }
        }
        mounts = []
        try? FileManager.default.removeItem(atPath: scratch)
    }

    func mount(_ options: [String] = [], user: String = "demo") throws -> MountedContainer {
        let m = try MountedContainer(container: container, options: options, user: user)
        mounts.append(m)
        return m
    }

    /// A file of random bytes in the scratch folder.
    func randomFile(_ name: String, mebibytes: Int) throws -> String {
        let path = scratch + "/" + name
        try Shell.bash("head -c \(mebibytes)M /dev/urandom > \(Shell.quote(path))")
        return path
    }

    /// Downloads an object with python-swiftclient (an independent client) and returns its sha256.
    func serverSHA256(_ object: String, in other: String? = nil, user: String = "demo") throws -> String {
        let target = scratch + "/download-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: target) }
        try Shell.bash("swiftclient download \(Shell.quote(other ?? container)) \(Shell.quote(object)) -o \(Shell.quote(target))",
                       environment: DevStack.environment(with: DevStack.credentials(user)))
        return try Shell.sha256(target)
    }

    /// Writes `source` into `target` one MiB at a time with a pause after each, through one
    /// descriptor, so one upload spans as long as the test needs. Any write or close error makes
    /// the writer exit non-zero.
    func slowCopy(_ source: String, to target: String, mebibytes: Int, pause: Double) throws {
        try Shell.finish(startSlowCopy(source, to: target, mebibytes: mebibytes, pause: pause))
    }

    func startSlowCopy(_ source: String, to target: String, mebibytes: Int, pause: Double) throws -> Process {
        try Shell.background("""
            /usr/bin/python3 -c 'import os, sys, time
            src = open(sys.argv[1], "rb")
            fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for _ in range(int(sys.argv[3])):
                block = memoryview(src.read(1 << 20))
                while block:
                    block = block[os.write(fd, block):]
                time.sleep(float(sys.argv[4]))
            os.close(fd)' \(Shell.quote(source)) \(Shell.quote(target)) \(mebibytes) \(pause)
            """)
    }

    /// Waits until `condition` holds; a hang fails the test after `timeout` seconds.
    func waitFor(_ what: String, timeout: Double = 60, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw Shell.Failure(description: "timed out after \(Int(timeout)) s waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// sha256 of `path` read through one descriptor in `chunk`-byte reads with a pause after each.
    func slowSHA256(_ path: String, chunk: Int, pause: Double) throws -> String {
        try Shell.bash("""
            /usr/bin/python3 -c 'import hashlib, sys, time
            h = hashlib.sha256()
            with open(sys.argv[1], "rb", buffering=0) as f:
                while True:
                    b = f.read(\(chunk))
                    if not b: break
                    h.update(b); time.sleep(\(pause))
            print(h.hexdigest())' \(Shell.quote(path))
            """).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many times the daemon obtained a token (its log says so once per authentication).
    func authentications(in mount: MountedContainer) -> Int {
        mount.log.components(separatedBy: "authenticated (").count - 1
    }

    func objectNames(in container: String, prefix: String = "") throws -> [String] {
        try client.listAll(container: container, prefix: prefix, delimiter: nil).compactMap {
            if case .object(let o) = $0 { return o.name }
            return nil
        }
    }
}

/// Tests that stop parts of the stack: whatever happens, the stack is whole again afterwards.
class StackFaultTestCase: MountTestCase {
    override func tearDownWithError() throws {
        try Shell.bash("\(Shell.quote(DevStack.script)) start >/dev/null")
        try super.tearDownWithError()
    }

    func stopService(_ name: String) throws {
        try Shell.bash("\(Shell.quote(DevStack.script)) stop \(name) >/dev/null")
    }

    func startStack() throws {
        try Shell.bash("\(Shell.quote(DevStack.script)) start >/dev/null")
    }

    /// Stops `service` `after` seconds into `work`, brings it back `lasting` seconds later, and
    /// waits for `work` to succeed.
    func outage(of service: String, after: Double, lasting: Double, during work: Process) throws {
        Thread.sleep(forTimeInterval: after)
        try stopService(service)
        Thread.sleep(forTimeInterval: lasting)
        try startStack()
        try Shell.finish(work)
    }
}
