import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// Mounting the way operators do: mount(8) and an fstab line, through fuse3's mount helper.
final class OperationsTests: MountTestCase {
    let installed = "/usr/local/bin/swiftmount"

    override func setUpWithError() throws {
        try super.setUpWithError()
        if FileManager.default.fileExists(atPath: installed) {
            try? FileManager.default.removeItem(atPath: installed + ".before-test")
            try FileManager.default.copyItem(atPath: installed, toPath: installed + ".before-test")
        }
        try Shell.bash("\(Shell.quote(DevStack.packageRoot))/scripts/install.sh --binary \(Shell.quote(MountedContainer.binary)) >/dev/null")
    }

    override func tearDownWithError() throws {
        if FileManager.default.fileExists(atPath: installed + ".before-test") {
            try? FileManager.default.removeItem(atPath: installed)
            try FileManager.default.moveItem(atPath: installed + ".before-test", toPath: installed)
        } else {
            try Shell.bash("\(Shell.quote(DevStack.packageRoot))/scripts/uninstall.sh >/dev/null")
        }
        try super.tearDownWithError()
    }

    func testMountTypeAndFstabLineMountThroughTheHelper() throws {
        let clouds = try Shell.bash("\(Shell.quote(DevStack.script)) clouds").trimmingCharacters(in: .whitespacesAndNewlines)
        // As at boot: no OS_* variables, credentials from a clouds.yaml the OpenStack client would find.
        let env = DevStack.environment(with: ["OS_CLIENT_CONFIG_FILE": clouds])
        let mnt = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let log = scratch + "/daemon.log"

        try Shell.bash("mount -t fuse.swiftmount \(Shell.quote(container)) \(Shell.quote(mnt)) -o os_cloud=demo,log_file=\(log)", environment: env)
        XCTAssertTrue(MountedContainer.isMounted(mnt))
        try Shell.bash("printf via-mount > \(Shell.quote(mnt + "/a"))")
        try Shell.bash("umount \(Shell.quote(mnt))")
        XCTAssertFalse(MountedContainer.isMounted(mnt))

        let fstab = scratch + "/fstab"
        try "\(container) \(mnt) fuse.swiftmount _netdev,noauto,x-systemd.automount,os_cloud=demo,segment_size=256M,log_file=\(log) 0 0\n"
            .write(toFile: fstab, atomically: true, encoding: .utf8)
        try Shell.bash("mount -T \(Shell.quote(fstab)) \(Shell.quote(mnt))", environment: env)
        XCTAssertEqual(try String(contentsOfFile: mnt + "/a", encoding: .utf8), "via-mount")
        try Shell.bash("umount \(Shell.quote(mnt))")
        XCTAssertFalse(MountedContainer.isMounted(mnt))
        XCTAssertEqual(try objectNames(in: container), ["a"])
    }
}
