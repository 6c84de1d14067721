import Foundation
import Logging

/// What the FUSE adapter and the command need of a mounted tree: one container
/// (SwiftFilesystem), or a whole account whose containers are the top-level directories
/// (AccountFilesystem). Paths are absolute within the mount ("/a/b").
public protocol MountedFilesystem: AnyObject, Sendable {
    var options: MountOptions { get }
    var logger: Logger { get }
    /// Where the mount is, as the kernel spells it (an absolute path without symlinks).
    var mountpoint: String { get set }

    func getattr(_ path: String, handle: UInt64?) throws -> FileAttributes
    /// Opens a directory for reading (opendir): its entries come page by page as they are read.
    func readdir(_ path: String) throws -> DirectoryStream
    func mkdir(_ path: String, creator: Creator) throws
    func rmdir(_ path: String) throws
    func unlink(_ path: String) throws
    func rename(_ from: String, to: String, noReplace: Bool) throws
    func symlink(_ target: String, at path: String, creator: Creator) throws
    func readlink(_ path: String) throws -> String
    func changeMetadata(_ path: String, _ change: MetadataChange) throws
    func extendedAttribute(_ path: String, name: String) throws -> [UInt8]
    func extendedAttributeNames(_ path: String) throws -> [String]
    func statfs() -> FilesystemStats

    func create(_ path: String, creator: Creator, caller: Int32) throws -> UInt64
    func open(_ path: String, mode: OpenMode, caller: Int32) throws -> UInt64
    func read(handle: UInt64, offset: Int, count: Int) throws -> [ArraySlice<UInt8>]
    func write(handle: UInt64, offset: Int, data: [UInt8]) throws
    func flush(handle: UInt64, caller: Int32) throws
    func fsync(handle: UInt64) throws
    func release(handle: UInt64)
    func truncate(_ path: String, size: Int, handle: UInt64?) throws

    func status(mountpoint: String, auth: AuthStatus) -> MountStatus
    func drain(grace: Double?)
    func endDrainNow()
}

/// Who creates a file or directory, as the kernel says.
public struct Creator: Sendable {
    /// Permission bits, and the file type for mknod(2) of a FIFO, socket or device.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// A device's number (mknod).
    public var rdev: UInt32

    public init(mode: UInt32, uid: UInt32, gid: UInt32, rdev: UInt32 = 0) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.rdev = rdev
    }
}
