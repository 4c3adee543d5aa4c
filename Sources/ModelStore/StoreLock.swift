import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on one model name in the models directory, held while that name is
/// fetched, added, converted or removed, so two commands never write the same model (or one
/// deletes what the other is downloading). `flock` on `DIR/.<name>.lock`: the kernel releases
/// it when the holder exits, however it exits, so a crashed fetch never leaves a stale lock.
/// The file is deleted on release; a taker checks that the file it locked is still the one at
/// the path (a process that opened it just before it was deleted would otherwise hold a lock
/// on a file nobody else can see).
final class StoreLock {
    private let fd: Int32
    private let path: String

    /// Takes the lock without waiting; `.busy` when another process (or descriptor) holds it.
    init(path: String, name: String) throws {
        for _ in 0 ..< 100 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw ModelStoreError.io("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let reason = errno
                let holder = Self.holder(fd)
                close(fd)
                if reason == EWOULDBLOCK {
                    throw ModelStoreError.busy(name: name, holder: holder)
                }
                throw ModelStoreError.io("cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            guard isSameFile(fd, path) else {
                // Deleted by its previous holder between our open and flock: take the new one.
                close(fd)
                continue
            }
            self.fd = fd
            self.path = path
            // Who holds it, for the message another process shows.
            let text = "\(getpid())\n"
            _ = ftruncate(fd, 0)
            _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
            return
        }
        throw ModelStoreError.busy(name: name, holder: nil)
    }

    deinit {
        // Unlink while still holding it, so a waiting taker's inode check sees the change.
        unlink(path)
        flock(fd, LOCK_UN)
        close(fd)
    }

    private static func holder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0 ..< count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

extension ModelStore {
    func lockPath(of name: String) -> String { (directory as NSString).appendingPathComponent(".\(name).lock") }

    /// Runs `body` holding the lock on `name` (the models directory is created first).
    func withLock<R>(_ name: String, _ body: () throws -> R) throws -> R {
        try createDirectory()
        let lock = try StoreLock(path: lockPath(of: name), name: name)
        return try withExtendedLifetime(lock) { try body() }
    }
}
