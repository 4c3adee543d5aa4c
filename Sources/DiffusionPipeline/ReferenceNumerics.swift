/// The handful of NumPy / PyTorch array constructors the reference schedules are built from,
/// reproduced value for value (including how each one rounds), so that schedules match the
/// reference bit for bit.
enum ReferenceNumerics {
    /// `torch.linspace(start, end, count, dtype=torch.float64)` on CPU.
    ///
    /// The kernel fills the first half forwards from `start` and the second half backwards from
    /// `end` (`end − step·(count−1−i)`). PyTorch's x86 builds compile it with GCC, which contracts
    /// each `a + step·i` into a fused multiply-add; the goldens (and the wheel we checked) carry
    /// that rounding, so we fuse too.
    static func torchLinspace(_ start: Double, _ end: Double, count: Int) -> [Double] {
        precondition(count >= 2)
        let step = (end - start) / Double(count - 1)
        let halfway = count / 2
        return (0..<count).map { i in
            i < halfway
                ? start.addingProduct(step, Double(i))
                : end.addingProduct(-step, Double(count - 1 - i))
        }
    }

    /// `numpy.linspace(start, stop, count)` (endpoint included): `i·step + start`, rounded twice,
    /// with the last element set to `stop` exactly.
    static func numpyLinspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    /// `numpy.arange(start, stop, step)` for doubles: `ceil((stop − start)/step)` elements,
    /// `start`, `start + step`, then `start + i·δ` with `δ = (start + step) − start`.
    static func numpyArange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
        let length = ((stop - start) / step).rounded(.up)
        guard length.isFinite, length > 0 else { return [] }
        let n = Int(length)
        var values = [start]
        values.reserveCapacity(n)
        if n > 1 {
            let second = start + step
            let delta = second - start
            values.append(second)
            for i in 2..<n { values.append(start + Double(i) * delta) }
        }
        return values
    }
}
