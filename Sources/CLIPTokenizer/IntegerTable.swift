/// A fixed-capacity open-addressing hash table from `UInt64` keys to `Int32` values (linear
/// probing, Fibonacci hashing). Faster than `Dictionary` for the two hot lookups of the
/// tokenizer: merge ranks by symbol pair, and symbol ids by spelling hash at load time.
struct IntegerTable: Sendable {
    private static let empty = UInt64.max
    private var keys: [UInt64]
    private var values: [Int32]
    private let shift: UInt64
    private(set) var count = 0

    /// A table for up to `capacity` keys (kept at most half full).
    init(capacity: Int) {
        var size = 16
        var bits: UInt64 = 4
        while size < 2 * capacity {
            size *= 2
            bits += 1
        }
        keys = [UInt64](repeating: Self.empty, count: size)
        values = [Int32](repeating: 0, count: size)
        shift = 64 - bits
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Stores `value` for `key` and returns the value it replaces. `key` must not be
    /// `UInt64.max`, and the table must not hold more keys than its capacity.
    @discardableResult
    mutating func updateValue(_ value: Int32, forKey key: UInt64) -> Int32? {
        precondition(key != Self.empty && 2 * (count + 1) <= keys.count, "IntegerTable misuse")
        let mask = keys.count - 1
        var i = slot(key)
        while true {
            if keys[i] == key {
                let old = values[i]
                values[i] = value
                return old
            }
            if keys[i] == Self.empty {
                keys[i] = key
                values[i] = value
                count += 1
                return nil
            }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    subscript(key: UInt64) -> Int32? {
        let mask = keys.count - 1
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}
