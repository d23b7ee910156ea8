// The report of an encoder experiment: what ExperimentReport builds for every experiment (machine,
// memory, failed runs), with encoder tables and charts in place of the decoder's: texts/s and
// tokens/s per batch size with the latency of a batch, a texts/s chart, and quality against size
// (1 − cosine to the baseline and 1 − recall@10, configurations by stored bytes). Rendered from
// `report-templates/encoder-report.md.mustache`.
import Foundation

enum EncoderReport {
    static let template = "encoder-report.md.mustache"

    static func applies(_ runs: [StoredRun]) -> Bool { runs.contains { $0.entry.encoder != nil } }

    static func charts(experiment: StoredExperiment, runs: [StoredRun]) -> [(String, Chart)] {
        let ok = runs.filter { $0.record.status == .ok && $0.record.encoder != nil }
        guard !ok.isEmpty else { return [] }
        var memoryOnly = experiment
        memoryOnly.charts = experiment.charts.filter { $0 == "memory" }
        var result = ExperimentReport.charts(experiment: memoryOnly, runs: ok)
        let labeler = Labeler(ok)
        let groups = ExperimentReport.unique(ok.map { labeler.group($0.entry) })
        if experiment.charts.contains("throughput") || experiment.charts.contains("time") {
            var series: [ChartSeries] = []
            for threads in ExperimentReport.unique(ok.map { String($0.entry.threads) }) {
                for size in ExperimentReport.unique(ok.flatMap { $0.record.encoder!.batches.map { String($0.batchSize) } }) {
                    let stats: [Statistics?] = groups.map { g in
                        ok.first { labeler.group($0.entry) == g && String($0.entry.threads) == threads }
                            .flatMap { r in r.record.encoder!.batches.first { String($0.batchSize) == size } }
                            .map { Statistics($0.repeats.map(\.textsPerSecond)) }
                    }
                    series.append(ChartSeries(name: "batch \(size), \(threads) thread\(threads == "1" ? "" : "s")",
                                              values: stats.map { $0?.median }, ranges: stats.map { $0.map { ($0.min, $0.max) } }))
                }
            }
            result.append(("throughput.svg", Chart(kind: .bars, title: "Texts embedded per second", categories: groups,
                                                   xLabel: "configuration", yLabel: "texts/s (median, whiskers min–max)", series: series)))
        }
        let scored = ok.filter { $0.record.encoder?.cosineMean != nil || $0.entry.baseline == $0.entry.quantization }
        if experiment.charts.contains("quality"), scored.contains(where: { $0.record.encoder?.cosineMean != nil }) {
            // One point per configuration (its quality run), largest stored size first.
            var seen = Set<String>()
            let points = scored.filter { $0.entry.encoder?.quality == true && seen.insert(labeler.group($0.entry)).inserted }
                .sorted { ($0.record.weights?.bytes ?? 0) > ($1.record.weights?.bytes ?? 0) }
            let labels = points.map { "\(labeler.group($0.entry)) · \(Format.mib($0.record.weights?.bytes)) MiB" }
            let k = points.compactMap { $0.record.encoder?.recallK }.first ?? 10
            func loss(_ r: StoredRun, _ v: (EncoderFigures) -> Double?) -> Double? {
                r.entry.baseline == r.entry.quantization ? 0 : r.record.encoder.flatMap(v).map { 1 - $0 }
            }
            result.append(("quality.svg", Chart(
                kind: .lines, title: "Quality lost against size", categories: labels, xLabel: "configuration · weights as stored",
                yLabel: "distance from the baseline (lower is better)",
                series: [ChartSeries(name: "1 − mean cosine to the baseline", values: points.map { loss($0, \.cosineMean) }),
                         ChartSeries(name: "1 − recall@\(k) of nearest neighbours", values: points.map { loss($0, \.recall) })])))
        }
        return result
    }

