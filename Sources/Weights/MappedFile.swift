#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorStorage

/// Read-only memory maps of whole files. Weight files reach 10 GB: mapping lets the readers
/// hand out zero-copy views and lets the kernel page in only the tensors that are used.
enum MappedFile {
    /// Maps `path` read-only. The mapping lives as long as the returned storage (and every
    /// `TensorData` viewing it): `ByteStorage`'s release closure unmaps it.
    ///
    /// Like every memory map, the bytes change (or the process faults) if another program
    /// truncates or rewrites the file while it is mapped; weight files are not edited in place.
    static func map(_ path: String) throws -> ByteStorage {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw WeightsError(.fileNotFound, path: path, "no such file")
            }
            throw WeightsError(.io, path: path, "cannot read file: \(describeErrno(code))")
        }
        try checkRegular(info, path: path)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw WeightsError(.io, path: path, "cannot open file: \(describeErrno(errno))")
        }
        defer { close(fd) }
        // Stat the descriptor again: the path may have been replaced between the two calls.
        guard fstat(fd, &info) == 0 else {
            throw WeightsError(.io, path: path, "cannot read file: \(describeErrno(errno))")
        }
        try checkRegular(info, path: path)
        let size = Int(info.st_size)
        guard size > 0 else {
            // mmap refuses zero-length mappings; an empty file is simply no bytes.
            return ByteStorage(count: 0) { _ in }
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw WeightsError(.io, path: path, "cannot memory-map \(size) bytes: \(describeErrno(errno))")
        }
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: size)
        return ByteStorage(bytes: bytes, fileMapped: true) { region in
            if let start = region.baseAddress {
                munmap(UnsafeMutableRawPointer(mutating: start), region.count)
            }
        }
    }

    private static func checkRegular(_ info: stat, path: String) throws {
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR {
            throw WeightsError(.notARegularFile, path: path, "is a directory, not a weight file")
        }
        guard type == S_IFREG else {
            throw WeightsError(.notARegularFile, path: path, "is not a regular file")
        }
    }
}

/// `strerror` text for an errno value.
func describeErrno(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}
