// Comparison reports: did this commit, machine or setting make it faster or smaller? Each side is
// an experiment (by name) or a single run (by id). Runs are paired by configuration (model,
// weights, quantization, threads, prompt); two single runs are paired with each other as given.
// For each pair and metric: both medians, the ratio, and whether the difference exceeds the
// spread of the repeats (|Δ median| > the larger of the two min–max ranges).
import Foundation
import Mustache

public enum CompareReport {
    struct Side { var name: String; var runs: [StoredRun] }

    struct Metric {
        var name: String, unit: String, higherIsBetter: Bool, digits: Int
        var values: (StoredRun) -> [Double]
    }

    static let metrics: [Metric] = [
        Metric(name: "decode", unit: "tok/s", higherIsBetter: true, digits: 1) { $0.record.repeats.map(\.decodeTokensPerSecond) },
        Metric(name: "prefill", unit: "tok/s", higherIsBetter: true, digits: 1) { $0.record.repeats.map(\.prefillTokensPerSecond) },
        Metric(name: "time to first token", unit: "ms", higherIsBetter: false, digits: 2) { $0.record.repeats.map { $0.timeToFirstToken * 1000 } },
        Metric(name: "total time", unit: "s", higherIsBetter: false, digits: 3) { $0.record.repeats.map(\.totalSeconds) },
        Metric(name: "load", unit: "s", higherIsBetter: false, digits: 3) { $0.record.loadSeconds.map { [$0] } ?? [] },
        Metric(name: "peak RSS", unit: "MiB", higherIsBetter: false, digits: 2) { $0.record.memory?.peakRSS.map { [Double($0) / 1_048_576] } ?? [] },
        Metric(name: "weights", unit: "MiB", higherIsBetter: false, digits: 2) { $0.record.weights.map { [Double($0.bytes) / 1_048_576] } ?? [] },
    ]

    /// `NAME`, `ID`, or either prefixed by another database (`other.sqlite:NAME`), so runs made on
    /// another machine can be compared with this one's.
    static func side(_ reference: String, store defaultStore: Store) throws -> Side {
        var store = defaultStore
        var reference = reference
        var prefix = ""
        if let range = reference.range(of: ".sqlite:") {
            let path = String(reference[..<range.lowerBound]) + ".sqlite"
            store = try Store(path: path, readOnly: true)
            prefix = (path as NSString).lastPathComponent + ":"
            reference = String(reference[range.upperBound...])
        }
        var side = try localSide(reference, store: store)
        side.name = prefix + side.name
        return side
    }

    static func localSide(_ reference: String, store: Store) throws -> Side {
        let trimmed = reference.hasPrefix("#") ? String(reference.dropFirst()) : reference
        if let id = Int64(trimmed) {
            guard let run = try store.run(id: id) else { throw RunnerError.invalid("no run with id \(id) in \(store.path); `exprun list` shows them") }
            return Side(name: "run \(id)", runs: [run])
        }
        guard try store.experiment(named: reference) != nil else {
            let known = try store.experiments().map(\.name)
            let hint = EditDistance.suggestion(for: reference, among: known).map { " (did you mean `\($0)`?)" } ?? ""
            throw RunnerError.invalid("'\(reference)' is neither a run id nor an experiment in \(store.path)\(hint)")
        }
        return Side(name: reference, runs: try store.runs(experiment: reference).filter { $0.record.status == .ok })
    }

    static func identity(_ e: PlanEntry) -> String {
        [e.model, e.weights.rawValue, e.label, String(e.threads), e.prompt].joined(separator: "\u{1F}")
    }

