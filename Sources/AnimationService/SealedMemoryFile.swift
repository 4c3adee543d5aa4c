#if canImport(Glibc)
import Glibc
#endif

/// An anonymous in-memory file (memfd) holding bytes, sealed so nobody can change it, handed
/// out as a read-only descriptor positioned at its start: how raw frames leave the service.
enum SealedMemoryFile {
    // Linux ABI values (not exported by Swift's Glibc module).
    private static let allowSealing: UInt32 = 0x2
    private static let closeOnExec: UInt32 = 0x1
    private static let addSeals: Int32 = 1033
    private static let sealAll: Int32 = 0x1 | 0x2 | 0x4 | 0x8 // SEAL, SHRINK, GROW, WRITE

    private typealias MemfdCreate = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32

    /// glibc has memfd_create since 2.27, but Swift's Glibc module does not import it.
    private static let memfdCreate: MemfdCreate? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create") else { return nil }
        return unsafeBitCast(symbol, to: MemfdCreate.self)
    }()

    /// Returns a read-only descriptor (owned by the caller) of a sealed memfd holding `bytes`.
    static func make(name: String, bytes: [UInt8]) throws(ServiceError) -> Int32 {
        guard let memfdCreate else { throw .internal("memfd_create is not available on this system") }
        let fd = memfdCreate(name, allowSealing | closeOnExec)
        guard fd >= 0 else { throw .internal("cannot create a memfd for the frames: \(DescriptorIO.errnoText())") }
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = DescriptorIO.errnoText()
                close(fd)
                throw .internal("cannot fill the frames' memfd (\(bytes.count) bytes): \(reason)")
            }
            done += count
        }
        guard fcntl(fd, addSeals, sealAll) == 0 else {
            let reason = DescriptorIO.errnoText()
            close(fd)
            throw .internal("cannot seal the frames' memfd: \(reason)")
        }
        // A read-only descriptor of the same file; where /proc is hidden the sealed writable
        // one is as safe (the write seal refuses every write).
        let readOnly = open("/proc/self/fd/\(fd)", O_RDONLY | O_CLOEXEC)
        if readOnly >= 0 {
            close(fd)
            return readOnly
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}
