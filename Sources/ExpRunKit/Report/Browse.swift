// Plain-text views of the database for the terminal: `exprun list` (experiments and runs, newest
// first) and `exprun show RUN` (everything stored about one run).
import Foundation

public enum Browse {
    public static func list(store: Store, experiment: String?, limit: Int) throws -> String {
        var lines: [String] = []
        let experiments = try store.experiments()
        if experiments.isEmpty { return "no experiments in \(store.path) yet" }
        if experiment == nil {
            lines.append("experiments (newest first):")
            for e in experiments {
                lines.append("  \(e.name)  \(e.runCount) run(s)\(e.failedCount > 0 ? ", \(e.failedCount) failed" : "")  updated \(e.updatedAt)  [\(e.specPath)]")
            }
            lines.append("")
        }
        let runs = try store.runs(experiment: experiment).sorted { $0.record.finishedAt > $1.record.finishedAt || ($0.record.finishedAt == $1.record.finishedAt && $0.id > $1.id) }
        lines.append("runs (newest first\(runs.count > limit ? ", \(limit) of \(runs.count)" : "")):")
        let iso = ISO8601DateFormatter()
        let reference = BandwidthReference(runs)
        for r in runs.prefix(limit) {
            let s = RunSummaryFigures(r, reference: reference)
            let figures = r.record.status == .ok
                ? (r.record.encoder.map(EncoderRun.summary) ?? "decode \(Format.fixed(s.decode.median, 1)) tok/s") + ", peak RSS \(Format.mib(r.record.memory?.peakRSS)) MiB"
                : "FAILED: \(r.record.error ?? "")"
            lines.append("  \(r.id)  \(iso.string(from: r.record.finishedAt))  \(r.experiment)  \(r.entry.model) \(r.entry.label) threads=\(r.entry.threads)  \(figures)")
        }
        return lines.joined(separator: "\n")
    }

