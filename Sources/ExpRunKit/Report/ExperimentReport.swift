// The report of one experiment, built from the database alone: SVG charts (memory per
// configuration, time per configuration as a line, decode tokens/s with the spread of the
// repeats) and a Mustache context for the markdown (tables with medians, spreads and ratios to
// the baseline; what was measured, how often, on which machine; the generated texts).
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

    static func charts(experiment: StoredExperiment, runs: [StoredRun]) -> [(String, Chart)] {
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
        var result: [(String, Chart)] = []

        if experiment.charts.contains("memory") {
            // Memory does not depend on the prompt much; one bar group per configuration.
            let configs = ok.map { labeler.full($0.entry) }
            let series: [(String, (StoredRun) -> Int?)] = [
                ("weights as stored", { $0.record.weights?.bytes }),
                ("RSS after load", { $0.record.memory?.rssAfterLoad }),
                ("peak RSS", { $0.record.memory?.peakRSS }),
                ("RSS after unload", { $0.record.memory?.rssAfterUnload }),
            ]
            result.append(("memory.svg", Chart(
                kind: .bars, title: "Memory per configuration", categories: configs, xLabel: "configuration",
                yLabel: "MiB", series: series.map { name, value in
                    ChartSeries(name: name, values: ok.map { value($0).map { Double($0) / 1_048_576 } })
                }, note: "one child process per run; RSS read from /proc/self/status")))
        }
        if experiment.charts.contains("time") {
            result.append(("time.svg", Chart(
                kind: .lines, title: "Time to generate the requested tokens", categories: groups, xLabel: "configuration",
                yLabel: "seconds (median, whiskers min–max)", series: seriesNames.map { s in
                    ChartSeries(name: s, values: groups.map { g in find(g, s).map { RunSummaryFigures($0.record).total.median } },
                                ranges: groups.map { g in find(g, s).map { let t = RunSummaryFigures($0.record).total; return (t.min, t.max) } })
                }, note: random ? "synthetic (random) weights: time and memory are real, output text is not" : nil)))
        }
        if experiment.charts.contains("throughput") {
            result.append(("throughput.svg", Chart(
                kind: .bars, title: "Decode speed", categories: groups, xLabel: "configuration",
                yLabel: "tokens/s (median, whiskers min–max)", series: seriesNames.map { s in
                    ChartSeries(name: s, values: groups.map { g in find(g, s).map { RunSummaryFigures($0.record).decode.median } },
                                ranges: groups.map { g in find(g, s).map { let d = RunSummaryFigures($0.record).decode; return (d.min, d.max) } })
                })))
        }
        if experiment.charts.contains("quality"), ok.contains(where: { $0.record.quality.perplexity != nil }) {
            result.append(("quality.svg", Chart(
                kind: .bars, title: "Perplexity", categories: groups, xLabel: "configuration", yLabel: "perplexity (lower is better)",
                series: seriesNames.filter { s in groups.contains { find($0, s)?.record.quality.perplexity != nil } }
                    .map { s in ChartSeries(name: s, values: groups.map { g in find(g, s)?.record.quality.perplexity }) },
                note: random ? "synthetic (random) weights: perplexity is meaningless" : nil)))
        } else if experiment.charts.contains("quality"), ok.contains(where: { $0.record.quality.klMean != nil }) {
            result.append(("quality.svg", Chart(
                kind: .bars, title: "KL divergence from the baseline", categories: groups, xLabel: "configuration",
                yLabel: "mean KL per token (nats, lower is closer)",
                series: seriesNames.map { s in ChartSeries(name: s, values: groups.map { g in find(g, s)?.record.quality.klMean }) },
                note: random ? "synthetic (random) weights: shows numerical drift only" : nil)))
        }
        return result
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
        c["baseline"] = experiment.baseline ?? ""
        c["hasBaseline"] = experiment.baseline != nil
        c["specText"] = experiment.specText
        if let e = first?.entry {
            c["repeats"] = e.repeats
            c["warmup"] = e.warmup
            c["generation"] = describeGeneration(e.generate, newTokens: first?.record.newTokensRequested)
            c["models"] = Array(Set(runs.map(\.entry.model))).sorted().joined(separator: ", ")
            c["quantizations"] = unique(runs.map(\.entry.label)).joined(separator: ", ")
            c["threads"] = unique(runs.map { String($0.entry.threads) }).joined(separator: ", ")
            c["prompts"] = unique(runs.map(\.entry.prompt)).enumerated().map { ["index": $0 + 1, "text": Format.cell($1)] }
        }
        if let env = first?.record.environment {
            c["environment"] = environmentContext(env)
            c["hasEnvironment"] = true
            let distinct = Set(ok.compactMap { $0.record.environment.map { "\($0.cpuModel)|\($0.gitCommit ?? "")|\($0.exprunVersion)|\($0.hostname)" } })
            c["mixedEnvironments"] = distinct.count > 1
        }

        var memoryRows: [[String: Any]] = [], timeRows: [[String: Any]] = [], outputRows: [[String: Any]] = []
        var storageRows: [[String: Any]] = [], storageSeen: Set<String> = []
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
            let base = baselineRun(for: r, among: ok, baseline: experiment.baseline)
            let m = r.record.memory, w = r.record.weights
            let s = RunSummaryFigures(r.record)
            let bs = base.map { RunSummaryFigures($0.record) }
            memoryRows.append([
                "run": r.id, "config": Format.cell(labeler.full(r.entry)),
                "weightsMiB": Format.mib(w?.bytes), "bitsPerWeight": Format.fixed(w?.bitsPerWeight, 2),
                "rssAfterLoad": Format.mib(m?.rssAfterLoad), "anonAfterLoad": Format.mib(m?.anonAfterLoad),
                "fileAfterLoad": Format.mib(m?.fileAfterLoad), "peakRSS": Format.mib(m?.peakRSS),
                "rssAfterUnload": Format.mib(m?.rssAfterUnload),
                "weightsRatio": Format.ratio(w.map { Double($0.bytes) }, base?.record.weights.map { Double($0.bytes) }),
                "peakRatio": Format.ratio(m?.peakRSS.map(Double.init), base?.record.memory?.peakRSS.map(Double.init)),
            ])
            timeRows.append([
                "run": r.id, "config": Format.cell(labeler.full(r.entry)),
                "load": Format.fixed(r.record.loadSeconds, 3),
                "ttft": Format.spread(s.ttft, 2, scale: 1000),
                "prefill": Format.spread(s.prefill, 1),
                "decode": Format.spread(s.decode, 1),
                "total": Format.spread(s.total, 3),
                "tokens": Format.fixed(s.newTokens.median, 0),
                "decodeRatio": Format.ratio(s.decode.median, bs?.decode.median),
                "totalRatio": Format.ratio(s.total.median, bs?.total.median),
                "repeats": r.record.repeats.count,
            ])
            let texts = unique(r.record.repeats.map { $0.text ?? "" })
            outputRows.append([
                "run": r.id, "config": Format.cell(labeler.full(r.entry)),
                "text": Format.cell(r.record.repeats.first?.text ?? "–"),
                "tokens": (r.record.repeats.first?.tokens ?? []).map(String.init).joined(separator: " "),
                "varies": texts.count > 1,
            ])
        }
        // One sentence per configuration against the baseline, at the first thread count and prompt,
        // so a reader gets the answer before the tables.
        var summary: [[String: Any]] = []
        if let firstThreads = ok.first?.entry.threads, let firstPrompt = ok.first?.entry.prompt {
            for r in ok where r.entry.threads == firstThreads && r.entry.prompt == firstPrompt && r.entry.baseline != r.entry.quantization {
                guard let base = baselineRun(for: r, among: ok, baseline: experiment.baseline) else { continue }
                let s = RunSummaryFigures(r.record), b = RunSummaryFigures(base.record)
                summary.append([
                    "config": labeler.group(r.entry),
                    "weights": Format.ratio(r.record.weights.map { Double($0.bytes) }, base.record.weights.map { Double($0.bytes) }),
                    "peak": Format.ratio(r.record.memory?.peakRSS.map(Double.init), base.record.memory?.peakRSS.map(Double.init)),
                    "decode": Format.ratio(s.decode.median, b.decode.median),
                    "total": Format.ratio(s.total.median, b.total.median),
                    "kl": r.record.quality.klMean.map { Format.fixed($0, 6) } ?? "",
                    "hasKL": r.record.quality.klMean != nil,
                ])
            }
            c["summaryThreads"] = firstThreads
        }
        c["summaryRows"] = summary
        c["hasSummary"] = !summary.isEmpty
        c["memoryRows"] = memoryRows
        c["storageRows"] = storageRows
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
