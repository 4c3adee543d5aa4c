import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing client-supplied file descriptors defensively: every descriptor is
/// checked (open, right direction, not a directory) before use, reads stop at a byte limit and
/// a deadline, and writes wait with `poll` so that a reader that stops reading cannot block the
/// service forever.
enum DescriptorIO {
    /// What a descriptor refers to.
    enum Kind: Equatable {
        /// A regular file or memfd of this many bytes.
        case regular(size: Int)
        /// A pipe, socket, character device: read until end of file.
        case stream
    }

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Checks that `fd` is open, readable and not a directory.
    static func readableKind(_ fd: Int32, what: String) throws(ServiceError) -> Kind {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .invalidArgument("the \(what) descriptor is not usable: \(errnoText())")
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw .invalidArgument("the \(what) descriptor is not usable: \(errnoText())") }
        guard flags & O_ACCMODE != O_WRONLY else {
            throw .invalidArgument("the \(what) descriptor is open for writing only; pass one open for reading")
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            throw .invalidArgument("the \(what) descriptor is a directory; pass an image file")
        case S_IFREG:
            return .regular(size: Int(info.st_size))
        default:
            return .stream
        }
    }

    /// Checks that `fd` is open, writable and not a directory.
    static func checkWritable(_ fd: Int32, what: String) throws(ServiceError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .invalidArgument("the \(what) descriptor is not usable: \(errnoText())")
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw .invalidArgument("the \(what) descriptor is a directory; pass a file, pipe or memfd")
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw .invalidArgument("the \(what) descriptor is not usable: \(errnoText())") }
        guard flags & O_ACCMODE != O_RDONLY else {
            throw .invalidArgument("the \(what) descriptor is open for reading only; pass one open for writing")
        }
    }

    /// The whole content: a regular file from its start (whatever its offset: a client may just
    /// have written it), anything else from where it stands to end of file. More than `limit`
    /// bytes, or a stream that does not end within `timeout` seconds, is refused; a stream read
    /// stops within a poll interval (0.1 s) of `ticket` being abandoned.
    static func readAll(_ fd: Int32, what: String, limit: Int, timeout: Double, ticket: IntakeTicket? = nil) throws(ServiceError) -> [UInt8] {
        switch try readableKind(fd, what: what) {
        case .regular(let size):
            guard size <= limit else {
                throw .invalidImage("the \(what) is \(size) bytes; the limit is \(limit) bytes")
            }
            var bytes = [UInt8](repeating: 0, count: size)
            var done = 0
            while done < size {
                let count = bytes.withUnsafeMutableBytes { buffer in
                    pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw .invalidImage("cannot read the \(what): \(errnoText())")
                }
                if count == 0 { break } // shrank meanwhile
                done += count
            }
            bytes.removeLast(size - done)
            return bytes
        case .stream:
            return try readStream(fd, what: what, limit: limit, timeout: timeout, ticket: ticket)
        }
    }

    private static func readStream(_ fd: Int32, what: String, limit: Int, timeout: Double, ticket: IntakeTicket?) throws(ServiceError) -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let abandoned = ticket?.abandoned { throw abandoned }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                throw .invalidImage("the \(what) did not reach its end within \(Int(timeout)) s (\(bytes.count) bytes so far); close the writing end once the image is written")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 0.1) * 1000) + 1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw .invalidImage("cannot read the \(what): \(errnoText())")
            }
            if ready == 0 { continue }
            if poller.revents & Int16(POLLNVAL) != 0 {
                throw .invalidArgument("the \(what) descriptor is not usable")
            }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .invalidImage("cannot read the \(what): \(errnoText())")
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= limit else {
                throw .invalidImage("the \(what) holds more than \(limit) bytes, the most accepted")
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Makes writes to a pipe whose reader has gone fail with EPIPE on the calling thread
    /// instead of killing the process with SIGPIPE, whatever the process's disposition: the
    /// signal is blocked here and any pending one is discarded after each failed write.
    static func blockBrokenPipeSignal() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Discards a SIGPIPE left pending for this thread by a write that failed with EPIPE.
    private static func discardPendingBrokenPipe() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        var pending = sigset_t()
        guard sigpending(&pending) == 0, sigismember(&pending, SIGPIPE) == 1 else { return }
        var immediately = timespec(tv_sec: 0, tv_nsec: 0)
        _ = sigtimedwait(&set, nil, &immediately)
    }

    /// Writes all of `bytes`, waiting for the descriptor to accept data with `poll` (so a pipe
    /// whose reader stalls is noticed), checking `isCancelled` between chunks. Fails when no
    /// byte is accepted for `stallTimeout` seconds.
    static func writeAll(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, what: String, stallTimeout: Double,
        isCancelled: () -> Bool
    ) throws(ServiceError) {
        var done = 0
        var lastProgress = Date()
        while done < bytes.count {
            if isCancelled() { throw ServiceError(.cancelled, "cancelled while writing the \(what)") }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 {
                if errno == EINTR { continue }
                throw .internal("cannot write the \(what): \(errnoText())")
            }
            if ready == 0 || poller.revents & Int16(POLLOUT) == 0 {
                if poller.revents & Int16(POLLERR | POLLHUP) != 0 {
                    throw .internal("cannot write the \(what): the reading end was closed")
                }
                if poller.revents & Int16(POLLNVAL) != 0 {
                    throw .internal("cannot write the \(what): the descriptor is not usable")
                }
                if -lastProgress.timeIntervalSinceNow > stallTimeout {
                    throw .internal("the \(what) accepted no data for \(Int(stallTimeout)) s; is anyone reading it?")
                }
                continue
            }
            // A pipe that polls writable takes at least one page without blocking.
            let count = write(fd, bytes.baseAddress! + done, min(bytes.count - done, 4096))
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                let code = errno
                if code == EPIPE { discardPendingBrokenPipe() }
                let reason = code == EPIPE ? "the reading end was closed" : errnoText(code)
                throw .internal("cannot write the \(what): \(reason)")
            }
            done += count
            lastProgress = Date()
        }
    }
}

/// libc's close, reachable from types that have a `close()` of their own.
@discardableResult
func systemClose(_ fd: Int32) -> Int32 {
    Glibc.close(fd)
}
