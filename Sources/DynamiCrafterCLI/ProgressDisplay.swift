import DiffusionPipeline
import Foundation

/// Progress on standard error: one redrawn line with a bar on a terminal, plain lines otherwise
/// (logs, pipes), so scripts see each stage and step once.
final class ProgressDisplay {
    private let isTerminal = isatty(2) == 1
    private var lineOpen = false
    private var lastStage: String?
    private let started = Date()

    func note(_ text: String) {
        closeLine()
        writeToStandardError(text + "\n")
    }

    func stage(_ name: String) {
        render(stage: name, step: nil, total: nil, remaining: nil)
    }

    func update(_ p: AnimationProgress) {
        render(stage: p.stage.rawValue, step: p.stage == .denoising ? p.step : nil, total: p.totalSteps, remaining: p.remaining)
    }

    func finish() { closeLine() }

    private func render(stage: String, step: Int?, total: Int?, remaining: Double?) {
        let elapsed = Date().timeIntervalSince(started)
        var text = "[\(stage)]"
        if let step, let total {
            if isTerminal {
                let width = 24
                let filled = total > 0 ? min(width, width * step / total) : width
                text += " " + String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            }
            text += " step \(step)/\(total)"
        }
        text += "  elapsed \(Self.clock(elapsed))"
        if let remaining { text += "  ETA \(Self.clock(remaining))" }
        if isTerminal {
            writeToStandardError("\r\u{1B}[2K" + text)
            lineOpen = true
        } else if step != nil || stage != lastStage {
            writeToStandardError(text + "\n")
        }
        lastStage = stage
    }

    private func closeLine() {
        if lineOpen { writeToStandardError("\n") }
        lineOpen = false
    }

    static func clock(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded()))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
