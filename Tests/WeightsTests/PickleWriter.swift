/// Emits pickle opcodes, for building checkpoints (valid and hostile) in tests.
struct PickleWriter {
    var bytes: [UInt8] = []

    mutating func op(_ code: UInt8) { bytes.append(code) }

    mutating func le<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func proto(_ version: UInt8 = 2) { op(0x80); op(version) }
    mutating func stop() { op(0x2E) }
    mutating func mark() { op(0x28) }
    mutating func emptyDict() { op(0x7D) }
    mutating func emptyList() { op(0x5D) }
    mutating func emptyTuple() { op(0x29) }
    mutating func tuple() { op(0x74) }
    mutating func tuple1() { op(0x85) }
    mutating func tuple2() { op(0x86) }
    mutating func tuple3() { op(0x87) }
    mutating func setitem() { op(0x73) }
    mutating func setitems() { op(0x75) }
    mutating func append() { op(0x61) }
    mutating func appends() { op(0x65) }
    mutating func reduce() { op(0x52) }
    mutating func build() { op(0x62) }
    mutating func binpersid() { op(0x51) }
    mutating func newobj() { op(0x81) }
    mutating func newTrue() { op(0x88) }
    mutating func newFalse() { op(0x89) }
    mutating func none() { op(0x4E) }
    mutating func binput(_ i: UInt8) { op(0x71); op(i) }
    mutating func longBinput(_ i: UInt32) { op(0x72); le(i) }
    mutating func binget(_ i: UInt8) { op(0x68); op(i) }
    mutating func longBinget(_ i: UInt32) { op(0x6A); le(i) }
    mutating func memoize() { op(0x94) }

    mutating func global(_ module: String, _ name: String) {
        op(0x63)
        bytes.append(contentsOf: Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A])
    }

    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        op(0x58)
        le(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func shortString(_ s: String) {
        let utf8 = Array(s.utf8)
        op(0x8C)
        op(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// BINUNICODE with arbitrary (possibly invalid UTF-8) bytes.
    mutating func rawUnicode(_ raw: [UInt8]) {
        op(0x58)
        le(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    mutating func int(_ v: Int) {
        switch v {
        case 0 ..< 256: op(0x4B); op(UInt8(v))
        case 256 ..< 65536: op(0x4D); le(UInt16(v))
        case Int(Int32.min) ... Int(Int32.max): op(0x4A); le(Int32(v))
        default: op(0x8A); op(8); le(Int64(v))
        }
    }

    mutating func float(_ v: Double) {
        op(0x47)
        withUnsafeBytes(of: v.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// `( items… t` with `items` emitting the elements.
    mutating func tuple(_ items: (inout PickleWriter) -> Void) {
        mark()
        items(&self)
        tuple()
    }

    mutating func intTuple(_ values: [Int]) {
        tuple { w in for v in values { w.int(v) } }
    }
}
