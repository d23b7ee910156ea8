// How runs are named and summarized in reports: a configuration label that shows only what varies
// in the experiment (quantization always; model, threads and prompt when there are several), the
// baseline run each run is compared with, and number formats shared by tables and tests.
import Foundation

/// A run's figures over the repeats it keeps: busy repeats set aside when enough quiet ones
/// remain (`BusyRepeats`).
public struct RunSummaryFigures: Sendable {
    public var decode: Statistics
    public var prefill: Statistics
    public var ttft: Statistics
    public var total: Statistics
    public var newTokens: Statistics
    public var repeats: BusyRepeats.Split

    /// `judge`: the best memory bandwidth of the run's experiment at its thread count and the
    /// placement its figures are for (`BandwidthReference`); nil judges the run alone.
    public init(_ r: RunRecord, threads: Int, judge: BandwidthReference.Judge? = nil) {
        repeats = BusyRepeats.split(r.repeats, threads: threads, judge: judge)
        let kept = repeats.kept
        decode = Statistics(kept.map(\.decodeTokensPerSecond))
        prefill = Statistics(kept.map(\.prefillTokensPerSecond))
        ttft = Statistics(kept.map(\.timeToFirstToken))
        total = Statistics(kept.map(\.totalSeconds))
        newTokens = Statistics(kept.map { Double($0.newTokens) })
    }

    public init(_ run: StoredRun, reference: BandwidthReference? = nil) {
        self.init(run.record, threads: run.entry.threads, judge: reference?.judge(for: run))
    }

    /// A per-repeat figure of the kept repeats, with their rounds, for ratio intervals.
    public func values(_ figure: (RepeatRecord) -> Double) -> [RoundValue] {
        repeats.kept.map { RoundValue(figure($0), round: $0.round) }
    }
}

/// Which parts of a configuration vary among `runs`, so labels can leave the rest out.
public struct Labeler: Sendable {
    var models: Bool, threads: Bool, prompts: Bool, weights: Bool
    var promptIndex: [String: Int]

    public init(_ runs: [StoredRun]) {
        models = Set(runs.map(\.entry.model)).count > 1
        threads = Set(runs.map(\.entry.threads)).count > 1
        weights = Set(runs.map(\.entry.weights)).count > 1
        var index: [String: Int] = [:]
        for r in runs where index[r.entry.prompt] == nil { index[r.entry.prompt] = index.count + 1 }
        promptIndex = index
        prompts = index.count > 1
    }

    /// Model and quantization: the categories of charts.
    public func group(_ e: PlanEntry) -> String {
        var parts: [String] = []
        if models { parts.append(e.model) }
        if weights { parts.append(e.weights == .random ? "random" : "pretrained") }
        parts.append(e.label)
        return parts.joined(separator: " · ")
    }

    /// Threads and prompt: the series of charts.
    public func series(_ e: PlanEntry) -> String {
        var parts: [String] = []
        parts.append("\(e.threads) thread\(e.threads == 1 ? "" : "s")")
        if prompts { parts.append("prompt \(promptIndex[e.prompt] ?? 0)") }
        return parts.joined(separator: ", ")
    }

    public func full(_ e: PlanEntry) -> String {
        var s = group(e)
        if threads { s += " · \(e.threads) thr" }
        if prompts { s += " · prompt \(promptIndex[e.prompt] ?? 0)" }
        return s
    }
}

/// The run a run is compared with: same model, weights, threads and prompt, baseline quantization.
func baselineRun(for run: StoredRun, among runs: [StoredRun], baseline: String?) -> StoredRun? {
    guard let baseline else { return nil }
    return runs.first {
        $0.record.status == .ok && $0.entry.label == baseline && $0.entry.model == run.entry.model
            && $0.entry.weights == run.entry.weights && $0.entry.threads == run.entry.threads && $0.entry.prompt == run.entry.prompt
    }
}

public enum Format {
    public static func mib(_ bytes: Int?) -> String {
        guard let bytes else { return "–" }
        return String(format: "%.2f", Double(bytes) / 1_048_576)
    }
    public static func fixed(_ v: Double?, _ digits: Int) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.\(digits)f", v)
    }
    public static func ms(_ seconds: Double?) -> String { fixed(seconds.map { $0 * 1000 }, 2) }
    public static func ratio(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b, b != 0, a.isFinite, b.isFinite else { return "–" }
        return String(format: "%.2f×", a / b)
    }
    /// Median with its confidence interval as `median (low–high)`.
    public static func median(_ s: Statistics, _ digits: Int, scale: Double = 1) -> String {
        guard s.count > 0 else { return "–" }
        let m = fixed(s.median * scale, digits)
        return s.count > 1 ? "\(m) (\(fixed(s.low * scale, digits))–\(fixed(s.high * scale, digits)))" : m
    }
    /// A ratio with its interval as `4.93× (4.81–5.05)`.
    public static func interval(_ r: RatioInterval?) -> String {
        guard let r, r.ratio.isFinite else { return "–" }
        return r.low == r.high ? String(format: "%.2f×", r.ratio) : String(format: "%.2f× (%.2f–%.2f)", r.ratio, r.low, r.high)
    }
    /// Median with its spread as `median (min–max)`.
    public static func spread(_ s: Statistics, _ digits: Int, scale: Double = 1) -> String {
        guard s.count > 0 else { return "–" }
        let m = fixed(s.median * scale, digits)
        return s.count > 1 ? "\(m) (\(fixed(s.min * scale, digits))–\(fixed(s.max * scale, digits)))" : m
    }
    /// A markdown table cell: no pipes or newlines may break the row.
    public static func cell(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: "⏎")
            .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
