import Glibc

/// Where an encode's result goes. Everything is first written under a hidden temporary name in
/// the same directory (`.NAME.tmp-<pid>-<random>`), then moved into place with rename(2), so a
/// reader sees either the old state or the complete new output, and a failed or cancelled
/// encode leaves nothing behind.
struct OutputTarget {
    /// The path as given, without trailing slashes.
    let path: String
    let directory: String
    let name: String
    let isFolder: Bool
    let overwrite: Bool

    init(path given: String, isFolder: Bool, overwrite: Bool) throws(MediaError) {
        var trimmed = Substring(given)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let path = String(trimmed)
        guard !path.isEmpty, path != "/" else {
            throw MediaError(.invalidInput, path: given, "this is not a usable output path")
        }
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            name = path
        }
        guard name != ".", name != ".." else {
            throw MediaError(.invalidInput, path: given, "name the output itself, not \"\(name)\"")
        }
        self.path = path
        self.isFolder = isFolder
        self.overwrite = overwrite
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw MediaError(.io, path: path, "the folder \(directory) does not exist")
        }
        try checkExisting()
    }

    /// Whether what is at `path` now may be replaced; throws a reason when not.
    func checkExisting() throws(MediaError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        let existingIsDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        if !isFolder {
            if existingIsDirectory {
                throw MediaError(.io, path: path, "this is a folder; give a file name for the video")
            }
            if !overwrite {
                throw MediaError(.io, path: path, "the file already exists (overwriting is off)")
            }
            return
        }
        guard existingIsDirectory else {
            throw MediaError(.io, path: path, "this exists and is not a folder; PNG frames need a folder")
        }
        let entries = try OutputTarget.entries(of: path)
        if entries.isEmpty { return }
        guard overwrite else {
            throw MediaError(.io, path: path, "the folder is not empty (overwriting is off)")
        }
        // Replace only a folder of earlier frames: anything else there is somebody's data.
        if let stranger = entries.first(where: { !OutputTarget.isFrameName($0) }) {
            throw MediaError(.io, path: path, "the folder holds \"\(stranger)\", which is not a frame_NNNN.png; refusing to replace it")
        }
    }

    /// A fresh hidden name next to the output.
    func temporaryPath(_ role: String = "tmp") -> String {
        let random = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return "\(directory)/.\(name).\(role)-\(getpid())-\(random)"
    }

    static func frameName(_ index: Int, digits: Int) -> String {
        let number = String(index)
        return "frame_" + String(repeating: "0", count: max(0, digits - number.count)) + number + ".png"
    }

    static func isFrameName(_ name: String) -> Bool {
        guard name.hasPrefix("frame_"), name.hasSuffix(".png") else { return false }
        let number = name.dropFirst(6).dropLast(4)
        return !number.isEmpty && number.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Moves the finished temporary into place.
    func commit(temporary: String) throws(MediaError) {
        try checkExisting()
        if !isFolder {
            if overwrite {
                guard rename(temporary, path) == 0 else { throw OutputTarget.ioError(path, "cannot move the finished file into place") }
                return
            }
            // link(2) fails when the name exists, so a file created meanwhile is not replaced.
            if link(temporary, path) == 0 {
                unlink(temporary)
                return
            }
            if errno == EEXIST {
                throw MediaError(.io, path: path, "the file already exists (overwriting is off)")
            }
            guard rename(temporary, path) == 0 else { throw OutputTarget.ioError(path, "cannot move the finished file into place") }
            return
        }
        var info = stat()
        var replacesFrames = false
        if lstat(path, &info) == 0 { replacesFrames = try !OutputTarget.entries(of: path).isEmpty }
        if !replacesFrames {
            // rename(2) replaces an empty directory atomically.
            guard rename(temporary, path) == 0 else { throw OutputTarget.ioError(path, "cannot move the finished frames into place") }
            return
        }
        // A folder of earlier frames: set it aside, move the new one in, then delete the old.
        let aside = temporaryPath("old")
        guard rename(path, aside) == 0 else { throw OutputTarget.ioError(path, "cannot move the earlier frames aside") }
        guard rename(temporary, path) == 0 else {
            let error = OutputTarget.ioError(path, "cannot move the finished frames into place")
            _ = rename(aside, path)
            throw error
        }
        OutputTarget.remove(aside)
    }

    /// Deletes a temporary file, or a temporary folder with the files in it (never deeper:
    /// the encoders write flat folders).
    static func remove(_ temporary: String) {
        var info = stat()
        guard lstat(temporary, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for entry in (try? entries(of: temporary)) ?? [] { unlink("\(temporary)/\(entry)") }
            rmdir(temporary)
        } else {
            unlink(temporary)
        }
    }

    static func entries(of directory: String) throws(MediaError) -> [String] {
        guard let stream = opendir(directory) else { throw ioError(directory, "cannot list the folder") }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    static func ioError(_ path: String, _ what: String) -> MediaError {
        MediaError(.io, path: path, "\(what): \(String(cString: strerror(errno)))")
    }

    /// Writes a whole new file (which must not exist yet) and flushes it to disk.
    static func writeNewFile(_ path: String, bytes: [UInt8]) throws(MediaError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError(path, "cannot create the file") }
        var failure: MediaError?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = ioError(path, "cannot write the file")
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = ioError(path, "cannot flush the file to disk") }
        if close(fd) != 0, failure == nil { failure = ioError(path, "cannot close the file") }
        if let failure { throw failure }
    }

    /// Flushes a file another writer (GStreamer's filesink) has finished.
    static func flushToDisk(_ path: String) throws(MediaError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(path, "cannot reopen the written file") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ioError(path, "cannot flush the file to disk") }
    }
}
