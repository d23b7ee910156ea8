// The report of one experiment, built from the database alone: SVG charts (memory per
// configuration, time and decode speed per configuration with confidence intervals, quality
// against size and against speed with their Pareto fronts) and a Mustache context for the
// markdown: an "In short" that states a ratio only where its interval says there is one, tables
// with medians and 95% intervals, the repeats set aside because the machine was busy, memory
// that differed between rounds, what was measured, how often, on which machine.
import Foundation
import Mustache

public enum ExperimentReport {
    /// Renders `results/<experiment>/report.md` and its SVGs; returns the report's path.
    @discardableResult
    public static func write(experiment name: String, store: Store, resultsDirectory: String) throws -> String {
        guard let experiment = try store.experiment(named: name) else {
            let known = try store.experiments().map(\.name)
            let hint = EditDistance.suggestion(for: name, among: known).map { " (did you mean `\($0)`?)" } ?? ""
            throw RunnerError.invalid("no experiment named '\(name)' in \(store.path)\(hint); `exprun list` shows what is stored")
        }
        // Runs made under earlier settings of the file stay stored but are not this report's.
        let stored = try store.runs(experiment: name)
        let runs = experiment.planKeys.map { keys in stored.filter { keys.contains($0.entry.key) } } ?? stored
        let directory = resultsDirectory + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        var context = Self.context(experiment: experiment, runs: runs, databasePath: store.path)
        context["olderRuns"] = stored.count - runs.count
        context["hasOlderRuns"] = stored.count > runs.count
        let encoder = EncoderReport.applies(runs)
        if encoder { EncoderReport.extend(&context, experiment: experiment, runs: runs) }
        var charts: [[String: Any]] = []
        for (file, chart) in encoder ? EncoderReport.charts(experiment: experiment, runs: runs) : Self.charts(experiment: experiment, runs: runs) {
            try chart.svg().write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
            charts.append(["file": file, "title": chart.title])
        }
        context["charts"] = charts
        context["hasCharts"] = !charts.isEmpty

        let template = try Templates.load(experiment.template ?? Templates.path(encoder ? EncoderReport.template : "report.md.mustache"))
        let path = directory + "/report.md"
        try template.render(context).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A chart of either kind, as the report writes it.
    enum AnyChart {
        case bars(Chart), scatter(ScatterChart)
        var title: String { switch self { case .bars(let c): return c.title; case .scatter(let c): return c.title } }
        func svg() -> String { switch self { case .bars(let c): return c.svg(); case .scatter(let c): return c.svg() } }
    }

    static func charts(experiment: StoredExperiment, runs: [StoredRun]) -> [(String, AnyChart)] {
        let ok = runs.filter { $0.record.status == .ok }
        guard !ok.isEmpty else { return [] }
        let labeler = Labeler(ok)
        var groups: [String] = [], seriesNames: [String] = []
        for r in ok {
            let g = labeler.group(r.entry), s = labeler.series(r.entry)
            if !groups.contains(g) { groups.append(g) }
            if !seriesNames.contains(s) { seriesNames.append(s) }
        }
        func find(_ g: String, _ s: String) -> StoredRun? { ok.first { labeler.group($0.entry) == g && labeler.series($0.entry) == s } }
        let random = ok.contains { $0.entry.weights == .random }
        let reference = BandwidthReference(ok)
        let figures = Dictionary(uniqueKeysWithValues: ok.map { ($0.id, RunSummaryFigures($0, reference: reference)) })
        func interval(_ s: Statistics) -> (Double, Double) { (s.low, s.high) }
        var result: [(String, AnyChart)] = []

        if experiment.charts.contains("memory") {
            // Memory does not depend on the prompt: one bar group per configuration, each figure the
            // median over its runs' rounds, whiskers from the lowest to the highest round.
            let series: [(String, (MemoryFigures) -> Int?)] = [
                ("RSS after load", { $0.rssAfterLoad }), ("peak RSS", { $0.peakRSS }), ("RSS after unload", { $0.rssAfterUnload }),
            ]
            func rounds(_ g: String) -> [MemoryFigures] {
                ok.filter { labeler.group($0.entry) == g }.flatMap { r in
                    r.record.rounds.isEmpty ? [r.record.memory].compactMap { $0 } : r.record.rounds.filter { $0.status == .ok }.compactMap(\.memory)
                }
            }
            let weights = ChartSeries(name: "weights as stored", values: groups.map { g in
                ok.first { labeler.group($0.entry) == g }?.record.weights.map { Double($0.bytes) / 1_048_576 }
            })
            result.append(("memory.svg", .bars(Chart(
                kind: .horizontalBars, title: "Memory per configuration", categories: groups, xLabel: "MiB",
                yLabel: "configuration", series: [weights] + series.map { name, value in
                    let values = groups.map { g in rounds(g).compactMap(value).map { Double($0) / 1_048_576 } }
                    let multi = values.contains { $0.count > 1 }
                    return ChartSeries(name: name, values: values.map { Statistics($0).count > 0 ? Statistics($0).median : nil },
                                       ranges: multi ? values.map { $0.isEmpty ? nil : ($0.min()!, $0.max()!) } : [])
                }, note: "one child process per run and round; RSS from /proc/self/status; whiskers: lowest to highest round"))))
        }
        if experiment.charts.contains("time") {
            result.append(("time.svg", .bars(Chart(
                kind: .bars, title: "Time to generate the requested tokens", categories: groups, xLabel: "configuration",
                yLabel: "seconds (median, whiskers \(Statistics.whiskers(figures.values.map(\.total))))", series: seriesNames.map { s in
                    ChartSeries(name: s, values: groups.map { g in find(g, s).map { figures[$0.id]!.total.median } },
                                ranges: groups.map { g in find(g, s).map { interval(figures[$0.id]!.total) } })
                }, note: random ? "synthetic (random) weights: time and memory are real, output text is not" : nil))))
        }
        if experiment.charts.contains("throughput") {
            result.append(("throughput.svg", .bars(Chart(
                kind: .bars, title: "Decode speed", categories: groups, xLabel: "configuration",
                yLabel: "tokens/s (median, whiskers \(Statistics.whiskers(figures.values.map(\.decode))))", series: seriesNames.map { s in
                    ChartSeries(name: s, values: groups.map { g in find(g, s).map { figures[$0.id]!.decode.median } },
                                ranges: groups.map { g in find(g, s).map { interval(figures[$0.id]!.decode) } })
                }))))
        }
        if experiment.charts.contains("quality") {
            result += qualityCharts(experiment: experiment, ok: ok, labeler: labeler, figures: figures, random: random)
        }
        return result
    }

    /// Quality against bits per weight and against decode speed: perplexity where it was measured,
    /// else KL divergence from the baseline (whose own is 0). Quality is read at the first prompt.
    static func qualityCharts(experiment: StoredExperiment, ok: [StoredRun], labeler: Labeler,
                              figures: [Int64: RunSummaryFigures], random: Bool) -> [(String, AnyChart)] {
        let perplexity = ok.contains { $0.record.quality.perplexity != nil }
        guard perplexity || ok.contains(where: { $0.record.quality.klMean != nil }) else { return [] }
        let firstPrompt = ok[0].entry.prompt
        func quality(_ r: StoredRun) -> Double? {
            if perplexity { return r.record.quality.perplexity }
            return r.entry.label == experiment.baseline ? 0 : r.record.quality.klMean
        }
        // One point per configuration: its first run (first thread count) that has the figure.
        var byGroup: [(group: String, run: StoredRun, quality: Double)] = []
        for r in ok where r.entry.prompt == firstPrompt || perplexity {
            guard let q = quality(r), !byGroup.contains(where: { $0.group == labeler.group(r.entry) }) else { continue }
            byGroup.append((labeler.group(r.entry), r, q))
        }
        let yLabel = perplexity ? "perplexity (lower is better)" : "KL divergence from \(experiment.baseline ?? "the baseline") (nats/token)"
        let what = perplexity ? "Perplexity" : "KL divergence"
        let note = random ? "synthetic (random) weights: quality figures show numerical drift only" : nil
        let size = ScatterChart(
            title: "\(what) against size", xLabel: "bits per weight (scales included)", yLabel: yLabel,
            series: [ScatterSeries(name: "configurations", points: byGroup.compactMap { g in
                g.run.record.weights.map { ScatterPoint(label: g.group, x: $0.bitsPerWeight, y: g.quality) }
            })], xBetter: .lower, yBetter: .lower, note: note)
        // Speed depends on threads: one series per thread count, at the first prompt.
        let threads = ExperimentReport.unique(ok.map { String($0.entry.threads) })
        let speed = ScatterChart(
            title: "\(what) against decode speed", xLabel: "decode tokens/s (median, bars \(Statistics.whiskers(figures.values.map(\.decode))))", yLabel: yLabel,
            series: threads.map { t in
                ScatterSeries(name: "\(t) thread\(t == "1" ? "" : "s")", points: byGroup.compactMap { g in
                    guard let run = ok.first(where: { labeler.group($0.entry) == g.group && String($0.entry.threads) == t && $0.entry.prompt == firstPrompt }),
                          let d = figures[run.id]?.decode, d.count > 0 else { return nil }
                    return ScatterPoint(label: g.group, x: d.median, y: g.quality, xRange: (d.low, d.high))
                })
            }, xBetter: .higher, yBetter: .lower, note: note)
        return [("quality-size.svg", .scatter(size)), ("quality-speed.svg", .scatter(speed))]
    }

    static func context(experiment: StoredExperiment, runs: [StoredRun], databasePath: String) -> [String: Any] {
        let ok = runs.filter { $0.record.status == .ok }
        let failed = runs.filter { $0.record.status != .ok }
        let labeler = Labeler(runs)
        let first = ok.first ?? runs.first
        var c: [String: Any] = [:]
        c["name"] = experiment.name
        c["description"] = experiment.description ?? ""
        c["hasDescription"] = experiment.description != nil
        c["generatedAt"] = ISO8601DateFormatter().string(from: Date())
        c["database"] = databasePath
        c["runCount"] = runs.count
        c["okCount"] = ok.count
        c["failedCount"] = failed.count
        c["hasFailed"] = !failed.isEmpty
        c["hasRuns"] = !ok.isEmpty
        c["randomWeights"] = runs.contains { $0.entry.weights == .random }
        c["bnbInt8"] = runs.contains { $0.entry.quantization.method == "bnb-int8" }
        c["baseline"] = experiment.baseline ?? ""
        c["hasBaseline"] = experiment.baseline != nil
        c["specText"] = experiment.specText
        if let e = first?.entry {
            c["repeats"] = e.repeats
            c["warmup"] = e.warmup
            c["rounds"] = e.roundCount
            c["hasRounds"] = e.roundCount > 1
            c["roundShares"] = (0..<e.roundCount).map { String(e.repeatIndices(round: $0).count) }.joined(separator: ", ")
            c["generation"] = describeGeneration(e.generate, newTokens: first?.record.newTokensRequested)
            c["models"] = Array(Set(runs.map(\.entry.model))).sorted().joined(separator: ", ")
            c["quantizations"] = unique(runs.map(\.entry.label)).joined(separator: ", ")
            c["threads"] = unique(runs.map { String($0.entry.threads) }).joined(separator: ", ")
            c["prompts"] = unique(runs.map(\.entry.prompt)).enumerated().map { ["index": $0 + 1, "text": Format.cell($1)] }
            let (k, level) = Statistics.orderStatistic(count: e.repeats)
            c["intervalNote"] = level >= Statistics.confidence
                ? "95% confidence interval" + (k == 1 ? " (with \(e.repeats) repeats: min–max)" : "")
                : "range min–max (with \(e.repeats) repeats only a \(Format.fixed(level * 100, 0))% confidence interval; 6 repeats or more give 95%)"
            // One repeat per round and under 6 in all: ratios take the ratio of the ranges (RatioInterval).
            let single = (0..<e.roundCount).allSatisfy { e.repeatIndices(round: $0).count == 1 } && e.repeats < 6
            let n = Double(e.repeats), orderings = exp(lgamma(2 * n + 1) - 2 * lgamma(n + 1))
            c["ratioNote"] = single
                ? "the ratio of the ranges (lowest over highest to highest over lowest: with \(e.repeats) repeats against \(e.repeats), a \(Format.fixed((1 - 2 / orderings) * 100, 0))% interval)"
                : "a 95% bootstrap interval" + (e.roundCount > 1 ? " (paired by round)" : "")
        }
        if let env = first?.record.environment {
            c["environment"] = environmentContext(env)
            c["hasEnvironment"] = true
            let distinct = Set(ok.compactMap { $0.record.environment.map { "\($0.cpuModel)|\($0.gitCommit ?? "")|\($0.exprunVersion)|\($0.hostname)" } })
            c["mixedEnvironments"] = distinct.count > 1
        }
        let reference = BandwidthReference(ok)
        let figures = Dictionary(uniqueKeysWithValues: ok.map { ($0.id, RunSummaryFigures($0, reference: reference)) })
        c.merge(MachineTable.context(ok, labeler: labeler, figures: figures)) { $1 }

        var memoryRows: [[String: Any]] = [], timeRows: [[String: Any]] = [], outputRows: [[String: Any]] = []
        var storageRows: [[String: Any]] = [], storageSeen: Set<String> = []
        var calibrationRows: [[String: Any]] = []
        var memoryFindings: [String] = [], largestPeakSpread: (Double, String)?
        for r in ok {
            // What each configuration stores is the same at every thread count and prompt: once each.
            if let w = r.record.weights, storageSeen.insert(r.entry.model + "|" + labeler.group(r.entry)).inserted {
                storageRows.append([
                    "config": Format.cell(labeler.group(r.entry)),
                    "formats": w.bytesByFormat.sorted { $0.value > $1.value }
                        .map { "\($0.key) \(Format.mib($0.value)) MiB" }.joined(separator: ", "),
                    "notes": Format.cell(w.notes.isEmpty ? "–" : w.notes.joined(separator: "; ")),
                ])
            }
            if let cal = r.record.calibration {
                calibrationRows.append([
                    "run": r.id, "config": Format.cell(labeler.full(r.entry)), "method": cal.method,
                    "data": Format.cell(cal.summary), "seconds": Format.fixed(cal.seconds, 2),
                    "loadShare": Format.fixed(r.record.loadSeconds.map { cal.seconds / max($0, 1e-9) * 100 }, 0),
                    "peak": Format.mib(cal.peakRSS), "layers": cal.layers,
                ])
            }
            let base = baselineRun(for: r, among: ok, baseline: experiment.baseline)
            let m = r.record.memory, w = r.record.weights
            let s = figures[r.id]!
            let isBaseline = base?.id == r.id
            // Peak RSS of every round: the same computation in a fresh process should need the same memory.
            let peaks = r.record.rounds.filter { $0.status == .ok }.compactMap { $0.memory?.peakRSS }
            if peaks.count > 1, let lo = peaks.min(), let hi = peaks.max(), lo > 0 {
                let spread = Double(hi - lo) / Double(lo)
                if spread > largestPeakSpread?.0 ?? -1 { largestPeakSpread = (spread, labeler.full(r.entry)) }
                if spread > memoryAgreement {
                    memoryFindings.append("run \(r.id), \(Format.cell(labeler.full(r.entry))): peak RSS " + peaks.map { Format.mib($0) }.joined(separator: ", ")
                        + " MiB in rounds " + r.record.rounds.filter { $0.status == .ok && $0.memory?.peakRSS != nil }.map { String($0.round + 1) }.joined(separator: ", ")
                        + String(format: " (%.1f%% apart)", spread * 100))
                }
            }
            memoryRows.append([
                "run": r.id, "config": Format.cell(labeler.full(r.entry)),
                "weightsMiB": Format.mib(w?.bytes), "bitsPerWeight": Format.fixed(w?.bitsPerWeight, 2),
                "rssAfterLoad": Format.mib(m?.rssAfterLoad), "anonAfterLoad": Format.mib(m?.anonAfterLoad),
                "fileAfterLoad": Format.mib(m?.fileAfterLoad), "peakRSS": Format.mib(m?.peakRSS),
                "rssAfterUnload": Format.mib(m?.rssAfterUnload),
                "weightsRatio": Format.ratio(w.map { Double($0.bytes) }, base?.record.weights.map { Double($0.bytes) }),
                "peakRatio": Format.ratio(m?.peakRSS.map(Double.init), base?.record.memory?.peakRSS.map(Double.init)),
            ])
            let bs = base.map { figures[$0.id]! }
            func ratio(_ figure: (RepeatRecord) -> Double) -> String {
                guard let base, let bs else { return "–" }
                if isBaseline { return "1.00×" }
                return Format.interval(RatioInterval.of(s.values(figure), over: bs.values(figure), pairedByRound: pairable(r, base)))
            }
            let loads = r.record.rounds.filter { $0.status == .ok }.compactMap(\.loadSeconds)
            let loadStats = Statistics(loads.isEmpty ? r.record.loadSeconds.map { [$0] } ?? [] : loads)
            timeRows.append([
                "run": r.id, "config": Format.cell(labeler.full(r.entry)),
                "load": Format.median(loadStats, 3),
                "ttft": Format.median(s.ttft, 2, scale: 1000),
                "prefill": Format.median(s.prefill, 1),
                "decode": Format.median(s.decode, 1),
                "total": Format.median(s.total, 3),
                "tokens": Format.fixed(s.newTokens.median, 0),
                "decodeRatio": ratio(\.decodeTokensPerSecond),
                "totalRatio": ratio(\.totalSeconds),
                "repeats": s.repeats.setAside.isEmpty ? "\(s.repeats.kept.count)" + (s.repeats.busyKept ? " (busy)" : s.repeats.neighboursKept ? " (noisy neighbour)" : s.repeats.mixed ? " (mixed placements)" : "")
                    : "\(s.repeats.kept.count) of \(r.record.repeats.count)",
            ])
            let texts = unique(r.record.repeats.map { $0.text ?? "" })
            outputRows.append([
                "run": r.id, "config": Format.cell(labeler.full(r.entry)),
                "text": Format.cell(r.record.repeats.first?.text ?? "–"),
                "tokens": (r.record.repeats.first?.tokens ?? []).map(String.init).joined(separator: " "),
                "varies": texts.count > 1,
            ])
        }
        c["memoryFindings"] = memoryFindings
        c["hasMemoryFindings"] = !memoryFindings.isEmpty
        c["memoryAgreement"] = largestPeakSpread.map { spread, config in
            String(format: "Peak RSS agreed between rounds within %.0f%% for every run (the largest difference: %.1f%%, %@).",
                   memoryAgreement * 100, spread * 100, config)
        } ?? ""
        c["hasMemoryAgreement"] = largestPeakSpread != nil && memoryFindings.isEmpty

        // One sentence per configuration against the baseline, at the first thread count and prompt,
        // so a reader gets the answer before the tables; a ratio only where its interval shows one.
        var summary: [[String: Any]] = []
        if let firstThreads = ok.first?.entry.threads, let firstPrompt = ok.first?.entry.prompt {
            for r in ok where r.entry.threads == firstThreads && r.entry.prompt == firstPrompt && r.entry.baseline != r.entry.quantization {
                guard let base = baselineRun(for: r, among: ok, baseline: experiment.baseline) else { continue }
                let s = figures[r.id]!, b = figures[base.id]!
                let paired = pairable(r, base)
                let noisy = s.repeats.noisy || b.repeats.noisy
                let peak = RatioInterval.of(peakValues(r), over: peakValues(base), pairedByRound: paired)
                summary.append([
                    "config": labeler.group(r.entry),
                    "weights": Format.ratio(r.record.weights.map { Double($0.bytes) }, base.record.weights.map { Double($0.bytes) }),
                    "peak": sentence("peak RSS", peak, sense: .size),
                    "decode": sentence("decode speed", RatioInterval.of(s.values(\.decodeTokensPerSecond), over: b.values(\.decodeTokensPerSecond), pairedByRound: paired),
                                       sense: .speed, noisy: noisy),
                    "total": sentence("total time", RatioInterval.of(s.values(\.totalSeconds), over: b.values(\.totalSeconds), pairedByRound: paired),
                                      sense: .duration, noisy: noisy),
                    "kl": r.record.quality.klMean.map { Format.fixed($0, 6) } ?? "",
                    "hasKL": r.record.quality.klMean != nil,
                ])
            }
            c["summaryThreads"] = firstThreads
        }
        c["summaryRows"] = summary
        c["hasSummary"] = !summary.isEmpty

        // Repeats set aside because the machine was busy, and runs where too few were quiet.
        let measured = ok.flatMap(\.record.repeats)
        c["cpuMeasured"] = measured.contains { $0.cpu?.machineBusySeconds != nil }
        var noiseRows: [[String: Any]] = [], busyKept: [String] = [], mixed: [String] = []
        for r in ok {
            let split = figures[r.id]!.repeats
            if split.busyKept {
                // How busy: the least and the most that others took in its busy repeats.
                let shares = split.busy.compactMap { BusyRepeats.competition($0.0, threads: r.entry.threads) }.map { Int(($0 * 100).rounded()) }
                let taken = shares.min() == shares.max() ? "\(shares.min() ?? 0)%" : "\(shares.min() ?? 0)–\(shares.max() ?? 0)%"
                busyKept.append("run \(r.id) (\(Format.cell(labeler.full(r.entry))): \(split.busy.count) of \(r.record.repeats.count) busy, others taking \(taken) of \(r.entry.threads == 1 ? "the core it asked for" : "one core's time"))")
            }
            if split.neighboursKept {
                busyKept.append("run \(r.id) (\(Format.cell(labeler.full(r.entry)))): \(split.neighbours.count) of the \(split.kept.count) repeats at the "
                                + "\(split.placement?.rawValue ?? "") placement ran beside a noisy neighbour (memory bandwidth more than "
                                + "\(BusyRepeats.neighbourPercent)% under the placement's usual)")
            }
            if split.mixed {
                mixed.append("run \(r.id) (\(Format.cell(labeler.full(r.entry)))): \(split.elsewhere.count) of \(r.record.repeats.count) repeats at the slow placement or moving")
            }
            for (rep, why) in split.setAside {
                noiseRows.append(["run": r.id, "config": Format.cell(labeler.full(r.entry)), "round": rep.round + 1, "repeat": rep.index + 1,
                                  "decode": Format.fixed(rep.decodeTokensPerSecond, 1), "why": Format.cell(why)])
            }
        }
        c["noiseRows"] = noiseRows
        c["setAsideCount"] = noiseRows.count
        c["repeatCount"] = measured.count
        c["hasSetAside"] = !noiseRows.isEmpty
        c["setAsideRuns"] = Set(noiseRows.map { $0["run"] as! Int64 }).sorted().map { "run \($0)" }.joined(separator: ", ")
        c["busyKept"] = busyKept
        c["hasBusyKept"] = !busyKept.isEmpty
        c["mixedRuns"] = mixed
        c["busyThreshold"] = Int(BusyRepeats.threshold * 100)
        c["fastShare"] = Int(BusyRepeats.fastShare * 100)
        let elsewhere = ok.reduce(0) { $0 + (figures[$1.id]!.repeats.mixed ? 0 : figures[$1.id]!.repeats.elsewhere.count) }
        let neighbours = ok.reduce(0) { $0 + (figures[$1.id]!.repeats.neighboursKept ? 0 : figures[$1.id]!.repeats.neighbours.count) }
        let busy = noiseRows.count - elsewhere - neighbours
        c["setAsideWhy"] = [busy > 0 ? "\(busy) because other processes were using the cores" : nil,
                            elsewhere > 0 ? "\(elsewhere) because the machine ran them at another placement than the figures are for" : nil,
                            neighbours > 0 ? "\(neighbours) because another tenant of the host was using its memory bandwidth" : nil].compactMap { $0 }.joined(separator: ", ")
        c["usualShare"] = BusyRepeats.neighbourPercent
        c["neighbourMiB"] = BusyRepeats.neighbourBytes >> 20
        // Which placement of the virtual CPUs the figures are for, per thread count (BusyRepeats).
        c["placements"] = Set(ok.map(\.entry.threads)).sorted().compactMap { threads -> String? in
            let at = "\(threads) thread\(threads == 1 ? "" : "s")"
            if let s = reference.spread[threads] {
                return "at \(at) the machine's memory bandwidth was one spread, \(Format.fixed(s.low, 0))–\(Format.fixed(s.high, 0)) GB/s, not two placements: "
                    + "\(Int((s.share * 100).rounded()))% of the probes lay between \(Int(BusyRepeats.spreadBand.lowerBound * 100))% and "
                    + "\(Int(BusyRepeats.spreadBand.upperBound * 100))% of the best, where two placements leave at most \(Int(BusyRepeats.spreadShare * 100))%; "
                    + "no repeat is set aside for it, and the intervals carry the spread."
            }
            guard let shared = reference.placement(threads: threads) else { return nil }
            let runs = ok.filter { $0.entry.threads == threads }.map { figures[$0.id]!.repeats }
            guard let p = shared else {
                return "at \(at) the figures mix the machine's placements: no placement held 3 quiet repeats of every configuration, so "
                    + "the \(runs.reduce(0) { $0 + $1.elsewhere.count }) repeats at the slow placement (or moving) are kept, and the intervals carry the difference."
            }
            return "at \(at) the figures are for the machine's \(p.rawValue) placement: of those where every configuration ran in at least 3 quiet repeats, "
                + "the one that held the most; \(runs.reduce(0) { $0 + $1.elsewhere.count }) repeats at the "
                + (p == .fast ? "slow" : "fast") + " placement, or moving during the repeat, are set aside."
        }

        // The bandwidth the machine gave each run, round by round, and rounds whose figures
        // disagree beyond their own spread (the machine changed between processes).
        var bandwidthRows: [[String: Any]] = [], disagreements: [String] = []
        for r in ok {
            let probes = r.record.repeats.compactMap { rep in rep.bandwidth.map { (rep.round, $0) } }
            let perRound = Dictionary(grouping: probes, by: \.0).sorted { $0.key < $1.key }
                .map { ($0.key, RatioInterval.median($0.value.map(\.1.low))) }
            let perRoundText = perRound.map { Format.fixed($0.1, 0) }.joined(separator: ", ")
            if let first = probes.first?.1 {
                bandwidthRows.append(["run": r.id, "config": Format.cell(labeler.full(r.entry)), "mib": Format.mib(first.bytes),
                                      "rounds": perRoundText, "best": Format.fixed(reference.best(for: r), 0)])
            }
            let metrics: [(String, String, KeyPath<RepeatRecord, Double>)] = [("decode", "tok/s", \.decodeTokensPerSecond), ("prefill", "tok/s", \.prefillTokensPerSecond)]
            for (name, unit, figure) in metrics {
                guard let rounds = RoundAgreement.disagreement(figures[r.id]!.values { $0[keyPath: figure] }) else { continue }
                disagreements.append("run \(r.id), \(Format.cell(labeler.full(r.entry))): \(name) "
                    + rounds.map { "\(Format.fixed($0.low, 1))–\(Format.fixed($0.high, 1))" }.joined(separator: " | ")
                    + " \(unit) in rounds " + rounds.map { String($0.round + 1) }.joined(separator: " | ")
                    + (perRound.isEmpty ? "" : " (memory bandwidth " + perRound.map { Format.fixed($0.1, 0) }.joined(separator: " | ") + " GB/s)"))
            }
        }
        c["bandwidthRows"] = bandwidthRows
        c["hasBandwidth"] = !bandwidthRows.isEmpty
        c["disagreements"] = disagreements
        c["hasDisagreements"] = !disagreements.isEmpty

        c["memoryRows"] = memoryRows
        c["storageRows"] = storageRows
        c["calibrationRows"] = calibrationRows
        c["hasCalibration"] = !calibrationRows.isEmpty
        c["timeRows"] = timeRows
        c["outputRows"] = outputRows
        c["failedRows"] = failed.map { r -> [String: Any] in
            ["run": r.id, "config": Format.cell(labeler.full(r.entry)), "error": Format.cell(r.record.error ?? "unknown"),
             "stderrTail": (r.record.stderrTail ?? "").split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"), "hasStderr": !(r.record.stderrTail ?? "").isEmpty]
        }
        let quality = ok.contains { $0.record.quality.perplexity != nil || $0.record.quality.klMean != nil }
        c["qualityMeasured"] = quality
        c["qualityRows"] = ok.map { r -> [String: Any] in
            let q = r.record.quality
            let isBaseline = r.entry.baseline == r.entry.quantization
            let compared = q.klMean != nil
            return ["run": r.id, "config": Format.cell(labeler.full(r.entry)), "perplexity": Format.fixed(q.perplexity, 3),
                    "klMean": isBaseline ? "baseline" : Format.fixed(q.klMean, 6), "klP99": isBaseline ? "baseline" : Format.fixed(q.klP99, 6),
                    "agreement": isBaseline ? "baseline" : Format.fixed(q.topTokenAgreement.map { $0 * 100 }, 1),
                    "firstDivergence": isBaseline ? "baseline" : q.firstDivergence.map(String.init) ?? (compared && r.entry.generate.temperature == 0 ? "none" : "–")]
        }
        let scored = ok.first { $0.entry.perplexity != nil }
        c["perplexityText"] = scored?.entry.perplexity.map { "\($0.text), context \($0.context)" + ($0.chunks.map { ", \($0) chunks" } ?? ", all chunks") } ?? ""
        c["hasPerplexity"] = scored != nil
        return c
    }

    /// Peak RSS varying by more than this between a run's rounds is reported.
    static let memoryAgreement = 0.03

    /// Two runs of one experiment ran in the same rounds, so their intervals pair by round.
    static func pairable(_ a: StoredRun, _ b: StoredRun) -> Bool {
        a.experiment == b.experiment && a.entry.roundCount == b.entry.roundCount
    }

    /// Peak RSS of each successful round.
    static func peakValues(_ r: StoredRun) -> [RoundValue] {
        let rounds = r.record.rounds.filter { $0.status == .ok }
        if rounds.isEmpty { return r.record.memory?.peakRSS.map { [RoundValue(Double($0), round: 0)] } ?? [] }
        return rounds.compactMap { round in round.memory?.peakRSS.map { RoundValue(Double($0), round: round.round) } }
    }

    /// `decode speed 4.93× (4.81–5.05)`, `decode speed: no measurable difference (0.98–1.03)`,
    /// `decode speed: unstable (1.30×, 1.02–1.66 is wider than ±10%)`.
    static func sentence(_ what: String, _ r: RatioInterval?, sense: Verdict.Sense, noisy: Bool = false) -> String {
        guard let r else { return "\(what) –" }
        let range = "\(Format.fixed(r.low, 2))–\(Format.fixed(r.high, 2))"
        switch Verdict.of(r, sense: sense, noisy: noisy) {
        case .same:
            return r.low == r.high ? "\(what) the same" : "\(what): no measurable difference (\(range))"
        case .unstable:
            return noisy ? "\(what): unstable (\(Format.fixed(r.ratio, 2))×, but other processes, or the host's other tenants, kept the machine busy during most repeats)"
                : "\(what): unstable (\(Format.fixed(r.ratio, 2))×, \(range) is wider than ±\(Int(RatioInterval.unstableWidth * 100))%)"
        default:
            return r.low == r.high ? "\(what) **\(Format.fixed(r.ratio, 2))×**" : "\(what) **\(Format.fixed(r.ratio, 2))×** (\(range))"
        }
    }

    static func environmentContext(_ env: EnvironmentRecord) -> [String: Any] {
        let interesting = ["avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                           "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "neon", "asimd", "asimddp", "sve"]
        let flags = Set(env.cpuFlags.split(separator: " ").map(String.init))
        return [
            "cpuModel": env.cpuModel, "cores": env.cores,
            "memoryGiB": String(format: "%.1f", Double(env.memoryBytes) / 1_073_741_824),
            "os": env.os, "hostname": env.hostname, "exprunVersion": env.exprunVersion,
            "gitCommit": env.gitCommit ?? "unknown (not built from a git checkout)",
            "simd": interesting.filter(flags.contains).joined(separator: " "),
            "modelFiles": env.modelFiles.sorted { $0.key < $1.key }.map { ["file": $0.key, "sha256": $0.value] },
            "hasModelFiles": !env.modelFiles.isEmpty,
            "experimentSHA256": env.experimentSHA256,
        ]
    }

    static func describeGeneration(_ g: GenerateSettings, newTokens: Int?) -> String {
        var s = g.maxNewTokens.map { "max_new_tokens \($0)" } ?? "max_length \(g.maxLength ?? 0) (prompt + new tokens)"
        if let newTokens { s += ", so \(newTokens) new tokens per repeat" }
        s += g.temperature == 0 ? ", greedy" : ", temperature \(g.temperature), top_k \(g.topK), top_p \(g.topP), seed \(g.seed)"
        s += g.stopAtEOS ? ", stopping at end-of-text" : ", never stopping early (every configuration produces the same number of tokens)"
        return s
    }

    static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for v in values where seen.insert(v).inserted { out.append(v) }
        return out
    }
}

/// Finds report templates: a user's file, `$EXPRUN_TEMPLATES`, `./report-templates`, or the
/// source tree's `report-templates` beside this package.
public enum Templates {
    public static func path(_ name: String) -> String {
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["EXPRUN_TEMPLATES"], !dir.isEmpty { candidates.append(dir + "/" + name) }
        candidates.append(FileManager.default.currentDirectoryPath + "/report-templates/" + name)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.path + "/report-templates/" + name)
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates.last ?? name
    }

    static func load(_ path: String) throws -> MustacheTemplate {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunnerError.file(path, "report template not found; set EXPRUN_TEMPLATES to the folder holding report-templates/*.mustache, or give report.template")
        }
        do { return try MustacheTemplate(string: String(decoding: data, as: UTF8.self)) } catch {
            throw RunnerError.file(path, "is not a valid Mustache template: \(error)")
        }
    }
}
