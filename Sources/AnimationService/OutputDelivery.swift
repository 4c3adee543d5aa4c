import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a finished result into the caller's output descriptor, all or nothing where the
/// descriptor allows it.
///
/// A regular file (or memfd) gets the result from its start, whatever the descriptor's offset
/// (inputs are read from their start too), and is cut to the result's length; with O_APPEND it
/// gets the result after its former end. If the job is cancelled, the daemon stops, or a write
/// fails before the whole result is in, the file is put back as it was: its former length, and
/// the former bytes the result overwrote (kept beforehand) — unless it was opened for writing
/// only, when they cannot be read: then it is left empty. Never a partial result.
///
/// A pipe, socket or character device cannot take bytes back: a reader must discard what it
/// got unless the job completes successfully (`Completed(true, …)`).
struct OutputDelivery {
    /// Bytes per write: cancellation is noticed between them.
    static let chunkSize = 64 << 10

    let fd: Int32
    let what: String
    let stallTimeout: Double
    let isCancelled: () -> Bool
    /// Told the bytes written so far after each write (the engine's test hook).
    let afterChunk: ((Int) -> Void)?

    func write(_ bytes: UnsafeRawBufferPointer) throws(ServiceError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .internal("cannot write the \(what): \(DescriptorIO.errnoText())")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            try DescriptorIO.writeAll(fd, bytes, what: what, stallTimeout: stallTimeout, isCancelled: isCancelled,
                                      afterChunk: afterChunk)
            return
        }
        var file = try FileOutput(fd: fd, formerSize: Int(info.st_size), resultSize: bytes.count, what: what)
        do throws(ServiceError) {
            try file.write(bytes, isCancelled: isCancelled, afterChunk: afterChunk)
        } catch {
            let putBack = file.restore()
            guard let putBack else { throw error }
            throw ServiceError(error.kind, "\(error.message); \(putBack)")
        }
    }
}

/// A regular file being written by `OutputDelivery`, with what it takes to put it back.
private struct FileOutput {
    let fd: Int32
    let what: String
    let formerSize: Int
    let appends: Bool
    /// Where the result starts: 0, or the former end for O_APPEND.
    let start: Int
    /// The former bytes the result will overwrite, when they could be read.
    let saved: [UInt8]?
    /// Whether any byte of the result reached the file (else there is nothing to put back).
    private var touched = false

    init(fd: Int32, formerSize: Int, resultSize: Int, what: String) throws(ServiceError) {
        self.fd = fd
        self.what = what
        self.formerSize = formerSize
        let flags = fcntl(fd, F_GETFL)
        let appends = flags >= 0 && flags & O_APPEND != 0
        let start = appends ? formerSize : 0
        self.appends = appends
        self.start = start
        let overwritten = max(0, min(formerSize, start + resultSize) - start)
        guard overwritten > 0, flags & O_ACCMODE == O_RDWR else {
            saved = overwritten == 0 ? [] : nil
            return
        }
        var bytes = [UInt8](repeating: 0, count: overwritten)
        var done = 0
        while done < overwritten {
            let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, overwritten - done, off_t(start + done)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                throw .internal("cannot keep the former content of the \(what) file before overwriting it: \(count < 0 ? DescriptorIO.errnoText() : "it shrank")")
            }
            done += count
        }
        saved = bytes
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer, isCancelled: () -> Bool, afterChunk: ((Int) -> Void)?) throws(ServiceError) {
        var done = 0
        while done < bytes.count {
            if isCancelled() { throw ServiceError(.cancelled, "cancelled while writing the \(what)") }
            let count = pwrite(fd, bytes.baseAddress! + done, min(bytes.count - done, OutputDelivery.chunkSize), off_t(start + done))
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                throw .internal("cannot write the \(what): \(count < 0 ? DescriptorIO.errnoText() : "no progress")")
            }
            done += count
            touched = true
            afterChunk?(done)
        }
        // A cancellation that came during the last write still wins: the job will be reported
        // cancelled, so the file must not hold its result.
        if isCancelled() { throw ServiceError(.cancelled, "cancelled while writing the \(what)") }
        if !appends, formerSize > bytes.count, ftruncate(fd, off_t(bytes.count)) != 0 {
            throw .internal("cannot cut the \(what) file to the result's \(bytes.count) bytes: \(DescriptorIO.errnoText())")
        }
    }

    /// Puts the file back as it was before `write`; nil when that worked, else what is wrong.
    func restore() -> String? {
        guard touched else { return nil }
        var problem: String?
        if let saved, !saved.isEmpty {
            var done = 0
            while done < saved.count {
                let count = saved.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, saved.count - done, off_t(start + done)) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    problem = "its former content could not be written back (\(count < 0 ? DescriptorIO.errnoText() : "no progress"))"
                    break
                }
                done += count
            }
        }
        // Former content that could not be read (or written back) is not left half overwritten.
        let length = saved != nil && problem == nil ? formerSize : 0
        if ftruncate(fd, off_t(length)) != 0 {
            let cut = "it could not be cut back to \(length) bytes (\(DescriptorIO.errnoText())); it may hold part of the result"
            problem = problem.map { "\($0); \(cut)" } ?? cut
        }
        return problem.map { "the \(what) file was not restored: \($0)" }
    }
}
