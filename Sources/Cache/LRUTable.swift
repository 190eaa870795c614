/// The entries of a `MemoryCacheStore`: a hash map into an array of slots threaded on a doubly
/// linked recency list, bounded by key and value bytes. Lookups, stores and evictions are O(1);
/// removed slots are reused, so a steady-state cache allocates nothing but the entries it keeps.
///
/// A plain value type with no locking: the store keeps it inside a `Mutex`.
struct LRUTable {
    private struct Slot {
        var key: CacheKey
        var entry: CacheEntry
        /// Key and value bytes, as counted against `maxBytes`.
        var size: Int
        /// Neighbours in recency order; `none` at either end.
        var newer: Int
        var older: Int
    }

    private static let none = -1
    private static let vacantKey = CacheKey(chain: "", method: "", params: "")
    private static let vacantEntry = CacheEntry(value: [], storedAt: 0)

    /// The most key and value bytes kept; an entry larger than this is never stored.
    let maxBytes: Int
    /// Key and value bytes of the entries kept.
    private(set) var bytes = 0

    private var slots: [Slot] = []
    private var index: [CacheKey: Int] = [:]
    private var freeSlots: [Int] = []
    private var newest = LRUTable.none
    private var oldest = LRUTable.none

    init(maxBytes: Int) {
        self.maxBytes = max(0, maxBytes)
    }

    var count: Int { index.count }

    /// The entry under `key`, which becomes the most recently used.
    mutating func entry(for key: CacheKey) -> CacheEntry? {
        guard let slot = index[key] else { return nil }
        moveToNewest(slot)
        return slots[slot].entry
    }

    /// The entry under `key` without touching its recency.
    func peek(_ key: CacheKey) -> CacheEntry? {
        index[key].map { slots[$0].entry }
    }

    /// Stores `entry` under `key` as the most recently used, evicting the least recently used
    /// entries until the table fits in `maxBytes`. An entry larger than `maxBytes` is refused and
    /// removes what was under `key`, so no outdated answer survives a refused replacement.
    /// Returns whether the entry was stored.
    @discardableResult
    mutating func store(_ key: CacheKey, _ entry: CacheEntry) -> Bool {
        let size = key.byteCount + entry.value.count
        guard size <= maxBytes else {
            remove(key)
            return false
        }
        if let slot = index[key] {
            bytes += size - slots[slot].size
            slots[slot].entry = entry
            slots[slot].size = size
            moveToNewest(slot)
        } else {
            let slot = allocateSlot(Slot(key: key, entry: entry, size: size, newer: Self.none, older: Self.none))
            index[key] = slot
            bytes += size
            linkAsNewest(slot)
        }
        // The new entry is the newest and fits alone, so eviction stops before reaching it.
        while bytes > maxBytes, oldest != Self.none {
            removeSlot(oldest)
        }
        return true
    }

    /// Removes the entry under `key`; returns whether there was one.
    @discardableResult
    mutating func remove(_ key: CacheKey) -> Bool {
        guard let slot = index[key] else { return false }
        removeSlot(slot)
        return true
    }

    /// Removes every entry whose key matches; returns how many were removed. O(n).
    mutating func removeAll(where matches: (CacheKey) -> Bool) -> Int {
        let doomed = index.filter { matches($0.key) }
        for slot in doomed.values {
            removeSlot(slot)
        }
        return doomed.count
    }

    /// Removes every entry and releases the table's storage.
    mutating func removeAll() {
        slots = []
        index = [:]
        freeSlots = []
        newest = Self.none
        oldest = Self.none
        bytes = 0
    }

    /// Calls `body` with each key and its size in bytes, in no particular order.
    func forEach(_ body: (CacheKey, Int) -> Void) {
        for slot in index.values {
            body(slots[slot].key, slots[slot].size)
        }
    }

    /// Keys from the most to the least recently used. O(n); for tests and diagnostics.
    var keysByRecency: [CacheKey] {
        var keys: [CacheKey] = []
        keys.reserveCapacity(count)
        var slot = newest
        while slot != Self.none {
            keys.append(slots[slot].key)
            slot = slots[slot].older
        }
        return keys
    }

    // MARK: - Slots and links

    private mutating func allocateSlot(_ value: Slot) -> Int {
        if let slot = freeSlots.popLast() {
            slots[slot] = value
            return slot
        }
        slots.append(value)
        return slots.count - 1
    }

    private mutating func removeSlot(_ slot: Int) {
        unlink(slot)
        index[slots[slot].key] = nil
        bytes -= slots[slot].size
        // Release the key and value now rather than when the slot is reused.
        slots[slot].key = Self.vacantKey
        slots[slot].entry = Self.vacantEntry
        slots[slot].size = 0
        freeSlots.append(slot)
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    private mutating func linkAsNewest(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = Self.none
        if newest != Self.none {
            slots[newest].newer = slot
        }
        newest = slot
        if oldest == Self.none {
            oldest = slot
        }
    }

    private mutating func unlink(_ slot: Int) {
        let newer = slots[slot].newer
        let older = slots[slot].older
        if newer != Self.none {
            slots[newer].older = older
        } else {
            newest = older
        }
        if older != Self.none {
            slots[older].newer = newer
        } else {
            oldest = newer
        }
        slots[slot].newer = Self.none
        slots[slot].older = Self.none
    }
}
