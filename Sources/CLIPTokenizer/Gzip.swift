import CZlib

/// Inflates a gzip file held in memory with zlib (the gzip trailer's CRC-32 and length are
/// checked by zlib itself).
enum Gzip {
    enum Failure: Error {
        case notGzip
        case damaged(String)
        case outOfMemory
    }

    static func decompress(_ input: [UInt8]) throws(Failure) -> [UInt8] {
        guard input.count >= 18, input[0] == 0x1F, input[1] == 0x8B else { throw .notGzip }
        // ISIZE, the last four bytes, is the uncompressed size modulo 2^32: a good first guess.
        let isize = Int(input[input.count - 4]) | Int(input[input.count - 3]) << 8
            | Int(input[input.count - 2]) << 16 | Int(input[input.count - 1]) << 24
        var capacity = max(isize, 1 << 16)
        var output = [UInt8](repeating: 0, count: capacity)

        var stream = z_stream()
        let initStatus = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw initStatus == Z_MEM_ERROR ? .outOfMemory : .damaged("zlib could not start (status \(initStatus))")
        }
        defer { inflateEnd(&stream) }

        var produced = 0
        var status: Int32 = Z_OK
        var input = input
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            while true {
                if produced == capacity {
                    capacity *= 2
                    output.append(contentsOf: repeatElement(0, count: capacity - output.count))
                }
                output.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress! + produced
                    stream.avail_out = uInt(capacity - produced)
                    status = inflate(&stream, Z_NO_FLUSH)
                    produced = capacity - Int(stream.avail_out)
                }
                if status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR) { break }
                // Z_BUF_ERROR with output space left means the input ended early.
                if status == Z_BUF_ERROR, produced < capacity { break }
            }
        }
        switch status {
        case Z_STREAM_END:
            output.removeSubrange(produced...)
            return output
        case Z_MEM_ERROR:
            throw .outOfMemory
        case Z_BUF_ERROR:
            throw .damaged("the compressed data ends early (truncated file)")
        default:
            let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
            throw .damaged("the compressed data is damaged (\(message))")
        }
    }
}
