import Foundation

/// Messages on standard error, where systemd's journal (or a terminal) picks them up. Lines
/// carry a syslog priority prefix (`<4>`) that journald understands when
/// `SyslogLevelPrefix` is on (the default for services) and that reads fine elsewhere.
enum Log {
    static func info(_ message: String) { write(6, message) }
    static func warning(_ message: String) { write(4, message) }
    static func error(_ message: String) { write(3, message) }

    private static func write(_ priority: Int, _ message: String) {
        let prefix = isJournal ? "<\(priority)>" : ""
        FileHandle.standardError.write(Data("\(prefix)dynamicrafterd: \(message)\n".utf8))
    }

    /// systemd sets JOURNAL_STREAM when standard error is connected to the journal.
    private static let isJournal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
}
