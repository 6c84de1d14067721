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

    /// Entries and holes: what the table holds room for.
    var slots: Int { storage.count }

    subscript(key: Key) -> Value? {
        get { storage[key] ?? nil }
        set {
            if let newValue {
                // The old slot: nil for a new key, a hole for a key removed before.
                if case .some(.none) = storage.updateValue(newValue, forKey: key) { holes -= 1 }
            } else if let index = storage.index(forKey: key), storage.values[index] != nil {
                storage.values[index] = nil
                holes += 1
                if holes > 64, holes > storage.count / 2 { self = filter { _, _ in true } }
            }
        }
    }

    /// The entries present, in no promised order.
    var entries: some Sequence<(key: Key, value: Value)> {
        storage.lazy.compactMap { key, value in value.map { (key, $0) } }
    }

    /// The entries `keep` is true for, without holes, in arrays no larger than they were.
    func filter(_ keep: (Key, Value) -> Bool) -> CompactDictionary {
        var keys: [Key] = [], values: [Value?] = []
        keys.reserveCapacity(count)
        values.reserveCapacity(count)
        for (key, value) in storage {
            if let value, keep(key, value) {
                keys.append(key)
                values.append(value)
            }
        }
        return CompactDictionary(storage: OrderedDictionary(uncheckedUniqueKeys: keys, values: values))
    }
}
