/// The central directory of a zip archive held in memory (mapped), validated against the file
/// size: end record, optional ZIP64 end record and locator, and every central record with its
/// ZIP64 extra field. Local headers are read only for the entries actually used, so opening a
/// 10 GB checkpoint touches the end of the file and the pickle, not the tensor data.
struct ZipDirectory: Sendable {
    let entries: [ZipEntry]
    private let index: [String: Int]
    /// Entry data must end before this offset (where the central directory starts).
    let dataLimit: Int

    static let endRecordSignature: UInt32 = 0x0605_4b50
    static let zip64EndRecordSignature: UInt32 = 0x0606_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    static let centralRecordSignature: UInt32 = 0x0201_4b50
    static let localHeaderSignature: UInt32 = 0x0403_4b50

    func entry(named name: String) -> ZipEntry? {
        index[name].map { entries[$0] }
    }

    // MARK: - Reading the directory

    static func read(_ file: UnsafeRawBufferPointer, path: String) throws -> ZipDirectory {
        let view = ByteView(file)
        func inconsistent(_ what: String) -> WeightsError {
            WeightsError(.invalidZip, path: path, "zip directory inconsistent: \(what)")
        }
        let endOffset = try findEndRecord(view, path: path)
        guard let diskNumber = view.u16(at: endOffset + 4), let cdDisk = view.u16(at: endOffset + 6),
              let count16 = view.u16(at: endOffset + 10), let size32 = view.u32(at: endOffset + 12),
              let offset32 = view.u32(at: endOffset + 16)
        else { throw WeightsError(.truncated, path: path, "zip end record is cut off") }

        var entryCount = UInt64(count16)
        var cdSize = UInt64(size32)
        var cdOffset = UInt64(offset32)
        // The central directory must end where the (ZIP64) end records begin.
        var cdEndLimit = endOffset

        let locatorOffset = endOffset - 20
        if locatorOffset >= 0, view.u32(at: locatorOffset) == zip64LocatorSignature {
            guard let recordOffset64 = view.u64(at: locatorOffset + 8), let recordOffset = recordOffset64.asInt,
                  recordOffset <= locatorOffset - 56,
                  view.u32(at: recordOffset) == zip64EndRecordSignature,
                  let count64 = view.u64(at: recordOffset + 32), let size64 = view.u64(at: recordOffset + 40),
                  let offset64 = view.u64(at: recordOffset + 48)
            else { throw inconsistent("the ZIP64 locator does not point to a ZIP64 end record") }
            entryCount = count64
            cdSize = size64
            cdOffset = offset64
            cdEndLimit = recordOffset
        } else if count16 == 0xFFFF || size32 == 0xFFFF_FFFF || offset32 == 0xFFFF_FFFF {
            throw inconsistent("the end record defers to a ZIP64 record that is missing")
        } else if (diskNumber != 0 && diskNumber != 0xFFFF) || (cdDisk != 0 && cdDisk != 0xFFFF) {
            throw WeightsError(.invalidZip, path: path, "multi-part (spanned) zip archives are not supported")
        }

        guard let offset = cdOffset.asInt, let size = cdSize.asInt, offset <= cdEndLimit, size <= cdEndLimit - offset else {
            throw inconsistent("central directory at offset \(cdOffset) with \(cdSize) bytes does not end before the end record at \(cdEndLimit)")
        }
        // Each record is at least 46 bytes: this bounds the count before anything is allocated.
        guard entryCount <= UInt64(size / 46) else {
            throw inconsistent("end record claims \(entryCount) entries but the central directory has only \(size) bytes")
        }

        var entries: [ZipEntry] = []
        entries.reserveCapacity(Int(entryCount))
        var index: [String: Int] = [:]
        var p = offset
        let end = offset + size
        for i in 0 ..< Int(entryCount) {
            let (entry, next) = try readCentralRecord(view, at: p, end: end, number: i, path: path)
            guard index.updateValue(entries.count, forKey: entry.name) == nil else {
                throw inconsistent("entry '\(entry.name)' appears twice")
            }
            entries.append(entry)
            p = next
        }
        guard p == end else {
            throw inconsistent("end record counts \(entryCount) entries but they use \(p - offset) of the \(size) central directory bytes")
        }
        return ZipDirectory(entries: entries, index: index, dataLimit: offset)
    }

