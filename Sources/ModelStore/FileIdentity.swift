// With Foundation imported elsewhere in the module, `struct stat`'s members resolve through
// CoreFoundation's re-export of the C library, and member-import visibility wants it named.
#if canImport(CoreFoundation)
import CoreFoundation
#endif
import Glibc

/// Whether the open descriptor `fd` and the name `path` are the same file (device and inode).
func isSameFile(_ fd: Int32, _ path: String) -> Bool {
    var opened = stat()
    var named = stat()
    guard fstat(fd, &opened) == 0, stat(path, &named) == 0 else { return false }
    return opened.st_dev == named.st_dev && opened.st_ino == named.st_ino
}
