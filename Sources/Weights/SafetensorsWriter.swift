#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorStorage

/// Writes safetensors files the way the reference implementation lays them out: a JSON header
/// padded with spaces to a multiple of 8 bytes, then the tensors back to back.
///
/// Tensors are ordered by element size, largest first, then by name (UTF-8 order), as the
/// reference writer does: with an 8-aligned data section every tensor then starts at an offset
/// aligned to its element size, so mapped readers can load elements directly. The output is
/// written under a temporary name in the same directory and renamed into place only once
/// complete, so a failed or interrupted write never leaves a truncated file at `path`.
public enum SafetensorsWriter {
    /// Writes tensors that are already in memory (or mapped).
    public static func write(_ tensors: [(name: String, tensor: TensorData)],
                             metadata: [String: String] = [:], to path: String) throws {
        var byName: [String: TensorData] = [:]
        for (name, t) in tensors {
            guard byName.updateValue(t, forKey: name) == nil else {
                throw WeightsError(.unsupported, path: path, "tensor name '\(name)' appears twice")
            }
        }
        try write(entries: tensors.map { ($0.name, TensorInfo(dtype: $0.tensor.dtype, shape: $0.tensor.shape)) },
                  metadata: metadata, to: path) { name in
            // Every entry name came from `byName`.
            guard let t = byName[name] else { throw WeightsError(.tensorNotFound, path: path, "no tensor '\(name)'") }
            return t
        }
    }

    /// Streams tensors to `path`: the header is built from `entries`, then `produce` is called
    /// once per tensor, in file order, and its result written and released before the next
    /// call, so at most one produced tensor is alive at a time. Returns the file size.
    @discardableResult
    public static func write(entries: [(name: String, info: TensorInfo)], metadata: [String: String] = [:],
                             to path: String, produce: (String) throws -> TensorData) throws -> Int {
        let layout = try Layout(entries: entries, metadata: metadata, path: path)
        let output = try OutputFile(finalPath: path)
        do {
            try output.write(layout.header)
            for (name, info) in layout.ordered {
                let t = try produce(name)
                guard t.dtype == info.dtype, t.shape == info.shape else {
                    throw WeightsError(.invalidTensor, path: path,
                                       "tensor '\(name)' was declared \(info) but produced as \(TensorInfo(dtype: t.dtype, shape: t.shape))")
                }
                // `bytes` does not own the memory: keep the tensor alive while writing it.
                try withExtendedLifetime(t) { try output.write(t.bytes) }
            }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
        return layout.header.count + layout.dataSize
    }

    /// Header bytes and file order of a set of tensors.
    struct Layout {
        let ordered: [(name: String, info: TensorInfo)]
        let header: [UInt8]
        let dataSize: Int

        init(entries: [(name: String, info: TensorInfo)], metadata: [String: String], path: String) throws {
            var seen = Set<String>()
            for (name, _) in entries {
                guard name != "__metadata__" else {
                    throw WeightsError(.unsupported, path: path, "'__metadata__' is reserved and cannot name a tensor")
                }
                guard seen.insert(name).inserted else {
                    throw WeightsError(.unsupported, path: path, "tensor name '\(name)' appears twice")
                }
            }
            ordered = entries.sorted { a, b in
                if a.info.dtype.byteSize != b.info.dtype.byteSize { return a.info.dtype.byteSize > b.info.dtype.byteSize }
                return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
            }
            var json = "{"
            var first = true
            if !metadata.isEmpty {
                json += "\"__metadata__\":{"
                json += metadata.keys.sortedByUTF8().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
                    .joined(separator: ",")
                json += "}"
                first = false
            }
            var offset = 0
            for (name, info) in ordered {
                // Infos can be built by hand: check the size before any arithmetic on it.
                guard let count = Shape.elementCount(info.shape) else {
                    throw WeightsError(.unsupported, path: path, "tensor '\(name)' has an invalid shape \(Shape.describe(info.shape))")
                }
                let (bytes, o1) = count.multipliedReportingOverflow(by: info.dtype.byteSize)
                let (end, o2) = offset.addingReportingOverflow(bytes)
                guard !o1, !o2 else {
                    throw WeightsError(.unsupported, path: path, "tensor '\(name)' \(Shape.describe(info.shape)) is too large to write")
                }
                if !first { json += "," }
                first = false
                json += "\(jsonString(name)):{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":["
                json += info.shape.map(String.init).joined(separator: ",")
                json += "],\"data_offsets\":[\(offset),\(end)]}"
                offset = end
            }
            json += "}"
            var body = Array(json.utf8)
            while body.count % 8 != 0 { body.append(0x20) }
            var header: [UInt8] = []
            header.reserveCapacity(8 + body.count)
            withUnsafeBytes(of: UInt64(body.count).littleEndian) { header.append(contentsOf: $0) }
            header.append(contentsOf: body)
            self.header = header
            self.dataSize = offset
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A file written under a temporary name and renamed into place by `commit`.
final class OutputFile {
    let finalPath: String
    let temporaryPath: String
    private var fd: Int32

    init(finalPath: String) throws {
        self.finalPath = finalPath
        var rng = SystemRandomNumberGenerator()
        temporaryPath = "\(finalPath).tmp-\(getpid())-\(String(rng.next() as UInt32, radix: 16))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw WeightsError(.io, path: finalPath, "cannot create \(temporaryPath): \(describeErrno(errno))")
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            // Large writes are split: some kernels cap one write at about 2 GB.
            let n = posixWrite(fd, p, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw WeightsError(.io, path: finalPath, "write failed: \(describeErrno(errno))")
            }
            p += n
            left -= n
        }
    }

    func commit() throws {
        guard fsync(fd) == 0 else {
            throw WeightsError(.io, path: finalPath, "fsync failed: \(describeErrno(errno))")
        }
        let rc = close(fd)
        fd = -1
        guard rc == 0 else { throw WeightsError(.io, path: finalPath, "close failed: \(describeErrno(errno))") }
        guard rename(temporaryPath, finalPath) == 0 else {
            throw WeightsError(.io, path: finalPath, "cannot rename \(temporaryPath) into place: \(describeErrno(errno))")
        }
    }

    /// Closes and removes the temporary file after a failure.
    func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
    }

    deinit {
        if fd >= 0 { close(fd); unlink(temporaryPath) }
    }
}

/// The C `write` (inside `OutputFile` the name refers to the method).
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
