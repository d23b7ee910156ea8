// Progress on stderr while an experiment runs: which run of how many, the child's phase (warm-up,
// repeat, tokens/s) and the time left. On a terminal one line is rewritten in place; otherwise
// (a log file, CI) exactly one line per finished run.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class ProgressReporter: @unchecked Sendable {
    let interactive: Bool
    let total: Int
    let lock = NSLock()
    var started = Date()
    var measuredRuns = 0
    var measuredSeconds = 0.0
    var current = 0
    var currentLabel = ""
    var lineOpen = false

    public init(total: Int, interactive: Bool = isatty(2) == 1) {
        self.total = total; self.interactive = interactive
    }

    func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    public func message(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        if lineOpen { write("\r\u{1B}[K"); lineOpen = false }
        write(text + "\n")
    }

    public func begin(_ index: Int, label: String) {
        lock.lock(); defer { lock.unlock() }
        current = index; currentLabel = label; started = Date()
        if interactive { status("starting") }
    }

    /// A phase line from the child (`repeat 2/5: 123.4 tok/s decode`).
    public func child(_ phase: String) {
        lock.lock(); defer { lock.unlock() }
        if interactive { status(phase) }
    }

    public func finish(_ index: Int, label: String, outcome: String, measured: Bool) {
        lock.lock(); defer { lock.unlock() }
        if measured { measuredRuns += 1; measuredSeconds += Date().timeIntervalSince(started) }
        if lineOpen { write("\r\u{1B}[K"); lineOpen = false }
        write("run \(index)/\(total) \(label): \(outcome)\(eta(after: index))\n")
    }

    func status(_ phase: String) {
        var left = ""
        if measuredRuns > 0 {
            let average = measuredSeconds / Double(measuredRuns)
            let seconds = max(0, average * Double(total - current + 1) - Date().timeIntervalSince(started))
            left = " (about \(Self.duration(seconds)) left)"
        }
        let line = "run \(current)/\(total) \(currentLabel): \(phase)\(left)"
        write("\r\u{1B}[K" + line)
        lineOpen = true
    }

    func eta(after done: Int) -> String {
        guard measuredRuns > 0, done < total else { return "" }
        let left = measuredSeconds / Double(measuredRuns) * Double(total - done)
        return " (about \(Self.duration(left)) left)"
    }

    static func duration(_ s: Double) -> String {
        s < 90 ? "\(Int(s.rounded()))s" : s < 5400 ? "\(Int((s / 60).rounded())) min" : String(format: "%.1f h", s / 3600)
    }
}
