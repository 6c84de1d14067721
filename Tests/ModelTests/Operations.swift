import Foundation
@testable import SwiftMountFS

/// One step of a generated sequence: what a program (or another Swift client, or fate) does.
enum Op: CustomStringConvertible, Equatable {
    /// create or open with O_TRUNC, write `size` bytes of `pattern` sequentially, close.
    case write(String, size: Int, pattern: UInt8)
    /// The same, but only the last `tail` bytes are written (a sparse copy): the rest is zeros.
    case sparseWrite(String, size: Int, tail: Int, pattern: UInt8)
    /// open an existing file for writing without O_TRUNC, write `count` bytes at `offset`, close.
    case patch(String, offset: Int, count: Int, pattern: UInt8)
    case truncate(String, size: Int)
    case read(String, offset: Int, count: Int)
    case unlink(String)
    case rename(String, String)
    case mkdir(String)
    case rmdir(String)
    case chmod(String, mode: UInt32)
    /// utimensat(2) of the mtime, to the nanosecond.
    case utimens(String, mtime: FileTime)
    /// mkfifo(3): a FIFO (the harness, like a program, never opens one through the mount).
    case mknod(String)
    /// A file left open for writing across steps (slot `writer`): begin, append, finish.
    case begin(String, writer: Int)
    case append(writer: Int, size: Int, pattern: UInt8)
    /// close(2) of the writer, from the opener or from another thread of it.
    case finish(writer: Int, otherThread: Bool)
    case fsync(writer: Int)
    /// `swiftmount gc --grace 0` (with `--delete` when `delete`).
    case gc(delete: Bool)
    /// Another Swift client's PUT of a plain object, and its DELETE.
    case otherPut(String, size: Int, pattern: UInt8)
    case otherDelete(String)
    /// Another client's POST of its own metadata: Swift replaces all of it, the mode included.
    case otherPost(String)
    /// Every token expires.
    case expireTokens
    /// The daemon dies: open files are lost, a new filesystem is mounted on the same cluster.
    case crash
    /// SIGTERM with `shutdown_grace=0`: new files are refused (EROFS), files being written are
    /// aborted (nothing stored, their segments deleted); then the mount starts again.
    case shutdown
    /// The mount's queued segment deletions wait (its reclaimer is held before its next request)
    /// until `releaseReclaims`, a crash (they are lost, as in a killed daemon) or a shutdown (they
    /// are finished first): the ops in between run with deletions still queued.
    case holdReclaims
    case releaseReclaims
    /// The next matching request meets a transient fault (retries must hide it).
    case fault(FaultKind)

    enum FaultKind: String, CaseIterable {
        case segmentPut503, anyRequest401, getReset, manifestStoredButLost, objectPut408
    }

    var description: String {
        switch self {
        case .write(let p, let size, let pattern): "write \(p) \(size) bytes of \(pattern)"
        case .sparseWrite(let p, let size, let tail, let pattern): "sparse write \(p) \(size) bytes, last \(tail) of \(pattern)"
        case .patch(let p, let offset, let count, let pattern): "patch \(p) at \(offset), \(count) bytes of \(pattern)"
        case .truncate(let p, let size): "truncate \(p) to \(size)"
        case .read(let p, let offset, let count): "read \(p) at \(offset), \(count) bytes"
        case .unlink(let p): "unlink \(p)"
        case .rename(let a, let b): "rename \(a) → \(b)"
        case .mkdir(let p): "mkdir \(p)"
        case .rmdir(let p): "rmdir \(p)"
        case .chmod(let p, let mode): "chmod \(String(mode, radix: 8)) \(p)"
        case .utimens(let p, let mtime): "touch -d @\(mtime.text) \(p)"
        case .mknod(let p): "mkfifo \(p)"
        case .begin(let p, let writer): "open \(p) for writing as w\(writer)"
        case .append(let writer, let size, let pattern): "append \(size) bytes of \(pattern) to w\(writer)"
        case .finish(let writer, let other): "close w\(writer)\(other ? " from another thread" : "")"
        case .fsync(let writer): "fsync w\(writer)"
        case .gc(let delete): delete ? "gc --grace 0 --delete" : "gc --grace 0"
        case .otherPut(let p, let size, let pattern): "other client PUT \(p) \(size) bytes of \(pattern)"
        case .otherDelete(let p): "other client DELETE \(p)"
        case .otherPost(let p): "other client POST \(p) (\(Int(ListedAttributes.currentSlack) + 1) s later)"
        case .expireTokens: "tokens expire"
        case .crash: "daemon killed; mounted again"
        case .shutdown: "SIGTERM, shutdown_grace=0; mounted again"
        case .holdReclaims: "segment deletions held"
        case .releaseReclaims: "segment deletions go on"
        case .fault(let kind): "next request fault: \(kind.rawValue)"
        }
    }
}

