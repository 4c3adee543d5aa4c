import Imaging

/// The one colour table an animated GIF's frames share, and the map from pixels to its entries.
/// Sharing one table keeps a colour the same index in every frame, so still areas do not
/// flicker. Clips with at most 256 distinct colours keep them exactly; others get 256 colours
/// from a median cut over all frames, refined by a few k-means rounds. No dithering: a dither
/// pattern that changes from frame to frame shimmers.
struct GIFPalette {
    /// R, G, B per entry; padded with black to `1 << bits` entries.
    let table: [UInt8]
    /// log2 of the table size, 1…8.
    let bits: Int
    private let lookup: Lookup

    private enum Lookup {
        /// Exact colours: packed 0xRRGGBB → index.
        case exact([UInt32: UInt8])
        /// Quantised: 5-5-5-bit colour bin → nearest palette entry.
        case bins([UInt8])
    }

    init(frames: [RGBImage]) {
        if let exact = GIFPalette.distinctColors(frames, atMost: 256) {
            var index: [UInt32: UInt8] = [:]
            var table: [UInt8] = []
            for (position, color) in exact.sorted().enumerated() {
                index[color] = UInt8(position)
                table += [UInt8(color >> 16), UInt8((color >> 8) & 0xFF), UInt8(color & 0xFF)]
            }
            self.init(table: table, lookup: .exact(index))
        } else {
            let histogram = Histogram(frames)
            let (table, binIndex) = histogram.refine(histogram.medianCut(colors: 256))
            self.init(table: table, lookup: .bins(binIndex))
        }
    }

    private init(table: [UInt8], lookup: Lookup) {
        let entries = max(2, table.count / 3)
        var bits = 1
        while (1 << bits) < entries { bits += 1 }
        self.bits = bits
        self.table = table + [UInt8](repeating: 0, count: 3 * (1 << bits) - table.count)
        self.lookup = lookup
    }

    /// The palette index of every pixel of a frame.
    func indices(of frame: RGBImage) -> [UInt8] {
        let count = frame.width * frame.height
        return frame.pixels.withUnsafeBufferPointer { rgb in
            [UInt8](unsafeUninitializedCapacity: count) { out, initialised in
                switch lookup {
                case .exact(let index):
                    var lastColor = UInt32.max
                    var lastIndex: UInt8 = 0
                    for pixel in 0..<count {
                        let color = UInt32(rgb[3 * pixel]) << 16 | UInt32(rgb[3 * pixel + 1]) << 8 | UInt32(rgb[3 * pixel + 2])
                        if color != lastColor {
                            lastColor = color
                            lastIndex = index[color] ?? 0
                        }
                        out[pixel] = lastIndex
                    }
                case .bins(let binIndex):
                    for pixel in 0..<count {
                        out[pixel] = binIndex[GIFPalette.bin(rgb[3 * pixel], rgb[3 * pixel + 1], rgb[3 * pixel + 2])]
                    }
                }
                initialised = count
            }
        }
    }

    /// The distinct colours of all frames, or nil as soon as there are more than `limit`.
    private static func distinctColors(_ frames: [RGBImage], atMost limit: Int) -> Set<UInt32>? {
        var colors = Set<UInt32>()
        for frame in frames {
            let found: Bool = frame.pixels.withUnsafeBufferPointer { rgb in
                var last = UInt32.max
                for pixel in 0..<(rgb.count / 3) {
                    let color = UInt32(rgb[3 * pixel]) << 16 | UInt32(rgb[3 * pixel + 1]) << 8 | UInt32(rgb[3 * pixel + 2])
                    if color == last { continue }
                    last = color
                    if colors.insert(color).inserted, colors.count > limit { return false }
                }
                return true
            }
            if !found { return nil }
        }
        return colors
    }

    fileprivate static func bin(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int {
        Int(r >> 3) << 10 | Int(g >> 3) << 5 | Int(b >> 3)
    }
}

/// Pixel counts and colour sums over 32×32×32 bins of all frames.
private struct Histogram {
    let count: [Int]
    let sum: [Int]
    /// The bins holding at least one pixel.
    let occupied: [Int]

    init(_ frames: [RGBImage]) {
        var count = [Int](repeating: 0, count: 1 << 15)
        var sum = [Int](repeating: 0, count: 3 << 15)
        for frame in frames {
            frame.pixels.withUnsafeBufferPointer { rgb in
                for pixel in 0..<(rgb.count / 3) {
                    let r = rgb[3 * pixel], g = rgb[3 * pixel + 1], b = rgb[3 * pixel + 2]
                    let bin = GIFPalette.bin(r, g, b)
                    count[bin] += 1
                    sum[3 * bin] += Int(r)
                    sum[3 * bin + 1] += Int(g)
                    sum[3 * bin + 2] += Int(b)
                }
            }
        }
        self.count = count
        self.sum = sum
        occupied = (0..<(1 << 15)).filter { count[$0] > 0 }
    }

