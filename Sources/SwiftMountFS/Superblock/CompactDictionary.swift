import OrderedCollections

/// A dictionary for the attribute cache, which holds one entry per listed name (100,000 for a
/// directory of 100,000 objects). A `Dictionary` keeps keys and values in buckets, a quarter to
/// five eighths of them empty: 262,144 buckets of 80 bytes (21 MiB) for 100,000 entries. Here keys
/// and values sit in two dense arrays with a table of small indices (`OrderedDictionary`), about
/// 9 MiB for the same entries.
///
/// `OrderedDictionary` removes in O(n) (the arrays close the gap), so a removal leaves a hole
/// instead: the key's slot is reused when it is set again, and holes are compacted away once
/// they are half the table, which keeps removal O(1) amortised.
struct CompactDictionary<Key: Hashable, Value> {
    private var storage: OrderedDictionary<Key, Value?> = [:]
    private var holes = 0

    init() {}

    private init(storage: OrderedDictionary<Key, Value?>) {
        self.storage = storage
    }

    var count: Int { storage.count - holes }

    subscript(key: Key) -> Value? {
        get { storage[key] ?? nil }
        set {
            guard let index = storage.index(forKey: key) else {
                if let newValue { storage[key] = newValue }
                return
            }
            let wasHole = storage.values[index] == nil
            storage.values[index] = newValue
            holes += (newValue == nil ? 1 : 0) - (wasHole ? 1 : 0)
            if holes > 64, holes > storage.count / 2 { self = filter { _, _ in true } }
        }
    }

    /// The entries present, in no promised order.
    var entries: some Sequence<(key: Key, value: Value)> {
        storage.lazy.compactMap { key, value in value.map { (key, $0) } }
    }

    /// The entries `keep` is true for, without holes.
    func filter(_ keep: (Key, Value) -> Bool) -> CompactDictionary {
        CompactDictionary(storage: storage.filter { key, value in value.map { keep(key, $0) } ?? false })
    }
}