/// A seeded generator (SplitMix64): the same seed gives the same sequence on every machine.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates operation sequences over a small namespace, so names collide and directories fill
/// and empty; sizes straddle the segment size (`segment`) and the threshold.
struct SequenceGenerator {
    let segment: Int
    static let paths = ["/a", "/b", "/d", "/e", "/d/a", "/d/b", "/d/s", "/d/s/a", "/e/a", "/e/b"]
    static let directories = ["/d", "/e", "/d/s"]

    func size(_ rng: inout SeededRandom) -> Int {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return 0
        case 1...4: return Int.random(in: 1...4096, using: &rng)
        case 5: return segment + Int.random(in: -1...1, using: &rng)
        case 6, 7: return Int.random(in: segment + 2...3 * segment + 17, using: &rng)
        default: return Int.random(in: 4097...segment - 2, using: &rng)
        }
    }

    func sequence(seed: UInt64, length: Int) -> [Op] {
        var rng = SeededRandom(seed: seed)
        var ops: [Op] = []
        // A few directories first, so files have somewhere to go.
        for dir in Self.directories where Bool.random(using: &rng) { ops.append(.mkdir(dir)) }
        // Writers as the sequence leaves them: slot → (path, bytes appended).
        var open: [Int: (path: String, bytes: Int)] = [:]
        while ops.count < length {
            let op = next(&rng)
            ops.append(op)
            switch op {
            case .begin(let p, let w): open[w] = open[w] ?? (p, 0)
            case .append(let w, let size, _): open[w]?.bytes += size
            case .finish(let w, _): open[w] = nil
            case .crash, .shutdown: open = [:]
            default: break
            }
            // The daemon dies while a large file is being copied in, and the user runs the copy
            // again: the new upload takes over the one the crash cut.
            if case .append(let w, _, _) = op, let writer = open[w], writer.bytes > segment, Bool.random(using: &rng) {
                ops += [.crash, .write(writer.path, size: Int.random(in: segment + 2...3 * segment + 17, using: &rng),
                                       pattern: UInt8.random(in: 1...250, using: &rng))]
                open = [:]
            }
        }
        return ops
    }

    private func next(_ rng: inout SeededRandom) -> Op {
        let path = Self.paths.randomElement(using: &rng)!
        let other = Self.paths.randomElement(using: &rng)!
        let pattern = UInt8.random(in: 1...250, using: &rng)
        let writer = Int.random(in: 0..<2, using: &rng)
        switch Int.random(in: 0..<106, using: &rng) {
        case 0..<16: return .write(path, size: size(&rng), pattern: pattern)
        case 16..<19:
            let total = size(&rng)
            return .sparseWrite(path, size: total, tail: Int.random(in: 0...min(total, 5000), using: &rng), pattern: pattern)
        case 19..<25: return .patch(path, offset: Int.random(in: 0...2 * segment, using: &rng), count: Int.random(in: 1...5000, using: &rng), pattern: pattern)
        case 25..<29: return .truncate(path, size: size(&rng))
        case 29..<34: return .read(path, offset: Int.random(in: 0...2 * segment, using: &rng), count: Int.random(in: 1...segment, using: &rng))
        case 34..<41: return .unlink(path)
        case 41..<51: return .rename(path, other)
        case 51..<56: return .mkdir(Self.directories.randomElement(using: &rng)!)
        case 56..<60: return .rmdir(Self.directories.randomElement(using: &rng)!)
        case 60..<63: return .chmod(path, mode: [0o600, 0o640, 0o755].randomElement(using: &rng)!)
        case 63..<68: return .begin(path, writer: writer)
        case 68..<74: return .append(writer: writer, size: size(&rng), pattern: pattern)
        case 74..<79: return .finish(writer: writer, otherThread: Bool.random(using: &rng))
        case 79..<81: return .fsync(writer: writer)
        case 81..<85: return .gc(delete: Int.random(in: 0..<4, using: &rng) > 0)
        case 85..<88: return .otherPut(path, size: Int.random(in: 0...4096, using: &rng), pattern: pattern)
        case 88..<89: return .otherDelete(path)
        case 89..<90: return .otherPost(path)
        case 90..<92: return .expireTokens
        case 92: return .crash
        case 93: return .shutdown
        case 94: return .mknod(path)
        case 95: return .utimens(path, mtime: FileTime(seconds: Int.random(in: 0...2_000_000_000, using: &rng),
                                                       nanoseconds: Int.random(in: 0...999_999_999, using: &rng)))
        case 96..<100: return .holdReclaims
        case 100: return .releaseReclaims
        default: return .fault(Op.FaultKind.allCases.randomElement(using: &rng)!)
        }
    }
}