    /// The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KB;
    /// the record whose comment length reaches exactly the end of the file is the real one.
    private static func findEndRecord(_ view: ByteView, path: String) throws -> Int {
        guard view.count >= 22 else {
            throw WeightsError(.truncated, path: path, "file is \(view.count) bytes, too short for a zip archive")
        }
        guard let base = view.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw WeightsError(.truncated, path: path, "file is empty")
        }
        var p = view.count - 22
        let lowest = max(0, view.count - 22 - 0xFFFF)
        while p >= lowest {
            // A plain byte test first: damaged files make this loop run over 64 KB.
            if base[p] == 0x50, view.u32(at: p) == endRecordSignature, let commentLength = view.u16(at: p + 20),
               p + 22 + Int(commentLength) == view.count {
                return p
            }
            p -= 1
        }
        throw WeightsError(.truncated, path: path,
                           "no zip end-of-central-directory record: the file is truncated or not a zip archive")
    }

    private static func readCentralRecord(_ view: ByteView, at p: Int, end: Int, number: Int,
                                          path: String) throws -> (entry: ZipEntry, next: Int) {
        func inconsistent(_ what: String) -> WeightsError {
            WeightsError(.invalidZip, path: path, "zip directory inconsistent: central record \(number) at offset \(p): \(what)")
        }
        guard p <= end - 46, view.u32(at: p) == centralRecordSignature,
              let flags = view.u16(at: p + 8), let method = view.u16(at: p + 10),
              let compressed32 = view.u32(at: p + 20), let uncompressed32 = view.u32(at: p + 24),
              let nameLength = view.u16(at: p + 28), let extraLength = view.u16(at: p + 30),
              let commentLength = view.u16(at: p + 32), let local32 = view.u32(at: p + 42)
        else { throw inconsistent("no central directory record there") }
        let nameStart = p + 46
        let extraStart = nameStart + Int(nameLength)
        let next = extraStart + Int(extraLength) + Int(commentLength)
        guard next <= end, let nameBytes = view.slice(offset: nameStart, length: Int(nameLength)),
              let extra = view.slice(offset: extraStart, length: Int(extraLength))
        else { throw inconsistent("name, extra field or comment runs past the central directory") }
        guard let name = decodeUTF8(nameBytes) else {
            throw WeightsError(.notUTF8, path: path, "zip entry name in central record \(number) at offset \(p) is not valid UTF-8")
        }

        // ZIP64: fields saturated at 0xFFFFFFFF continue, in this order, in extra field 0x0001.
        var uncompressed = UInt64(uncompressed32)
        var compressed = UInt64(compressed32)
        var local = UInt64(local32)
        if uncompressed32 == 0xFFFF_FFFF || compressed32 == 0xFFFF_FFFF || local32 == 0xFFFF_FFFF {
            guard let zip64 = zip64Field(ByteView(extra)) else { throw inconsistent("'\(name)' needs a ZIP64 extra field and has none") }
            var q = 0
            func take() throws -> UInt64 {
                guard let v = zip64.u64(at: q) else { throw inconsistent("'\(name)' has a ZIP64 extra field too short for its sizes") }
                q += 8
                return v
            }
            if uncompressed32 == 0xFFFF_FFFF { uncompressed = try take() }
            if compressed32 == 0xFFFF_FFFF { compressed = try take() }
            if local32 == 0xFFFF_FFFF { local = try take() }
        }
        guard let u = uncompressed.asInt, let c = compressed.asInt, let l = local.asInt else {
            throw inconsistent("'\(name)' has sizes or offsets beyond any file")
        }
        let entry = ZipEntry(name: name, flags: flags, method: method, compressedSize: c, uncompressedSize: u,
                             localHeaderOffset: l, recordOffset: p)
        return (entry, next)
    }

    /// The payload of extra field 0x0001, if present and well-formed.
    private static func zip64Field(_ extra: ByteView) -> ByteView? {
        var q = 0
        while let id = extra.u16(at: q), let size = extra.u16(at: q + 2) {
            guard let body = extra.slice(offset: q + 4, length: Int(size)) else { return nil }
            if id == 0x0001 { return ByteView(body) }
            q += 4 + Int(size)
        }
        return nil
    }

    // MARK: - Entry data

    /// The byte range of a stored entry's data in the file, after checking its local header.
    /// Compressed and encrypted entries are refused: checkpoints are written stored so that
    /// tensors can be mapped in place.
    func dataRange(of entry: ZipEntry, in file: UnsafeRawBufferPointer, path: String) throws -> Range<Int> {
        func inconsistent(_ what: String) -> WeightsError {
            WeightsError(.invalidZip, path: path, "zip directory inconsistent: entry '\(entry.name)': \(what)")
        }
        guard !entry.isEncrypted else {
            throw WeightsError(.compressedEntry, path: path, "zip entry '\(entry.name)' is encrypted; checkpoints must be stored unencrypted")
        }
        guard entry.isStored else {
            throw WeightsError(.compressedEntry, path: path,
                               "zip entry '\(entry.name)' is compressed (\(entry.methodName)); only stored (uncompressed) checkpoints can be memory-mapped — re-save it with torch.save")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw inconsistent("stored entry has compressed size \(entry.compressedSize) but size \(entry.uncompressedSize)")
        }
        let view = ByteView(file)
        let h = entry.localHeaderOffset
        guard h <= dataLimit - 30, view.u32(at: h) == ZipDirectory.localHeaderSignature,
              let method = view.u16(at: h + 8), let nameLength = view.u16(at: h + 26), let extraLength = view.u16(at: h + 28)
        else { throw inconsistent("no local header at offset \(h)") }
        guard method == entry.method else { throw inconsistent("local header says method \(method), central directory \(entry.method)") }
        guard let localName = view.slice(offset: h + 30, length: Int(nameLength)),
              localName.elementsEqual(entry.name.utf8)
        else { throw inconsistent("local header at offset \(h) names a different entry") }
        let start = h + 30 + Int(nameLength) + Int(extraLength)
        guard start <= dataLimit, entry.compressedSize <= dataLimit - start else {
            throw inconsistent("data [\(start), \(start) + \(entry.compressedSize)) runs into the central directory at \(dataLimit)")
        }
        return start ..< start + entry.compressedSize
    }
}
