import Foundation
import Logging

/// Log lines on standard error, where systemd's journal (or a terminal) picks them up. swift-log's
/// `StreamLogHandler` prints its own timestamp and level words; the journal keeps timestamps
/// itself and wants the syslog priority as a `<N>` prefix (understood when `SyslogLevelPrefix`
/// is on, the default for services), so lines here are `<6>dynamicrafterd: message`, with the
/// prefix only when standard error is the journal.
struct JournalLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    private let label: String
    private let isJournal: Bool

    init(label: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        // systemd sets JOURNAL_STREAM when standard error is connected to the journal.
        isJournal = environment["JOURNAL_STREAM"] != nil
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        FileHandle.standardError.write(Data(line(event.level, "\(event.message)", event.metadata).utf8))
    }

    /// The line written for one message: priority prefix (journal only), label, message, then
    /// the handler's and the message's metadata as `key=value`.
    func line(_ level: Logger.Level, _ message: String, _ extra: Logger.Metadata?) -> String {
        let merged = metadata.merging(extra ?? [:]) { $1 }
        let fields = merged.keys.sorted().map { " \($0)=\(merged[$0]!)" }.joined()
        return (isJournal ? "<\(Self.priority(level))>" : "") + "\(label): \(message)\(fields)\n"
    }

    /// syslog(3) priorities.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