    /// Adds the encoder tables to the common context.
    static func extend(_ c: inout [String: Any], experiment: StoredExperiment, runs: [StoredRun]) {
        let ok = runs.filter { $0.record.status == .ok && $0.record.encoder != nil }
        let labeler = Labeler(runs)
        c["isEncoder"] = true
        if let first = runs.first?.entry.encoder {
            c["textSource"] = first.texts.map { "\($0.count) text\($0.count == 1 ? "" : "s") given in the experiment file" }
                ?? first.corpus.map { "\($0.lines.map { "the first \($0) lines" } ?? "every line") of `\($0.text)` (non-empty lines, WikiText headings skipped)" } ?? ""
            c["batchSizes"] = first.batchSizes.map(String.init).joined(separator: ", ")
        }
        if let f = ok.first?.record.encoder {
            c["textCount"] = f.texts
            c["timedTexts"] = f.timedTexts
            c["timedTokens"] = f.timedTokens
            c["maxSequenceLength"] = f.maxSequenceLength
            c["dimension"] = f.dimension
            c["truncated"] = f.truncated
            c["hasTruncated"] = f.truncated > 0
        }
        var rows: [[String: Any]] = []
        for r in ok {
            let base = baselineRun(for: r, among: ok, baseline: experiment.baseline)
            for b in r.record.encoder!.batches {
                let texts = Statistics(b.repeats.map(\.textsPerSecond)), tokens = Statistics(b.repeats.map(\.tokensPerSecond))
                let latency = Statistics(b.repeats.map(\.secondsPerBatch))
                let baseTexts = base?.record.encoder?.batches.first { $0.batchSize == b.batchSize }.map { Statistics($0.repeats.map(\.textsPerSecond)).median }
                rows.append(["run": r.id, "config": Format.cell(labeler.full(r.entry)), "batch": b.batchSize,
                             "textsPerSecond": Format.spread(texts, 1), "tokensPerSecond": Format.spread(tokens, 0),
                             "latency": Format.spread(latency, 2, scale: 1000), "ratio": Format.ratio(texts.median, baseTexts),
                             "repeats": b.repeats.count])
            }
        }
        c["throughputRows"] = rows
        let quality = ok.filter { $0.entry.encoder?.quality == true }
        c["qualityRows"] = quality.map { r -> [String: Any] in
            let f = r.record.encoder!, isBaseline = r.entry.baseline == r.entry.quantization
            return ["run": r.id, "config": Format.cell(labeler.group(r.entry)), "weights": Format.mib(r.record.weights?.bytes),
                    "bits": Format.fixed(r.record.weights?.bitsPerWeight, 2),
                    "cosineMean": isBaseline ? "baseline" : Format.fixed(f.cosineMean, 5),
                    "cosineMin": isBaseline ? "baseline" : Format.fixed(f.cosineMin, 5),
                    "recall": isBaseline ? "baseline" : Format.fixed(f.recall, 4)]
        }
        c["recallK"] = ok.compactMap { $0.record.encoder?.recallK }.first ?? 10
        c["qualityMeasured"] = quality.contains { $0.record.encoder?.cosineMean != nil }
        // In short: each configuration against the baseline at the first thread count and the largest batch.
        var summary: [[String: Any]] = []
        if let threads = ok.first?.entry.threads {
            for r in ok where r.entry.threads == threads && r.entry.baseline != r.entry.quantization {
                guard let base = baselineRun(for: r, among: ok, baseline: experiment.baseline),
                      let mine = r.record.encoder?.batches.last, let theirs = base.record.encoder?.batches.first(where: { $0.batchSize == mine.batchSize })
                else { continue }
                let q = ok.first { $0.entry.encoder?.quality == true && labeler.group($0.entry) == labeler.group(r.entry) }?.record.encoder
                summary.append([
                    "config": labeler.group(r.entry), "batch": mine.batchSize,
                    "weights": Format.ratio(r.record.weights.map { Double($0.bytes) }, base.record.weights.map { Double($0.bytes) }),
                    "peak": Format.ratio(r.record.memory?.peakRSS.map(Double.init), base.record.memory?.peakRSS.map(Double.init)),
                    "speed": Format.ratio(Statistics(mine.repeats.map(\.textsPerSecond)).median, Statistics(theirs.repeats.map(\.textsPerSecond)).median),
                    "cosine": Format.fixed(q?.cosineMean, 4), "recall": Format.fixed(q?.recall, 3), "hasQuality": q?.cosineMean != nil,
                ])
            }
            c["summaryThreads"] = threads
        }
        c["summaryRows"] = summary
        c["hasSummary"] = !summary.isEmpty
    }

    /// `exprun show RUN` lines of an encoder run.
    static func showLines(_ plan: EncoderPlan, _ f: EncoderFigures?, repeats: Int, warmup: Int) -> [String] {
        let source = plan.texts.map { "\($0.count) texts" } ?? plan.corpus.map { "\($0.text), \($0.lines.map { "first \($0) lines" } ?? "every line")" } ?? ""
        var lines = ["  texts        \(source); batch sizes \(plan.batchSizes.map(String.init).joined(separator: ", ")); \(repeats) repeats after \(warmup) warm-up each"]
        guard let f else { return lines }
        lines.append("  encoder      \(f.texts) texts (\(f.truncated) cut to \(f.maxSequenceLength) tokens), each repeat embeds \(f.timedTexts) (\(f.timedTokens) tokens); \(f.dimension) dimensions")
        for b in f.batches {
            for (i, r) in b.repeats.enumerated() {
                lines.append("  batch \(b.batchSize) repeat \(i): \(Format.fixed(r.seconds, 4)) s, \(Format.fixed(r.textsPerSecond, 1)) texts/s, \(Format.fixed(r.tokensPerSecond, 0)) tokens/s, \(Format.ms(r.secondsPerBatch)) ms per batch")
            }
        }
        lines.append("  quality      cosine to the baseline mean \(Format.fixed(f.cosineMean, 5)), min \(Format.fixed(f.cosineMin, 5)), recall@\(f.recallK ?? 10) \(Format.fixed(f.recall, 4)) (– = not measured)")
        return lines
    }
}
