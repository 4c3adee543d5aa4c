/// GIF's variable-width LZW: codes of `minimumCodeSize + 1` bits growing to 12, packed least
/// significant bit first. The string table is a small open-addressing hash of
/// (prefix code, next index) → code, cleared with a clear code when all 4096 codes are in use.
struct LZWEncoder {
    private let minimumCodeSize: Int
    private var keys: [Int32]
    private var codes: [UInt16]
    private static let slots = 1 << 13  // twice the 4096 codes: short probe chains

    private var output: [UInt8] = []
    private var bitBuffer: UInt32 = 0
    private var bitCount = 0

    init(minimumCodeSize: Int) {
        self.minimumCodeSize = minimumCodeSize
        keys = [Int32](repeating: -1, count: LZWEncoder.slots)
        codes = [UInt16](repeating: 0, count: LZWEncoder.slots)
    }

    /// The compressed image data (without GIF's sub-block framing).
    mutating func encode(_ indices: [UInt8]) -> [UInt8] {
        let clearCode = 1 << minimumCodeSize
        let endCode = clearCode + 1
        var codeSize = minimumCodeSize + 1
        var nextCode = clearCode + 2
        resetTable()
        output = []
        output.reserveCapacity(indices.count / 2 + 16)
        bitBuffer = 0
        bitCount = 0

        emit(clearCode, size: codeSize)
        guard var prefix = indices.first.map(Int.init) else {
            emit(endCode, size: codeSize)
            flush()
            return output
        }
        for symbol in indices.dropFirst() {
            let key = Int32(prefix << 8 | Int(symbol))
            var slot = LZWEncoder.hash(key)
            var found = -1
            while keys[slot] != -1 {
                if keys[slot] == key { found = Int(codes[slot]); break }
                slot = (slot + 1) & (LZWEncoder.slots - 1)
            }
            if found >= 0 {
                prefix = found
                continue
            }
            emit(prefix, size: codeSize)
            if nextCode < 4096 {
                keys[slot] = key
                codes[slot] = UInt16(nextCode)
                // The decoder widens its codes when its table reaches 1 << codeSize; it runs one
                // entry behind the encoder, so widen once the code just added needs the extra bit.
                if nextCode == (1 << codeSize), codeSize < 12 { codeSize += 1 }
                nextCode += 1
            }
            if nextCode == 4096 {
                emit(clearCode, size: codeSize)
                resetTable()
                codeSize = minimumCodeSize + 1
                nextCode = clearCode + 2
            }
            prefix = Int(symbol)
        }
        emit(prefix, size: codeSize)
        emit(endCode, size: codeSize)
        flush()
        return output
    }

    private mutating func resetTable() {
        for index in keys.indices { keys[index] = -1 }
    }

    private static func hash(_ key: Int32) -> Int {
        Int((UInt32(bitPattern: key) &* 2_654_435_761) >> 19) & (slots - 1)
    }

    private mutating func emit(_ code: Int, size: Int) {
        bitBuffer |= UInt32(code) << UInt32(bitCount)
        bitCount += size
        while bitCount >= 8 {
            output.append(UInt8(bitBuffer & 0xFF))
            bitBuffer >>= 8
            bitCount -= 8
        }
    }

    private mutating func flush() {
        if bitCount > 0 { output.append(UInt8(bitBuffer & 0xFF)) }
        bitBuffer = 0
        bitCount = 0
    }
}
