/// PyTorch's CPU engine `at::mt19937`: the standard 32-bit Mersenne Twister (MT19937), seeded
/// with `init_genrand(seed mod 2³²)` and regenerated 624 words at a time on first use, so its
/// outputs equal `std::mt19937(seed)`'s.
struct TorchMT19937: Sendable, Equatable {
    static let stateSize = 624
    static let shift = 397

    private var state: [UInt32]
    /// Outputs left before the next regeneration (`left_`, 1 right after seeding).
    private var left: Int
    /// Position of the next output word (`next_`).
    private var next: Int

    init(seed: UInt64) {
        var s = [UInt32](repeating: 0, count: Self.stateSize)
        s[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            let previous = s[j - 1]
            s[j] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(j)
        }
        state = s
        left = 1
        next = 0
    }

    /// One 32-bit output (`random()` of the CPU generator).
    mutating func nextUInt32() -> UInt32 {
        var out: UInt32 = 0
        withUnsafeMutablePointer(to: &out) { fill(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return out
    }

    /// `buffer.count` consecutive outputs.
    mutating func fill(_ buffer: UnsafeMutableBufferPointer<UInt32>) {
        var left = self.left
        var next = self.next
        state.withUnsafeMutableBufferPointer { s in
            for i in 0..<buffer.count {
                left -= 1
                if left == 0 {
                    Self.regenerate(s)
                    left = Self.stateSize
                    next = 0
                }
                var y = s[next]
                next += 1
                y ^= y >> 11
                y ^= (y << 7) & 0x9D2C_5680
                y ^= (y << 15) & 0xEFC6_0000
                y ^= y >> 18
                buffer[i] = y
            }
        }
        self.left = left
        self.next = next
    }

    private static func regenerate(_ s: UnsafeMutableBufferPointer<UInt32>) {
        @inline(__always) func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
            let mixed = (u & 0x8000_0000) | (v & 0x7FFF_FFFF)
            return (mixed >> 1) ^ ((v & 1) != 0 ? 0x9908_B0DF : 0)
        }
        let n = stateSize, m = shift
        for k in 0..<(n - m) { s[k] = s[k + m] ^ twist(s[k], s[k + 1]) }
        for k in (n - m)..<(n - 1) { s[k] = s[k + m - n] ^ twist(s[k], s[k + 1]) }
        s[n - 1] = s[m - 1] ^ twist(s[n - 1], s[0])
    }
}
