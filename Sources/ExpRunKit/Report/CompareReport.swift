// Comparison reports: did this commit, machine or setting make it faster or smaller? Each side is
// an experiment (by name) or a single run (by id). Runs are paired by configuration (model,
// weights, quantization, threads, prompt); two single runs are paired with each other as given.
// For each pair and metric: both medians, the ratio of the other side over the first with its
// 95% interval (`RatioInterval`: paired by round when both runs come from one experiment, else
// independent), and the verdict that interval allows (faster, slower, smaller, larger, same or
// unstable). `--format json` prints the same rows as JSON instead of writing compare.md.
import Foundation
import Mustache

public enum CompareReport {
    struct Side {
        var name: String; var database: String; var runs: [StoredRun]
        /// The runs of the side's experiment(s), which its runs are judged with (`BandwidthReference`).
        var experimentRuns: [StoredRun]
    }

    struct Metric {
        /// Machine-readable name (JSON), and how a person reads it (markdown).
        var id: String, name: String, unit: String, sense: Verdict.Sense, digits: Int
        /// Whether busy repeats can disturb it (time figures do, sizes do not).
        var timed: Bool
        var values: (StoredRun, RunSummaryFigures) -> [RoundValue]
        /// Whether too few quiet repeats remained for this figure, where the decoder's repeats do not tell.
        var busyKept: ((StoredRun) -> Bool)? = nil
    }

    /// The metrics of `runs`: the decoder's and memory's, and texts/s at each batch size of encoder runs.
    static func metrics(for runs: [StoredRun]) -> [Metric] { metrics + EncoderReport.compareMetrics(runs) }

    static func perRound(_ r: StoredRun, _ figure: (RoundRecord) -> Double?) -> [RoundValue] {
        r.record.rounds.filter { $0.status == .ok }.compactMap { round in figure(round).map { RoundValue($0, round: round.round) } }
    }

    static let metrics: [Metric] = [
        Metric(id: "decode_tokens_per_second", name: "decode", unit: "tok/s", sense: .speed, digits: 1, timed: true) { $1.values(\.decodeTokensPerSecond) },
        Metric(id: "prefill_tokens_per_second", name: "prefill", unit: "tok/s", sense: .speed, digits: 1, timed: true) { $1.values(\.prefillTokensPerSecond) },
        Metric(id: "time_to_first_token_ms", name: "time to first token", unit: "ms", sense: .duration, digits: 2, timed: true) { $1.values { $0.timeToFirstToken * 1000 } },
        Metric(id: "total_seconds", name: "total time", unit: "s", sense: .duration, digits: 3, timed: true) { $1.values(\.totalSeconds) },
        Metric(id: "load_seconds", name: "load", unit: "s", sense: .duration, digits: 3, timed: true) { r, _ in perRound(r) { $0.loadSeconds } },
        Metric(id: "peak_rss_mib", name: "peak RSS", unit: "MiB", sense: .size, digits: 2, timed: false) { r, _ in
            perRound(r) { $0.memory?.peakRSS.map { Double($0) / 1_048_576 } }
        },
        Metric(id: "weights_mib", name: "weights", unit: "MiB", sense: .size, digits: 2, timed: false) { r, _ in
            r.record.weights.map { [RoundValue(Double($0.bytes) / 1_048_576, round: 0)] } ?? []
        },
    ]

