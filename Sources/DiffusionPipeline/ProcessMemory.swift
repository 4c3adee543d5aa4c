import Foundation

/// What this process holds and what it may still take, read from `/proc` and the cgroup
/// filesystem (Linux). Every reader returns nil where the figure is not available.
public enum ProcessMemory {
    /// Resident set size now (`VmRSS`), in bytes.
    public static var residentBytes: Int? { statusField("VmRSS") }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    public static var peakResidentBytes: Int? { statusField("VmHWM") }

    /// `MemAvailable` of `/proc/meminfo`: what the system can give without swapping, in bytes.
    public static var systemAvailableBytes: Int? {
        guard let text = readFile("/proc/meminfo") else { return nil }
        return field("MemAvailable", in: text)
    }

    /// The cgroup v2 limit of this process (`memory.max`, else `memory.high`) minus what the
    /// cgroup already uses, in bytes; nil when there is no limit (or no cgroup v2).
    public static var cgroupHeadroomBytes: Int? {
        guard let text = readFile("/proc/self/cgroup"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else { return nil }
        let dir = "/sys/fs/cgroup" + line.dropFirst(3)
        func read(_ name: String) -> Int? {
            guard let value = readFile(dir + "/" + name)?
                .trimmingCharacters(in: .whitespacesAndNewlines), value != "max" else { return nil }
            return Int(value)
        }
        let limits = [read("memory.max"), read("memory.high")].compactMap { $0 }
        guard let limit = limits.min() else { return nil }
        return max(0, limit - (read("memory.current") ?? 0))
    }

    /// Resets the peak (`VmHWM`) to the current RSS, so a stage's own peak can be read after it
    /// (writing 5 to `/proc/self/clear_refs`). Returns whether the kernel accepted it.
    @discardableResult
    public static func resetPeak() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
    }

    private static func statusField(_ name: String) -> Int? {
        guard let text = readFile("/proc/self/status") else { return nil }
        return field(name, in: text)
    }

    /// The whole of a small file. `/proc` files report size 0, so this reads until end of file
    /// instead of trusting `stat`.
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `Name:   1234 kB` → bytes.
    private static func field(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let parts = line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let value = parts.first.flatMap({ Int($0) }) else { return nil }
            return parts.count > 1 && parts[1] == "kB" ? value * 1024 : value
        }
        return nil
    }
}
