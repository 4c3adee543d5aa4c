/// Emits pickle opcodes, for building checkpoints (valid and hostile) in tests.
public struct PickleWriter {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func op(_ code: UInt8) { bytes.append(code) }

    public mutating func le<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func proto(_ version: UInt8 = 2) { op(0x80); op(version) }
    public mutating func stop() { op(0x2E) }
    public mutating func mark() { op(0x28) }
    public mutating func emptyDict() { op(0x7D) }
    public mutating func emptyList() { op(0x5D) }
    public mutating func emptyTuple() { op(0x29) }
    public mutating func tuple() { op(0x74) }
    public mutating func tuple1() { op(0x85) }
    public mutating func tuple2() { op(0x86) }
    public mutating func tuple3() { op(0x87) }
    public mutating func setitem() { op(0x73) }
    public mutating func setitems() { op(0x75) }
    public mutating func append() { op(0x61) }
    public mutating func appends() { op(0x65) }
    public mutating func reduce() { op(0x52) }
    public mutating func build() { op(0x62) }
    public mutating func binpersid() { op(0x51) }
    public mutating func newobj() { op(0x81) }
    public mutating func newTrue() { op(0x88) }
    public mutating func newFalse() { op(0x89) }
    public mutating func none() { op(0x4E) }
    public mutating func binput(_ i: UInt8) { op(0x71); op(i) }
    public mutating func longBinput(_ i: UInt32) { op(0x72); le(i) }
    public mutating func binget(_ i: UInt8) { op(0x68); op(i) }
    public mutating func longBinget(_ i: UInt32) { op(0x6A); le(i) }
    public mutating func memoize() { op(0x94) }

    public mutating func global(_ module: String, _ name: String) {
        op(0x63)
        bytes.append(contentsOf: Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A])
    }

    public mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        op(0x58)
        le(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    public mutating func shortString(_ s: String) {
        let utf8 = Array(s.utf8)
        op(0x8C)
        op(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// BINUNICODE with arbitrary (possibly invalid UTF-8) bytes.
    public mutating func rawUnicode(_ raw: [UInt8]) {
        op(0x58)
        le(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    public mutating func int(_ v: Int) {
        switch v {
        case 0 ..< 256: op(0x4B); op(UInt8(v))
        case 256 ..< 65536: op(0x4D); le(UInt16(v))
        case Int(Int32.min) ... Int(Int32.max): op(0x4A); le(Int32(v))
        default: op(0x8A); op(8); le(Int64(v))
        }
    }

    public mutating func float(_ v: Double) {
        op(0x47)
        withUnsafeBytes(of: v.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// `( items… t` with `items` emitting the elements.
    public mutating func tuple(_ items: (inout PickleWriter) -> Void) {
        mark()
        items(&self)
        tuple()
    }

    public mutating func intTuple(_ values: [Int]) {
        tuple { w in for v in values { w.int(v) } }
    }
}
