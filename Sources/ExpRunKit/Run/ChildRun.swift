// The child side of a run (`exprun run-one`), one round of it: load and quantize the model, warm
// up, generate the round's share of the repeats (noting who else had the CPU meanwhile), measure
// memory at each step, drop the model and measure again, and print one JSON record on stdout. It
// runs in a fresh process so that its memory figures are its own. Quality (perplexity, KL against
// the baseline) does not change from round to round: the first round measures it.
import Foundation
import InferenceCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum ChildRun {
    /// Runs `entry` and returns its record; errors become a failed record, so the parent always
    /// gets one JSON object when the child lives to the end.
    public static func execute(_ entry: PlanEntry, progress: (String) -> Void) -> RunRecord {
        let started = Date()
        var record = RunRecord(key: entry.key, status: .ok, startedAt: started, finishedAt: started)
        record.round = entry.round
        do {
            try measure(entry, into: &record, progress: progress)
        } catch {
            record.status = .failed
            record.error = "\(error)"
        }
        record.finishedAt = Date()
        return record
    }

    static func measure(_ entry: PlanEntry, into record: inout RunRecord, progress: (String) -> Void) throws {
        if let encoder = entry.encoder { return try EncoderRun.measure(entry, encoder, into: &record, progress: progress) }
        var memory = MemoryFigures(source: MemoryProbe.sample().source)
        memory.rssBeforeLoad = MemoryProbe.sample().rss
        // The model lives only inside this call: when it returns, the model is gone. Its logits for
        // the KL comparison wait in a file, so they do not count as memory still held.
        let logitsFile = try ScratchFile("logits")
        let sequence = try loadAndGenerate(entry, into: &record, memory: &memory, logitsFile: logitsFile, progress: progress)
        MemoryProbe.releaseFreedMemory()
        let afterUnload = MemoryProbe.sample()
        memory.rssAfterUnload = afterUnload.rss; memory.anonAfterUnload = afterUnload.anon; memory.fileAfterUnload = afterUnload.file
        record.memory = memory
        if let sequence, let baseline = entry.baseline, let reference = entry.loaderReference, measuresQuality(entry) {
            try compareWithBaseline(entry, baseline: baseline, reference: reference, sequence: sequence,
                                    logitsFile: logitsFile, into: &record, progress: progress)
        }
    }

    /// Loads the baseline configuration of the same model and measures how far this run's
    /// next-token distributions are from it on this run's own prompt + output (KL divergence,
    /// top-token agreement), and where greedy output first differs.
    static func compareWithBaseline(_ entry: PlanEntry, baseline: QuantizationConfig, reference: String, sequence: [Int],
                                    logitsFile: ScratchFile, into record: inout RunRecord, progress: (String) -> Void) throws {
        progress("comparing with the baseline \(baseline)")
        let model = try ModelLoader.load(reference, quantization: baseline, threads: entry.threads)
        let base = try model.forward(sequence, cache: model.makeCache(capacity: sequence.count), allLogits: true)
        let data = try logitsFile.read()
        let candidate = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let agreement = try LogitComparison.compare(baseline: base, candidate: candidate, vocab: model.vocabularySize)
        record.quality.klMean = agreement.meanKL
        record.quality.klP99 = agreement.p99KL
        record.quality.topTokenAgreement = agreement.topTokenAgreement
        if entry.generate.temperature == 0, let prompt = record.promptTokens, let mine = record.repeats.first?.tokens {
            let g = entry.generate
            let options = GenerationOptions(maxNewTokens: mine.count, stopAtEOS: g.stopAtEOS, temperature: 0, seed: g.seed)
            let theirs = try generate(model, prompt: prompt, options: options).tokens
            record.quality.firstDivergence = zip(mine, theirs).enumerated().first { $1.0 != $1.1 }?.offset
                ?? (mine.count == theirs.count ? nil : min(mine.count, theirs.count))
        }
    }

    /// Returns the token sequence (prompt + first repeat's output) whose logits went to
    /// `logitsFile`, when a baseline comparison is due.
    static func loadAndGenerate(_ entry: PlanEntry, into record: inout RunRecord, memory: inout MemoryFigures,
                                logitsFile: ScratchFile, progress: (String) -> Void) throws -> [Int]? {
        guard let reference = entry.loaderReference else { throw RunnerError.invalid("plan entry \(entry.shortKey) has no resolved model reference") }
        progress("loading \(entry.model) as \(entry.label)")
        let loadStart = DispatchTime.now()
        var calibration: CalibrationReport?
        let loaded = try ModelLoader.load(reference, quantization: entry.quantization, threads: entry.threads,
                                          calibrated: { calibration = $0 })
        record.loadSeconds = seconds(since: loadStart)
        if let calibration { record.calibration = CalibrationRecord(calibration, peakRSS: MemoryProbe.sample().peak) }
        let afterLoad = MemoryProbe.sample()
        memory.rssAfterLoad = afterLoad.rss; memory.anonAfterLoad = afterLoad.anon; memory.fileAfterLoad = afterLoad.file
        record.weights = WeightSummary(loaded.weights)
        // Stored even if generation fails below, so a failed run still shows how far it got.
        record.memory = memory

        guard let tokenizer = loaded.tokenizer else {
            throw RunnerError.model(entry.model, "has no tokenizer (vocab.json + merges.txt or tokenizer.json), so the prompt cannot be encoded")
        }
        let prompt = tokenizer.encodePrompt(entry.prompt)
        guard !prompt.isEmpty else { throw RunnerError.invalid("prompt \"\(entry.prompt)\" encodes to no tokens") }
        record.promptTokens = prompt
        guard let newTokens = entry.generate.newTokens(promptTokens: prompt.count) else {
            throw RunnerError.invalid("generate.max_length \(entry.generate.maxLength ?? 0) leaves no room for new tokens after the prompt's \(prompt.count) tokens; raise it or use max_new_tokens")
        }
        guard prompt.count + newTokens <= loaded.contextLength else {
            throw RunnerError.invalid("prompt (\(prompt.count) tokens) + \(newTokens) new tokens exceed the model's context of \(loaded.contextLength) tokens")
        }
        record.newTokensRequested = newTokens
        let g = entry.generate
        let options = GenerationOptions(maxNewTokens: newTokens, stopAtEOS: g.stopAtEOS, temperature: Float(g.temperature),
                                        topK: g.topK, topP: Float(g.topP), seed: g.seed)

        for i in 0..<entry.warmup {
            progress("warm-up \(i + 1)/\(entry.warmup)")
            _ = try generate(loaded, prompt: prompt, options: options)
        }
        let round = entry.round ?? 0
        for i in entry.repeatIndices(round: round) {
            // The bandwidth probes stand outside the CPU window, which times the repeat alone.
            let bandwidthBefore = BandwidthProbe.measure(loaded)
            let before = CPUProbe.sample()
            let r = try generate(loaded, prompt: prompt, options: options)
            let cpu = CPUProbe.usage(from: before, to: CPUProbe.sample())
            let bandwidth = bandwidthBefore.flatMap { b in BandwidthProbe.measure(loaded).map {
                RepeatBandwidth(before: b.gigabytesPerSecond, after: $0.gigabytesPerSecond, bytes: $0.bytes / max($0.passes, 1))
            } }
            record.repeats.append(RepeatRecord(
                index: i, round: round, prefillSeconds: r.prefillSeconds, prefillTokensPerSecond: r.prefillTokensPerSecond,
                decodeTokensPerSecond: r.decodeTokensPerSecond, timeToFirstToken: r.timeToFirstToken,
                totalSeconds: r.totalSeconds, newTokens: r.tokens.count, tokens: r.tokens,
                text: try? tokenizer.decode(r.tokens), rssAfter: MemoryProbe.sample().rss, cpu: cpu, bandwidth: bandwidth))
            progress("repeat \(i + 1)/\(entry.repeats): " + String(format: "%.1f", r.decodeTokensPerSecond) + " tok/s decode"
                     + (bandwidth.map { String(format: ", memory %.1f / %.1f GB/s before / after", $0.before, $0.after) } ?? ""))
        }
        let afterGenerate = MemoryProbe.sample()
        memory.rssAfterGenerate = afterGenerate.rss
        memory.peakRSS = afterGenerate.peak
        record.memory = memory

        // Quality comes after the memory figures: its logits must not count as the run's peak.
        guard measuresQuality(entry) else { return nil }
        if let p = entry.perplexity {
            progress("perplexity on \(p.text)")
            let tokens = Perplexity.tokenize(try EvaluationText.load(p.text), tokenizer: tokenizer)
            let result = try Perplexity.evaluate(loaded, tokens: tokens, context: p.context, chunks: p.chunks)
            record.quality.perplexity = result.perplexity
        }
        guard entry.baseline != nil, entry.baseline != entry.quantization, let output = record.repeats.first?.tokens else { return nil }
        let sequence = prompt + output
        let logits = try loaded.forward(sequence, cache: loaded.makeCache(capacity: sequence.count), allLogits: true)
        try logits.withUnsafeBytes { try logitsFile.write($0) }
        return sequence
    }

    /// Quality is the same in every round: the first one measures it.
    static func measuresQuality(_ entry: PlanEntry) -> Bool { (entry.round ?? 0) == 0 }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// Ends this process when its parent dies (a SIGKILLed `exprun`), so no orphan keeps a core busy.
    public static func exitWithParent() {
        let parent = getppid()
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                if getppid() != parent { _exit(137) }
            }
        }
    }
}
