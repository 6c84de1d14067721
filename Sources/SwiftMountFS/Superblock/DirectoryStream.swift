import Synchronization

/// An open directory, read as the kernel asks for it: one listing page at a time, so reading a
/// directory of any size holds one page, and `ls` gets the first names before the last page is
/// listed. Entries are numbered from 0 in listing order, and the kernel's offsets are these
/// numbers; an offset before the page held (rewinddir, a seek back) lists again from the start.
public final class DirectoryStream: Sendable {
    /// One page of entries, and the marker the next page starts after (nil: this was the last).
    public typealias Page = (entries: [DirectoryEntry], next: String?)

    private struct Window {
        /// Counts the window's moves, so a reader that listed a page knows whether it still fits.
        var version = 0
        var start = 0
        var entries: [DirectoryEntry] = []
        /// Where the page after this window starts; "" before the first page, nil after the last.
        var next: String? = ""
        /// Every name listed so far: an object `d` and a pseudo-directory `d/` may come on
        /// different pages, and a name shows once.
        var seen: Set<String> = []
        /// Files being written, as they were when this reading began.
        var pending: [String: DirectoryEntry] = [:]
    }

    private let page: @Sendable (_ after: String) throws -> Page
    private let pending: @Sendable () -> [DirectoryEntry]
    private let window = Mutex(Window())

    /// `page(marker)` lists the page after `marker` ("" for the first). `pending()`: files being
    /// written, asked at each reading's start; their entries replace listed ones of the same
    /// name (a listing shows the size they had), and the others follow the last page.
    public init(pending: @escaping @Sendable () -> [DirectoryEntry] = { [] },
                page: @escaping @Sendable (_ after: String) throws -> Page) {
        self.page = page
        self.pending = pending
    }

    /// A directory whose entries are all known already.
    public convenience init(_ entries: [DirectoryEntry]) {
        self.init { _ in (entries, nil) }
    }

    /// How many names this reading has listed so far.
    public var namesListed: Int {
        window.withLock { $0.start + $0.entries.count }
    }

    /// Reading starts again from the first page (rewinddir): what changed since shows.
    public func restart() {
        window.withLock { $0 = Window(version: $0.version + 1) }
    }

    /// The entries from number `index` on, as many as one page holds; empty at the end.
    public func entries(from index: Int) throws -> ArraySlice<DirectoryEntry> {
        while true {
            // Nothing of the window is kept out of the lock but what answers: `seen` then grows
            // in place, never copied.
            typealias Step = (held: ArraySlice<DirectoryEntry>?, version: Int, marker: String?, fromStart: Bool)
            let (held, version, marker, fromStart) = window.withLock { window -> Step in
                let fromStart = index < window.start
                if !fromStart, index < window.start + window.entries.count {
                    return (window.entries[(window.entries.startIndex + index - window.start)...], 0, nil, false)
                }
                return (nil, window.version, fromStart ? "" : window.next, fromStart)
            }
            if let held { return held }
            guard let marker else { return [] }
            // Listing happens outside the lock: a reader never waits on the network behind another.
            let reading = marker.isEmpty ? Dictionary(pending().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) : nil
            let listed = try page(marker)
            window.withLock { window in
                // Another reader moved on meanwhile: its page stands, this one is dropped.
                guard window.version == version else { return }
                if fromStart { window = Window(version: window.version) }
                window.version += 1
                window.start += window.entries.count
                if let reading { window.pending = reading }
                window.entries = listed.entries.filter { window.seen.insert($0.name).inserted }.map { window.pending[$0.name] ?? $0 }
                window.next = listed.next
                if listed.next == nil {
                    window.entries += window.pending.values.sorted { $0.name < $1.name }.filter { window.seen.insert($0.name).inserted }
                }
            }
        }
    }
}