    public static func show(store: Store, id: Int64) throws -> String {
        guard let r = try store.run(id: id) else { throw RunnerError.invalid("no run with id \(id) in \(store.path); `exprun list` shows them") }
        let e = r.entry, rec = r.record
        var lines: [String] = []
        lines.append("run \(r.id) of experiment \(r.experiment): \(rec.status.rawValue)")
        lines.append("  key          \(e.key)")
        lines.append("  model        \(e.model) (\(e.weights.rawValue) weights; loaded as \(e.loaderReference ?? "?"))")
        lines.append("  quantization \(e.label)")
        lines.append("  threads      \(e.threads)")
        if let plan = e.encoder {
            lines += EncoderReport.showLines(plan, rec.encoder, repeats: e.repeats, warmup: e.warmup, rounds: e.roundCount, threads: e.threads)
        } else {
            lines.append("  prompt       \(Plan.quote(e.prompt))  tokens \(rec.promptTokens.map { $0.map(String.init).joined(separator: " ") } ?? "–")")
            lines.append("  generation   \(ExperimentReport.describeGeneration(e.generate, newTokens: rec.newTokensRequested))")
            lines.append("  repeats      \(rec.repeats.count) of \(e.repeats) (after \(e.warmup) warm-up" + (e.roundCount > 1 ? " in each of \(e.roundCount) rounds)" : ")"))
        }
        lines.append("  started      \(rec.startedAt)  finished \(rec.finishedAt)")
        if e.roundCount > 1 || rec.rounds.count > 1 {
            for round in rec.rounds {
                lines.append("  round \(round.round + 1)      \(round.status.rawValue), load \(Format.fixed(round.loadSeconds, 3)) s, peak RSS \(Format.mib(round.memory?.peakRSS)) MiB, "
                    + "after load \(Format.mib(round.memory?.rssAfterLoad)) MiB, after unload \(Format.mib(round.memory?.rssAfterUnload)) MiB"
                    + (round.error.map { ": \($0)" } ?? ""))
            }
        }
        if let error = rec.error { lines.append("  error        \(error)") }
        if let tail = rec.stderrTail, !tail.isEmpty { lines.append("  stderr tail:"); lines += tail.split(separator: "\n").map { "    " + $0 } }
        if let w = rec.weights {
            lines.append("  weights      \(Format.mib(w.bytes)) MiB, \(w.parameters) parameters, \(Format.fixed(w.bitsPerWeight, 3)) bits/weight")
            for (format, bytes) in w.bytesByFormat.sorted(by: { $0.key < $1.key }) { lines.append("               \(format): \(Format.mib(bytes)) MiB") }
        }
        if let m = rec.memory {
            lines.append("  memory (\(m.source), MiB): before load \(Format.mib(m.rssBeforeLoad)), after load \(Format.mib(m.rssAfterLoad)) "
                + "(anon \(Format.mib(m.anonAfterLoad)), file \(Format.mib(m.fileAfterLoad))), peak \(Format.mib(m.peakRSS)), "
                + "after generating \(Format.mib(m.rssAfterGenerate)), after unload \(Format.mib(m.rssAfterUnload)) "
                + "(anon \(Format.mib(m.anonAfterUnload)), file \(Format.mib(m.fileAfterUnload)))")
            // What loading and running added at the peak (tokenizer, buffers, KV cache included),
            // against the weights as stored: the memory overhead of a format, one number.
            if let peak = m.peakRSS, let before = m.rssBeforeLoad, let w = rec.weights, w.bytes > 0 {
                lines.append("  peak added   \(Format.mib(peak - before)) MiB over before load = \(Format.ratio(Double(peak - before), Double(w.bytes))) the weights")
            }
        }
        if let load = rec.loadSeconds { lines.append("  load         \(Format.fixed(load, 3)) s") }
        if let c = rec.calibration {
            lines.append("  calibration  \(c.method): \(c.summary); \(Format.fixed(c.seconds, 2)) s (inside load), peak RSS \(Format.mib(c.peakRSS)) MiB, \(c.layers) layers"
                + (c.maxDampPercent.map { ", damping up to \(Format.fixed($0, 4))" } ?? ""))
        }
        // Judged as the experiment's report judges it: against the best bandwidth of its runs.
        let split = BusyRepeats.split(rec.repeats, threads: e.threads, judge: BandwidthReference(try store.runs(experiment: r.experiment)).judge(for: r))
        for rep in rec.repeats {
            var cpu = ""
            if let u = rep.cpu, rep.totalSeconds > 0 {
                cpu = String(format: "; CPU: own %.2f, others %.2f, steal %.2f cores", u.ownSeconds / rep.totalSeconds,
                             max(0, (u.machineBusySeconds ?? u.ownSeconds) - u.ownSeconds) / rep.totalSeconds, (u.stealSeconds ?? 0) / rep.totalSeconds)
            }
            if let b = rep.bandwidth { cpu += String(format: "; memory %.1f / %.1f GB/s before / after", b.before, b.after) }
            let busy = split.busy.first { $0.0.index == rep.index }.map { (split.busyKept ? " [busy, kept: too few quiet repeats] " : " [set aside] ") + $0.1 }
                ?? split.elsewhere.first { $0.0.index == rep.index }.map { (split.mixed ? " [kept: no placement shared by every configuration] " : " [set aside] ") + $0.1 }
                ?? split.neighbours.first { $0.0.index == rep.index }.map { (split.neighboursKept ? " [kept: too few others at this placement] " : " [set aside] ") + $0.1 } ?? ""
            lines.append("  repeat \(rep.index)" + (e.roundCount > 1 ? " (round \(rep.round + 1))" : "") + ": prefill \(Format.fixed(rep.prefillTokensPerSecond, 1)) tok/s, decode \(Format.fixed(rep.decodeTokensPerSecond, 1)) tok/s, "
                + "first token \(Format.ms(rep.timeToFirstToken)) ms, total \(Format.fixed(rep.totalSeconds, 4)) s, \(rep.newTokens) tokens" + cpu + busy)
        }
        if let first = rec.repeats.first {
            lines.append("  text         \(Plan.quote(first.text ?? "–").replacingOccurrences(of: "...", with: "…"))")
            lines.append("  token ids    \(first.tokens.map(String.init).joined(separator: " "))")
        }
        let q = rec.quality
        if e.encoder == nil { lines.append("  quality      perplexity \(Format.fixed(q.perplexity, 3)), KL mean \(Format.fixed(q.klMean, 6)), p99 \(Format.fixed(q.klP99, 6)), "
            + "top-token agreement \(Format.fixed(q.topTokenAgreement.map { $0 * 100 }, 1))%, first divergence \(q.firstDivergence.map(String.init) ?? "–") "
            + "(– = not measured or none; against \(e.baseline?.description ?? "no baseline"))") }
        if let env = rec.environment {
            lines.append("  machine      \(env.cpuModel), \(env.cores) cores, \(String(format: "%.1f", Double(env.memoryBytes) / 1_073_741_824)) GiB, \(env.os), host \(env.hostname)")
            if let job = env.slurmJob { lines.append("  slurm        job \(job) on node \(env.slurmNode ?? "unknown")") }
            lines.append("  build        exprun \(env.exprunVersion), commit \(env.gitCommit ?? "unknown")")
            lines.append("  experiment   sha256 \(env.experimentSHA256)")
            for (file, sha) in env.modelFiles.sorted(by: { $0.key < $1.key }) { lines.append("  model file   \(file) sha256 \(sha)") }
        }
        return lines.joined(separator: "\n")
    }
}