    /// Writes `compare.md` and its charts into `directory`; returns the report's path.
    @discardableResult
    public static func write(_ references: [String], store: Store, directory: String) throws -> String {
        guard references.count >= 2 else { throw RunnerError.invalid("compare needs at least two experiments or run ids") }
        let sides = try references.map { try side($0, store: store) }
        let reference = sides[0]
        let allRuns = sides.flatMap(\.runs)
        let labeler = Labeler(allRuns)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        var comparisons: [[String: Any]] = []
        var chartCategories: [String] = []
        var chartValues: [[Double?]] = Array(repeating: [], count: sides.count)
        var chartRanges: [[(Double, Double)?]] = Array(repeating: [], count: sides.count)
        var memoryValues: [[Double?]] = Array(repeating: [], count: sides.count)
        let runsOnly = sides.allSatisfy { $0.runs.count == 1 && $0.name.hasPrefix("run ") }

        for (si, other) in sides.enumerated().dropFirst() {
            var pairs: [(StoredRun, StoredRun)] = []
            if runsOnly {
                pairs = [(reference.runs[0], other.runs[0])]
            } else {
                for a in reference.runs {
                    if let b = other.runs.first(where: { identity($0.entry) == identity(a.entry) }) { pairs.append((a, b)) }
                }
            }
            var rows: [[String: Any]] = []
            for (a, b) in pairs {
                let config = runsOnly ? "\(labeler.full(a.entry)) vs \(labeler.full(b.entry))" : labeler.full(a.entry)
                for metric in metrics {
                    let sa = Statistics(metric.values(a)), sb = Statistics(metric.values(b))
                    guard sa.count > 0, sb.count > 0 else { continue }
                    let delta = sb.median - sa.median
                    let spread = Swift.max(sa.spread, sb.spread)
                    let verdict: String
                    if sa.count < 2 || sb.count < 2 {
                        verdict = delta == 0 ? "same" : "one value each: no spread to judge by"
                    } else if abs(delta) > spread {
                        let better = (delta > 0) == metric.higherIsBetter
                        verdict = "**\(better ? "better" : "worse")** (beyond the spread)"
                    } else {
                        verdict = "within the spread"
                    }
                    rows.append([
                        "config": Format.cell(config), "metric": "\(metric.name) (\(metric.unit))",
                        "a": Format.spread(sa, metric.digits), "b": Format.spread(sb, metric.digits),
                        "ratio": Format.ratio(sb.median, sa.median), "verdict": verdict,
                    ])
                }
                if si == 1 {
                    chartCategories.append(runsOnly ? "run \(a.id) vs run \(b.id)" : labeler.full(a.entry))
                    for (k, s) in [(0, a), (si, b)] {
                        let d = RunSummaryFigures(s.record).decode
                        chartValues[k].append(d.median); chartRanges[k].append((d.min, d.max))
                        memoryValues[k].append(s.record.memory?.peakRSS.map { Double($0) / 1_048_576 })
                    }
                    for k in sides.indices where k != 0 && k != si { chartValues[k].append(nil); chartRanges[k].append(nil); memoryValues[k].append(nil) }
                } else if let index = chartCategories.firstIndex(of: runsOnly ? "run \(a.id) vs run \(b.id)" : labeler.full(a.entry)) {
                    let d = RunSummaryFigures(b.record).decode
                    chartValues[si][index] = d.median; chartRanges[si][index] = (d.min, d.max)
                    memoryValues[si][index] = b.record.memory?.peakRSS.map { Double($0) / 1_048_576 }
                }
            }
            let unmatched = other.runs.count - pairs.count
            comparisons.append([
                "a": reference.name, "b": other.name, "rows": rows, "pairCount": pairs.count,
                "unmatched": unmatched, "hasUnmatched": unmatched > 0 || reference.runs.count > pairs.count,
                "hasPairs": !pairs.isEmpty,
            ])
        }

        var charts: [[String: Any]] = []
        if !chartCategories.isEmpty {
            let speed = Chart(kind: .bars, title: "Decode speed, side by side", categories: chartCategories, xLabel: "configuration",
                              yLabel: "tokens/s (median, whiskers min–max)",
                              series: sides.indices.map { ChartSeries(name: sides[$0].name, values: pad(chartValues[$0], chartCategories.count), ranges: chartRanges[$0]) })
            let memory = Chart(kind: .bars, title: "Peak RSS, side by side", categories: chartCategories, xLabel: "configuration",
                               yLabel: "MiB", series: sides.indices.map { ChartSeries(name: sides[$0].name, values: pad(memoryValues[$0], chartCategories.count)) })
            for (file, chart) in [("compare-decode.svg", speed), ("compare-memory.svg", memory)] {
                try chart.svg().write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
                charts.append(["file": file, "title": chart.title])
            }
        }
        let environments: [[String: Any]] = sides.map { s in
            var e: [String: Any] = ["name": s.name, "runs": s.runs.count]
            if let env = s.runs.first?.record.environment { e["env"] = ExperimentReport.environmentContext(env) }
            return e
        }
        let context: [String: Any] = [
            "title": references.joined(separator: " vs "), "generatedAt": ISO8601DateFormatter().string(from: Date()),
            "database": store.path, "comparisons": comparisons, "sides": environments, "charts": charts, "hasCharts": !charts.isEmpty,
            "randomWeights": allRuns.contains { $0.entry.weights == .random },
        ]
        let template = try Templates.load(Templates.path("compare.md.mustache"))
        let path = directory + "/compare.md"
        try template.render(context).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func pad(_ v: [Double?], _ n: Int) -> [Double?] { v + Array(repeating: nil, count: Swift.max(0, n - v.count)) }
}
