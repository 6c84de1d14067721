import Foundation
import Glibc
@testable import SwiftMountFS

/// What a POSIX filesystem should look like after each operation: the reference the mount is
/// compared with. Directories exist explicitly (mkdir) or because something is stored under them.
struct Model {
    struct File: Equatable {
        var bytes: [UInt8]
        var mode: UInt32?
        /// Set by utimens; nil: the time of the last write, not checked.
        var mtime: FileTime? = nil
        var fifo = false
    }

    struct Writer {
        var path: String
        var bytes: [UInt8]
        /// The name was unlinked while open: nothing will be stored.
        var unlinked = false
    }

    var files: [String: File] = [:]
    var dirs: Set<String> = []
    var writers: [Int: Writer] = [:]

    static func parent(_ p: String) -> String {
        guard let slash = p.lastIndex(of: "/"), slash != p.startIndex else { return "/" }
        return String(p[..<slash])
    }

    static func ancestors(_ p: String) -> [String] {
        var result: [String] = []
        var current = parent(p)
        while current != "/" {
            result.append(current)
            current = parent(current)
        }
        return result.reversed()
    }

    /// Paths of files being written under their names (not unlinked).
    var pending: [String: [UInt8]] {
        Dictionary(writers.values.filter { !$0.unlinked }.map { ($0.path, $0.bytes) }, uniquingKeysWith: { $1 })
    }

    func isDir(_ p: String) -> Bool {
        if p == "/" { return true }
        let prefix = p + "/"
        return dirs.contains(p) || files.keys.contains { $0.hasPrefix(prefix) } || dirs.contains { $0.hasPrefix(prefix) }
            || pending.keys.contains { $0.hasPrefix(prefix) }
    }

    func isFile(_ p: String) -> Bool { files[p] != nil || pending[p] != nil }

    func isFifo(_ p: String) -> Bool { files[p]?.fifo == true && pending[p] == nil }

    func exists(_ p: String) -> Bool { isDir(p) || isFile(p) }

    /// The errno path resolution gives before the operation itself (as the kernel walks the path).
    func resolve(_ p: String) -> Int32? {
        for ancestor in Self.ancestors(p) {
            if isFile(ancestor) { return ENOTDIR }
            if !isDir(ancestor) { return ENOENT }
        }
        return nil
    }

    func writer(at p: String) -> Int? {
        writers.first { !$0.value.unlinked && $0.value.path == p }?.key
    }

    func hasWriter(atOrUnder p: String) -> Bool {
        writers.values.contains { !$0.unlinked && ($0.path == p || $0.path.hasPrefix(p + "/")) }
    }

    func children(of p: String) -> [String] {
        let prefix = p == "/" ? "/" : p + "/"
        var names = Set<String>()
        for path in Array(files.keys) + Array(dirs) + Array(pending.keys) where path.hasPrefix(prefix) {
            let rest = path.dropFirst(prefix.count)
            if let name = rest.split(separator: "/").first { names.insert(prefix + name) }
        }
        return names.sorted()
    }

    /// Moves everything at or under `from` to `to`.
    mutating func move(_ from: String, to: String) {
        func mapped(_ p: String) -> String? {
            if p == from { return to }
            if p.hasPrefix(from + "/") { return to + p.dropFirst(from.count) }
            return nil
        }
        var newFiles: [String: File] = [:]
        for (p, f) in files { newFiles[mapped(p) ?? p] = f }
        files = newFiles
        var newDirs = Set<String>()
        for d in dirs { newDirs.insert(mapped(d) ?? d) }
        dirs = newDirs
    }
}

extension Array where Element == UInt8 {
    /// `count` bytes of `pattern`, varied by position so shifted data shows.
    static func pattern(_ pattern: UInt8, count: Int, from offset: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: Int(pattern) &+ (offset + $0) / 7) }
    }

    mutating func write(_ data: [UInt8], at offset: Int) {
        if offset > count { append(contentsOf: [UInt8](repeating: 0, count: offset - count)) }
        let overlap = Swift.min(data.count, count - offset)
        if overlap > 0 { replaceSubrange(offset..<(offset + overlap), with: data[0..<overlap]) }
        if overlap < data.count { append(contentsOf: data[overlap...]) }
    }

    mutating func resize(_ size: Int) {
        if size < count { removeLast(count - size) } else { append(contentsOf: [UInt8](repeating: 0, count: size - count)) }
    }
}
