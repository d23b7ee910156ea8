// The report of an encoder experiment: what ExperimentReport builds for every experiment (machine,
// memory, failed runs), with encoder tables and charts in place of the decoder's: texts/s and
// tokens/s per batch size with the time of a batch, a texts/s chart, and agreement with the
// baseline (mean cosine, recall@10) against size and against speed. Rendered from
// `report-templates/encoder-report.md.mustache`.
import Foundation

enum EncoderReport {
    static let template = "encoder-report.md.mustache"

    static func applies(_ runs: [StoredRun]) -> Bool { runs.contains { $0.entry.encoder != nil } }

    static func charts(experiment: StoredExperiment, runs: [StoredRun]) -> [(String, ExperimentReport.AnyChart)] {
        let ok = runs.filter { $0.record.status == .ok && $0.record.encoder != nil }
        guard !ok.isEmpty else { return [] }
        var memoryOnly = experiment
        memoryOnly.charts = experiment.charts.filter { $0 == "memory" }
        var result = ExperimentReport.charts(experiment: memoryOnly, runs: ok)
        let labeler = Labeler(ok)
        let groups = ExperimentReport.unique(ok.map { labeler.group($0.entry) })
        let threadCounts = ExperimentReport.unique(ok.map { String($0.entry.threads) })
        func textsPerSecond(_ r: StoredRun, batch: Int) -> Statistics? {
            r.record.encoder?.batches.first { $0.batchSize == batch }.map { Statistics($0.split(threads: r.entry.threads).kept.map(\.textsPerSecond)) }
        }
        if experiment.charts.contains("throughput") || experiment.charts.contains("time") {
            var series: [ChartSeries] = []
            for threads in threadCounts {
                for size in ExperimentReport.unique(ok.flatMap { $0.record.encoder!.batches.map { String($0.batchSize) } }) {
                    let stats: [Statistics?] = groups.map { g in
                        ok.first { labeler.group($0.entry) == g && String($0.entry.threads) == threads }.flatMap { textsPerSecond($0, batch: Int(size)!) }
                    }
                    series.append(ChartSeries(name: "batch \(size), \(threads) thread\(threads == "1" ? "" : "s")",
                                              values: stats.map { $0?.median }, ranges: stats.map { $0.map { ($0.min, $0.max) } }))
                }
            }
            result.append(("throughput.svg", .bars(Chart(kind: .bars, title: "Texts embedded per second", categories: groups,
                                                         xLabel: "configuration", yLabel: "texts/s (median, whiskers min–max)", series: series))))
        }
        // Quality: one point per configuration, from its quality run (the baseline is 1 by definition).
        var seen = Set<String>()
        let scored = ok.filter { $0.entry.encoder?.quality == true && seen.insert(labeler.group($0.entry)).inserted }
        func cosine(_ r: StoredRun) -> Double? { r.entry.baseline == r.entry.quantization ? 1 : r.record.encoder?.cosineMean }
        func recall(_ r: StoredRun) -> Double? { r.entry.baseline == r.entry.quantization ? 1 : r.record.encoder?.recall }
        if experiment.charts.contains("quality"), scored.contains(where: { $0.record.encoder?.cosineMean != nil }) {
            let k = scored.compactMap { $0.record.encoder?.recallK }.first ?? 10
            let size = ScatterChart(
                title: "Agreement with the baseline against size", xLabel: "bits per weight (scales included)",
                yLabel: "agreement with \(experiment.baseline ?? "the baseline") (1 = the same)",
                series: [("mean cosine of each text's embeddings", cosine), ("recall@\(k) of nearest neighbours", recall)].map { name, value in
                    ScatterSeries(name: name, points: scored.compactMap { r in
                        guard let w = r.record.weights, let v = value(r) else { return nil }
                        return ScatterPoint(label: labeler.group(r.entry), x: w.bitsPerWeight, y: v)
                    })
                }, xBetter: .lower, yBetter: .higher)
            let batch = ok.compactMap { $0.record.encoder?.batches.map(\.batchSize).max() }.max() ?? 1
            let speed = ScatterChart(
                title: "Agreement with the baseline against speed", xLabel: "texts/s at batch \(batch) (median, bars min–max)",
                yLabel: "mean cosine to \(experiment.baseline ?? "the baseline")",
                series: threadCounts.map { t in
                    ScatterSeries(name: "\(t) thread\(t == "1" ? "" : "s")", points: scored.compactMap { q in
                        guard let c = cosine(q), let run = ok.first(where: { labeler.group($0.entry) == labeler.group(q.entry) && String($0.entry.threads) == t }),
                              let s = textsPerSecond(run, batch: batch), s.count > 0 else { return nil }
                        return ScatterPoint(label: labeler.group(q.entry), x: s.median, y: c, xRange: (s.min, s.max))
                    })
                }, xBetter: .higher, yBetter: .higher)
            result.append(("quality-size.svg", .scatter(size)))
            result.append(("quality-speed.svg", .scatter(speed)))
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
        // Throughput over the quiet repeats (BusyRepeats), ratios with their interval paired by round,
        // and the repeats set aside, as the decoder report gives them.
        var rows: [[String: Any]] = [], noiseRows: [[String: Any]] = [], busyKept: [String] = []
        func baseBatch(_ r: StoredRun, _ size: Int) -> (StoredRun, EncoderBatchFigures)? {
            guard let base = baselineRun(for: r, among: ok, baseline: experiment.baseline),
                  let b = base.record.encoder?.batches.first(where: { $0.batchSize == size }) else { return nil }
            return (base, b)
        }
        for r in ok {
            for b in r.record.encoder!.batches {
                let split = b.split(threads: r.entry.threads), setAside = split.busyKept ? [] : split.busy
                let texts = Statistics(split.kept.map(\.textsPerSecond)), tokens = Statistics(split.kept.map(\.tokensPerSecond))
                let latency = Statistics(split.kept.map(\.secondsPerBatch))
                var ratio = "–"
                if let (base, bb) = baseBatch(r, b.batchSize) {
                    ratio = base.id == r.id ? "1.00×" : Format.interval(RatioInterval.of(b.textsPerSecond(threads: r.entry.threads),
                        over: bb.textsPerSecond(threads: base.entry.threads), pairedByRound: ExperimentReport.pairable(r, base)))
                }
                rows.append(["run": r.id, "config": Format.cell(labeler.full(r.entry)), "batch": b.batchSize,
                             "textsPerSecond": Format.median(texts, 1), "tokensPerSecond": Format.median(tokens, 0),
                             "latency": Format.median(latency, 2, scale: 1000), "ratio": ratio,
                             "repeats": setAside.isEmpty ? "\(split.kept.count)" + (split.busyKept ? " (busy)" : "") : "\(split.kept.count) of \(b.repeats.count)"])
                if split.busyKept {
                    busyKept.append("run \(r.id) (\(Format.cell(labeler.full(r.entry))), batch \(b.batchSize): \(split.busy.count) of \(b.repeats.count) busy)")
                }
                for (rep, why) in setAside {
                    noiseRows.append(["run": r.id, "config": Format.cell(labeler.full(r.entry)), "batch": b.batchSize, "round": rep.round + 1,
                                      "repeat": rep.index + 1, "textsPerSecond": Format.fixed(rep.textsPerSecond, 1), "why": Format.cell(why)])
                }
            }
        }
        c["throughputRows"] = rows
        let measured = ok.flatMap { $0.record.encoder!.batches.flatMap(\.repeats) }
        c["cpuMeasured"] = measured.contains { $0.cpu?.machineBusySeconds != nil }
        c["noiseRows"] = noiseRows
        c["setAsideCount"] = noiseRows.count
        c["repeatCount"] = measured.count
        c["hasSetAside"] = !noiseRows.isEmpty
        c["setAsideRuns"] = Set(noiseRows.map { $0["run"] as! Int64 }).sorted().map { "run \($0)" }.joined(separator: ", ")
        c["busyKept"] = busyKept
        c["hasBusyKept"] = !busyKept.isEmpty
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
                guard let mine = r.record.encoder?.batches.last, let (base, theirs) = baseBatch(r, mine.batchSize) else { continue }
                let q = ok.first { $0.entry.encoder?.quality == true && labeler.group($0.entry) == labeler.group(r.entry) }?.record.encoder
                let paired = ExperimentReport.pairable(r, base)
                let noisy = mine.split(threads: r.entry.threads).busyKept || theirs.split(threads: base.entry.threads).busyKept
                summary.append([
                    "config": labeler.group(r.entry), "batch": mine.batchSize,
                    "weights": Format.ratio(r.record.weights.map { Double($0.bytes) }, base.record.weights.map { Double($0.bytes) }),
                    "peak": ExperimentReport.sentence("peak RSS", RatioInterval.of(ExperimentReport.peakValues(r), over: ExperimentReport.peakValues(base),
                                                                                     pairedByRound: paired), sense: .size),
                    "speed": ExperimentReport.sentence("texts/s at batch \(mine.batchSize)", RatioInterval.of(mine.textsPerSecond(threads: r.entry.threads),
                        over: theirs.textsPerSecond(threads: base.entry.threads), pairedByRound: paired), sense: .speed, noisy: noisy),
                    "cosine": Format.fixed(q?.cosineMean, 4), "recall": Format.fixed(q?.recall, 3), "hasQuality": q?.cosineMean != nil,
                ])
            }
            c["summaryThreads"] = threads
        }
        c["summaryRows"] = summary
        c["hasSummary"] = !summary.isEmpty
    }

    /// `exprun compare`'s figures of encoder runs: texts/s at each batch size they measured.
    static func compareMetrics(_ runs: [StoredRun]) -> [CompareReport.Metric] {
        Set(runs.flatMap { $0.record.encoder?.batches.map(\.batchSize) ?? [] }).sorted().map { size in
            func batch(_ r: StoredRun) -> EncoderBatchFigures? { r.record.encoder?.batches.first { $0.batchSize == size } }
            return CompareReport.Metric(id: "texts_per_second_batch_\(size)", name: "texts/s at batch \(size)", unit: "texts/s", sense: .speed,
                                        digits: 1, timed: true, values: { r, _ in batch(r)?.textsPerSecond(threads: r.entry.threads) ?? [] },
                                        busyKept: { r in batch(r)?.split(threads: r.entry.threads).busyKept ?? false })
        }
    }

    /// `exprun show RUN` lines of an encoder run.
    static func showLines(_ plan: EncoderPlan, _ f: EncoderFigures?, repeats: Int, warmup: Int, rounds: Int, threads: Int) -> [String] {
        let source = plan.texts.map { "\($0.count) texts" } ?? plan.corpus.map { "\($0.text), \($0.lines.map { "first \($0) lines" } ?? "every line")" } ?? ""
        var lines = ["  texts        \(source); batch sizes \(plan.batchSizes.map(String.init).joined(separator: ", ")); \(repeats) repeats"
                     + (rounds > 1 ? " in \(rounds) rounds, \(warmup) warm-up per batch size in each" : " after \(warmup) warm-up per batch size")]
        guard let f else { return lines }
        lines.append("  encoder      \(f.texts) texts (\(f.truncated) cut to \(f.maxSequenceLength) tokens), each repeat embeds \(f.timedTexts) (\(f.timedTokens) tokens); \(f.dimension) dimensions")
        for b in f.batches {
            let split = b.split(threads: threads)
            for r in b.repeats {
                let busy = split.busy.first { $0.0.index == r.index }.map { (split.busyKept ? " [busy, kept: too few quiet repeats] " : " [set aside] ") + $0.1 } ?? ""
                lines.append("  batch \(b.batchSize) repeat \(r.index + 1)\(rounds > 1 ? " (round \(r.round + 1))" : ""): \(Format.fixed(r.seconds, 4)) s, \(Format.fixed(r.textsPerSecond, 1)) texts/s, \(Format.fixed(r.tokensPerSecond, 0)) tokens/s, \(Format.ms(r.secondsPerBatch)) ms per batch" + busy)
            }
        }
        lines.append("  quality      cosine to the baseline mean \(Format.fixed(f.cosineMean, 5)), min \(Format.fixed(f.cosineMin, 5)), recall@\(f.recallK ?? 10) \(Format.fixed(f.recall, 4)) (– = not measured)")
        return lines
    }
}