    /// One compared figure: what `--format json` prints for every paired configuration and metric.
    public struct Row: Sendable, Codable, Equatable {
        public var side: String?
        public var configuration: String
        public var metric: String
        public var a: Double
        public var b: Double
        public var ratio: Double
        public var ratio_low: Double
        public var ratio_high: Double
        public var verdict: Verdict
    }

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
        let database = URL(fileURLWithPath: store.path).standardizedFileURL.path
        if let id = Int64(trimmed) {
            guard let run = try store.run(id: id) else { throw RunnerError.invalid("no run with id \(id) in \(store.path); `exprun list` shows them") }
            // A run is judged as its experiment's report judges it.
            return Side(name: "run \(id)", database: database, runs: [run], experimentRuns: try store.runs(experiment: run.experiment))
        }
        guard let experiment = try store.experiment(named: reference) else {
            let known = try store.experiments().map(\.name)
            let hint = EditDistance.suggestion(for: reference, among: known).map { " (did you mean `\($0)`?)" } ?? ""
            throw RunnerError.invalid("'\(reference)' is neither a run id nor an experiment in \(store.path)\(hint)")
        }
        // The runs of the experiment as last planned, as its report shows them.
        let runs = try store.runs(experiment: reference).filter { r in r.record.status == .ok && experiment.planKeys.map { $0.contains(r.entry.key) } ?? true }
        return Side(name: reference, database: database, runs: runs, experimentRuns: runs)
    }

    static func identity(_ e: PlanEntry) -> String {
        [e.model, e.weights.rawValue, e.label, String(e.threads), e.prompt].joined(separator: "\u{1F}")
    }

    struct Pairing {
        var a: Side, b: Side
        var pairs: [(StoredRun, StoredRun)]
        var rows: [Row]
    }

    /// What every side's runs are judged with: the best bandwidth any side saw, and one placement of
    /// the virtual CPUs for all (two runs of an experiment compare at the placement both had).
    static func judge(_ sides: [Side]) -> BandwidthReference { BandwidthReference(sides.flatMap(\.experimentRuns)) }

    /// Pairs each other side's runs with the first side's and judges every metric.
    static func pairings(_ sides: [Side]) -> [Pairing] {
        let reference = sides[0]
        let labeler = Labeler(sides.flatMap(\.runs))
        let runsOnly = sides.allSatisfy { $0.runs.count == 1 && $0.name.hasSuffix("run \($0.runs[0].id)") }
        let metrics = metrics(for: sides.flatMap(\.runs))
        var figures: [String: RunSummaryFigures] = [:]
        let judge = judge(sides)
        func summary(_ side: Side, _ r: StoredRun) -> RunSummaryFigures {
            let key = side.database + "#\(r.id)"
            if let f = figures[key] { return f }
            let f = RunSummaryFigures(r, reference: judge)
            figures[key] = f
            return f
        }
        return sides.dropFirst().map { other in
            let pairs: [(StoredRun, StoredRun)] = runsOnly ? [(reference.runs[0], other.runs[0])]
                : reference.runs.compactMap { a in other.runs.first { identity($0.entry) == identity(a.entry) }.map { (a, $0) } }
            var rows: [Row] = []
            for (a, b) in pairs {
                let config = runsOnly ? "\(labeler.full(a.entry)) vs \(labeler.full(b.entry))" : labeler.full(a.entry)
                // Runs of one experiment in one database ran in the same rounds.
                let paired = reference.database == other.database && ExperimentReport.pairable(a, b)
                let fa = summary(reference, a), fb = summary(other, b)
                for metric in metrics {
                    let va = metric.values(a, fa), vb = metric.values(b, fb)
                    guard let interval = RatioInterval.of(vb, over: va, pairedByRound: paired) else { continue }
                    // Figures from disjoint placements of the virtual CPUs (BusyRepeats) differ by what
                    // the host did, not by what was compared: no direction can be read.
                    let apart = !fa.repeats.keptAt.isEmpty && !fb.repeats.keptAt.isEmpty && fa.repeats.keptAt.isDisjoint(with: fb.repeats.keptAt)
                    let noisy = metric.timed && (metric.busyKept.map { $0(a) || $0(b) } ?? (fa.repeats.noisy || fb.repeats.noisy || apart))
                    rows.append(Row(side: sides.count > 2 ? other.name : nil, configuration: config, metric: metric.id,
                                    a: RatioInterval.median(va.map(\.value)), b: RatioInterval.median(vb.map(\.value)),
                                    ratio: interval.ratio, ratio_low: interval.low, ratio_high: interval.high,
                                    verdict: Verdict.of(interval, sense: metric.sense, noisy: noisy)))
                }
            }
            return Pairing(a: reference, b: other, pairs: pairs, rows: rows)
        }
    }

    static func resolve(_ references: [String], store: Store) throws -> [Side] {
        guard references.count >= 2 else { throw RunnerError.invalid("compare needs at least two experiments or run ids") }
        return try references.map { try side($0, store: store) }
    }

    /// The rows as JSON: an array of `{configuration, metric, a, b, ratio, ratio_low, ratio_high,
    /// verdict}` (and `side` when more than two sides are compared).
    public static func json(_ references: [String], store: Store) throws -> String {
        let rows = pairings(try resolve(references, store: store)).flatMap(\.rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(rows), as: UTF8.self)
    }

    /// Writes `compare.md` and its charts into `directory`; returns the report's path.
    @discardableResult
    public static func write(_ references: [String], store: Store, directory: String) throws -> String {
        let sides = try resolve(references, store: store)
        let allRuns = sides.flatMap(\.runs)
        let labeler = Labeler(allRuns)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pairings = pairings(sides)
        let runsOnly = sides.allSatisfy { $0.runs.count == 1 && $0.name.hasSuffix("run \($0.runs[0].id)") }

        let comparisons: [[String: Any]] = pairings.map { p in
            let byID = Dictionary(grouping: metrics(for: allRuns), by: \.id).mapValues { $0[0] }
            let rows: [[String: Any]] = p.rows.map { row in
                let m = byID[row.metric]!
                return [
                    "config": Format.cell(row.configuration), "metric": "\(m.name) (\(m.unit))",
                    "a": Format.fixed(row.a, m.digits), "b": Format.fixed(row.b, m.digits),
                    "ratio": Format.interval(RatioInterval(ratio: row.ratio, low: row.ratio_low, high: row.ratio_high)),
                    "verdict": [.same, .unstable].contains(row.verdict) ? row.verdict.rawValue : "**\(row.verdict.rawValue)**",
                ]
            }
            let unmatched = p.b.runs.count - p.pairs.count
            return ["a": p.a.name, "b": p.b.name, "rows": rows, "pairCount": p.pairs.count, "unmatched": unmatched,
                    "hasUnmatched": unmatched > 0 || p.a.runs.count > p.pairs.count, "hasPairs": !p.pairs.isEmpty]
        }

        // Charts: decode speed and peak RSS of every configuration the first two sides share, each
        // further side where it has the configuration too.
        var charts: [[String: Any]] = []
        if let first = pairings.first, !first.pairs.isEmpty {
            let categories = first.pairs.map { runsOnly ? "run \($0.0.id) vs run \($0.1.id)" : labeler.full($0.0.entry) }
            func run(_ side: Int, _ c: Int) -> StoredRun? {
                let a = first.pairs[c].0
                if side == 0 { return a }
                if runsOnly { return sides[side].runs.first }
                return pairings[side - 1].pairs.first { identity($0.0.entry) == identity(a.entry) }?.1
            }
            let judge = judge(sides)
            let decode = sides.indices.map { k in categories.indices.map { c in run(k, c).map { RunSummaryFigures($0, reference: judge).decode } } }
            let speed = Chart(kind: .bars, title: "Decode speed, side by side", categories: categories, xLabel: "configuration",
                              yLabel: "tokens/s (median, whiskers \(Statistics.whiskers(decode.joined().compactMap { $0 })))",
                              series: sides.indices.map { k in ChartSeries(name: sides[k].name, values: decode[k].map { $0?.median },
                                                                           ranges: decode[k].map { $0.map { ($0.low, $0.high) } }) })
            let memory = Chart(kind: .horizontalBars, title: "Peak RSS, side by side", categories: categories, xLabel: "MiB (median over rounds)",
                               yLabel: "configuration", series: sides.indices.map { k in
                                   ChartSeries(name: sides[k].name, values: categories.indices.map { c in run(k, c)?.record.memory?.peakRSS.map { Double($0) / 1_048_576 } })
                               })
            for (file, chart) in [("compare-decode.svg", speed), ("compare-memory.svg", memory)] {
                try chart.svg().write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
                charts.append(["file": file, "title": chart.title])
            }
        }
        let environments: [[String: Any]] = sides.map { s in
            var e: [String: Any] = ["name": s.name, "runs": s.runs.count]
            if let env = s.runs.first?.record.environment { e["env"] = ExperimentReport.environmentContext(env) }
            // Which machines (and Slurm nodes) measured the side: what a comparison across machines compares.
            let hosts = ExperimentReport.unique(s.runs.compactMap { $0.record.environment?.hostname })
            let nodes = ExperimentReport.unique(s.runs.flatMap { $0.record.rounds.compactMap(\.slurmNode) })
            e["machines"] = hosts.joined(separator: ", ") + (nodes.isEmpty ? "" : " (Slurm node\(nodes.count == 1 ? "" : "s") \(nodes.joined(separator: ", ")))")
            return e
        }
        let context: [String: Any] = [
            "title": references.joined(separator: " vs "), "generatedAt": ISO8601DateFormatter().string(from: Date()),
            "database": store.path, "comparisons": comparisons, "sides": environments, "charts": charts, "hasCharts": !charts.isEmpty,
            "randomWeights": allRuns.contains { $0.entry.weights == .random },
            "negligible": Int(Verdict.negligible * 100), "unstable": Int(RatioInterval.unstableWidth * 100),
            "busyThreshold": Int(BusyRepeats.threshold * 100),
        ]
        let template = try Templates.load(Templates.path("compare.md.mustache"))
        let path = directory + "/compare.md"
        try template.render(context).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