    struct Box {
        var bins: [Int]
        var population: Int
        var longestAxis = 0
        var longestSide = 0

        init(bins: [Int], count: [Int]) {
            self.bins = bins
            population = bins.reduce(0) { $0 + count[$1] }
            longestSide = -1
            for axis in 0..<3 {
                var low = 31, high = 0
                for bin in bins {
                    let value = Histogram.channel(bin, axis)
                    low = min(low, value)
                    high = max(high, value)
                }
                if high - low > longestSide { longestSide = high - low; longestAxis = axis }
            }
        }
    }

    static func channel(_ bin: Int, _ axis: Int) -> Int { (bin >> (10 - 5 * axis)) & 31 }

    /// Median cut: repeatedly split the box with the most pixels times the longest side, at
    /// the pixel median of that side, until there are `colors` boxes or none can be split.
    func medianCut(colors: Int) -> [Box] {
        var boxes = [Box(bins: occupied, count: count)]
        while boxes.count < colors {
            var best = -1
            var bestScore = 0
            for index in boxes.indices where boxes[index].bins.count > 1 && boxes[index].longestSide > 0 {
                let score = boxes[index].population * boxes[index].longestSide
                if score > bestScore { bestScore = score; best = index }
            }
            guard best >= 0 else { break }
            let axis = boxes[best].longestAxis
            let bins = boxes[best].bins.sorted { Histogram.channel($0, axis) < Histogram.channel($1, axis) }
            // Split at the pixel median, keeping at least one bin on each side.
            let population = boxes[best].population
            var running = 0
            var cut = 1
            for position in bins.indices {
                running += count[bins[position]]
                if running * 2 >= population {
                    cut = min(max(position + 1, 1), bins.count - 1)
                    break
                }
            }
            boxes[best] = Box(bins: Array(bins[..<cut]), count: count)
            boxes.append(Box(bins: Array(bins[cut...]), count: count))
        }
        return boxes
    }

    /// Lloyd (k-means) rounds over the occupied bins, starting from the boxes' mean colours:
    /// each bin goes to its nearest colour, each colour moves to the mean of its bins. Median
    /// cut alone leaves visibly uneven cells on smooth gradients. Returns the palette (R, G, B
    /// per entry) and each bin's entry. (Flat arrays and index loops: tuples and enumerated()
    /// are slow in debug builds.)
    func refine(_ boxes: [Box], rounds: Int = 3) -> (table: [UInt8], binIndex: [UInt8]) {
        let k = boxes.count
        var centre = [Double](repeating: 0, count: 3 * k)
        var binIndex = [UInt8](repeating: 0, count: 1 << 15)
        for index in 0..<k {
            var totals = [0, 0, 0]
            for bin in boxes[index].bins {
                binIndex[bin] = UInt8(index)
                for axis in 0..<3 { totals[axis] += sum[3 * bin + axis] }
            }
            for axis in 0..<3 { centre[3 * index + axis] = Double(totals[axis]) / Double(max(boxes[index].population, 1)) }
        }
        var mean = [Double](repeating: 0, count: 3 * occupied.count)
        for position in 0..<occupied.count {
            let bin = occupied[position]
            for axis in 0..<3 { mean[3 * position + axis] = Double(sum[3 * bin + axis]) / Double(count[bin]) }
        }
        for round in 0...rounds {
            var totals = [Double](repeating: 0, count: 4 * k)
            for position in 0..<occupied.count {
                let bin = occupied[position]
                let r = mean[3 * position], g = mean[3 * position + 1], b = mean[3 * position + 2]
                // Start from the current assignment, usually the nearest already, so most other
                // centres are ruled out after one or two channels.
                var best = Int(binIndex[bin])
                var bestDistance: Double = {
                    let dr = r - centre[3 * best], dg = g - centre[3 * best + 1], db = b - centre[3 * best + 2]
                    return dr * dr + dg * dg + db * db
                }()
                for index in 0..<k {
                    let dr = r - centre[3 * index]
                    var distance = dr * dr
                    if distance >= bestDistance { continue }
                    let dg = g - centre[3 * index + 1]
                    distance += dg * dg
                    if distance >= bestDistance { continue }
                    let db = b - centre[3 * index + 2]
                    distance += db * db
                    if distance < bestDistance { bestDistance = distance; best = index }
                }
                binIndex[bin] = UInt8(best)
                let n = Double(count[bin])
                totals[4 * best] += r * n
                totals[4 * best + 1] += g * n
                totals[4 * best + 2] += b * n
                totals[4 * best + 3] += n
            }
            if round == rounds { break }
            for index in 0..<k where totals[4 * index + 3] > 0 {
                for axis in 0..<3 { centre[3 * index + axis] = totals[4 * index + axis] / totals[4 * index + 3] }
            }
        }
        return (centre.map { UInt8(min(255, max(0, $0.rounded()))) }, binIndex)
    }
}
