// The child side of an encoder run (a plan entry with `encoder`), one round of it: load and
// quantize the sentence encoder, then for each batch size warm up and time the round's share of
// the repeats (each encodes the timed texts: tokenizing, packed forward passes, pooling, as
// SentenceTransformer.encode does), take memory as for decoders, and, in round 0 of the runs that
// measure quality, embed every text, drop the model, load the baseline configuration and embed them
// again: cosine of each text's two embeddings (mean, min) and retrieval agreement, the recall@10 of
// each text's nearest neighbours under this configuration against those under the baseline.
import Foundation
import InferenceCore

/// One timed encode of the timed texts at one batch size.
public struct EncoderRepeat: Sendable, Codable, Equatable {
    /// Numbered across the run's rounds, as decoder repeats are (PlanEntry.repeatIndices).
    public var index: Int
    public var round: Int
    public var seconds: Double
    public var texts: Int
    public var tokens: Int
    public var batches: Int
    public var textsPerSecond: Double { Double(texts) / seconds }
    public var tokensPerSecond: Double { Double(tokens) / seconds }
    /// Mean time of one batch (one forward pass with its tokenizing and pooling).
    public var secondsPerBatch: Double { seconds / Double(max(batches, 1)) }
    /// Who had the CPU meanwhile (CPUProbe).
    public var cpu: CPUUsage?
}

public struct EncoderBatchFigures: Sendable, Codable, Equatable {
    public var batchSize: Int
    public var repeats: [EncoderRepeat]

    /// The repeats the figures use, as BusyRepeats judges a decoder's: those during which others
    /// had the cores (`busy`, with why) are left out when enough quiet ones remain, else all are
    /// kept (`busyKept`).
    public func split(threads: Int) -> (kept: [EncoderRepeat], busy: [(EncoderRepeat, String)], busyKept: Bool) {
        // BusyRepeats reads a repeat's number, CPU figures and wall time: an encode's time is all of it.
        let judged = BusyRepeats.split(repeats.map {
            RepeatRecord(index: $0.index, round: $0.round, prefillSeconds: $0.seconds, prefillTokensPerSecond: $0.tokensPerSecond,
                         decodeTokensPerSecond: 0, timeToFirstToken: $0.seconds, totalSeconds: $0.seconds, newTokens: 0, tokens: [],
                         text: nil, rssAfter: nil, cpu: $0.cpu)
        }, threads: threads)
        let kept = Set(judged.kept.map(\.index))
        let byIndex = Dictionary(repeats.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        return (repeats.filter { kept.contains($0.index) }, judged.busy.compactMap { r, why in byIndex[r.index].map { ($0, why) } }, judged.busyKept)
    }

    /// Texts/s of the kept repeats with their rounds, for ratio intervals.
    func textsPerSecond(threads: Int) -> [RoundValue] {
        split(threads: threads).kept.map { RoundValue($0.textsPerSecond, round: $0.round) }
    }
}

public struct EncoderFigures: Sendable, Codable, Equatable {
    /// Texts of the experiment (all of them are scored for quality) and the timed ones.
    public var texts: Int
    public var timedTexts: Int
    /// Tokens the timed texts make ([CLS] and [SEP] included, after truncation).
    public var timedTokens: Int
    /// Texts cut to the model's max_seq_length, and that length.
    public var truncated: Int
    public var maxSequenceLength: Int
    public var dimension: Int
    public var batches: [EncoderBatchFigures] = []
    /// Against the baseline configuration's embeddings of every text; nil when not measured.
    public var cosineMean: Double?
    public var cosineMin: Double?
    /// Mean over texts of |top-k(this) ∩ top-k(baseline)| / k, neighbours by cosine among the other texts.
    public var recall: Double?
    public var recallK: Int?

    /// A run's rounds as one: every round's repeats per batch size, quality from the round that measured it.
    static func merged(_ rounds: [EncoderFigures]) -> EncoderFigures? {
        guard var all = rounds.first else { return nil }
        for f in rounds.dropFirst() {
            for b in f.batches {
                if let i = all.batches.firstIndex(where: { $0.batchSize == b.batchSize }) { all.batches[i].repeats += b.repeats } else { all.batches.append(b) }
            }
            if all.cosineMean == nil, f.cosineMean != nil {
                all.cosineMean = f.cosineMean; all.cosineMin = f.cosineMin; all.recall = f.recall; all.recallK = f.recallK
            }
        }
        for i in all.batches.indices { all.batches[i].repeats.sort { $0.index < $1.index } }
        return all
    }
}

public enum EncoderRun {
    static func measure(_ entry: PlanEntry, _ plan: EncoderPlan, into record: inout RunRecord, progress: (String) -> Void) throws {
        guard let reference = entry.loaderReference else { throw RunnerError.invalid("plan entry \(entry.shortKey) has no resolved model reference") }
        var memory = MemoryFigures(source: MemoryProbe.sample().source)
        memory.rssBeforeLoad = MemoryProbe.sample().rss
        let texts = try plan.loadTexts()
        guard !texts.isEmpty else { throw RunnerError.invalid("the experiment's texts are empty: nothing to embed") }
        let timed = Array(texts.prefix(plan.timedTexts ?? min(texts.count, 64)))
        let measuresQuality = plan.quality && ChildRun.measuresQuality(entry) && entry.baseline != nil && entry.baseline != entry.quantization
        let embeddingsFile = try ScratchFile("embeddings")

        // The model lives only inside this closure; its embeddings for the quality comparison wait in a file.
        var figures: EncoderFigures = try {
            progress("loading \(entry.model) as \(entry.label)")
            let loadStart = DispatchTime.now()
            let encoder = try loadEncoder(reference, entry.quantization, threads: entry.threads, model: entry.model)
            record.loadSeconds = ChildRun.seconds(since: loadStart)
            let afterLoad = MemoryProbe.sample()
            memory.rssAfterLoad = afterLoad.rss; memory.anonAfterLoad = afterLoad.anon; memory.fileAfterLoad = afterLoad.file
            record.weights = WeightSummary(encoder.weights)
            record.memory = memory

            let tokens = timed.map { encoder.tokenize($0).ids.count }
            var f = EncoderFigures(texts: texts.count, timedTexts: timed.count, timedTokens: tokens.reduce(0, +),
                                   truncated: texts.filter { encoder.tokenize($0).truncated }.count,
                                   maxSequenceLength: encoder.maxSequenceLength, dimension: encoder.dimension)
            for size in plan.batchSizes {
                for i in 0..<entry.warmup {
                    progress("batch \(size): warm-up \(i + 1)/\(entry.warmup)")
                    _ = try encoder.encode(timed, batchSize: size)
                }
                var batch = EncoderBatchFigures(batchSize: size, repeats: [])
                let round = entry.round ?? 0
                for i in entry.repeatIndices(round: round) {
                    let before = CPUProbe.sample()
                    let start = DispatchTime.now()
                    let e = try encoder.encode(timed, batchSize: size)
                    let seconds = ChildRun.seconds(since: start)
                    let r = EncoderRepeat(index: i, round: round, seconds: seconds, texts: e.count, tokens: e.tokenCounts.reduce(0, +),
                                          batches: (timed.count + size - 1) / size, cpu: CPUProbe.usage(from: before, to: CPUProbe.sample()))
                    batch.repeats.append(r)
                    progress("batch \(size): repeat \(i + 1)/\(entry.repeats): " + String(format: "%.1f texts/s, %.0f tokens/s", r.textsPerSecond, r.tokensPerSecond))
                }
                f.batches.append(batch)
            }
            let after = MemoryProbe.sample()
            memory.rssAfterGenerate = after.rss
            memory.peakRSS = after.peak
            record.memory = memory
            // Quality comes after the memory figures: embedding every text must not count as the run's peak.
            if measuresQuality {
                progress("embedding \(texts.count) texts for the comparison with \(entry.baseline!)")
                let e = try encoder.encode(texts, batchSize: plan.batchSizes.max() ?? 32)
                try e.values.withUnsafeBytes { try embeddingsFile.write($0) }
            }
            return f
        }()
        MemoryProbe.releaseFreedMemory()
        let afterUnload = MemoryProbe.sample()
        memory.rssAfterUnload = afterUnload.rss; memory.anonAfterUnload = afterUnload.anon; memory.fileAfterUnload = afterUnload.file
        record.memory = memory

        if measuresQuality, let baseline = entry.baseline {
            progress("loading the baseline \(baseline)")
            let base = try loadEncoder(reference, baseline, threads: entry.threads, model: entry.model)
            let reference = try base.encode(texts, batchSize: plan.batchSizes.max() ?? 32)
            let data = try embeddingsFile.read()
            let mine = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let q = EmbeddingAgreement.compare(mine, reference.values, count: texts.count, dimension: reference.dimension)
            figures.cosineMean = q.cosineMean
            figures.cosineMin = q.cosineMin
            figures.recall = q.recall
            figures.recallK = q.k
        }
        record.encoder = figures
    }

    static func loadEncoder(_ reference: String, _ quantization: QuantizationConfig, threads: Int, model: String) throws -> SentenceEncoder {
        guard !reference.hasPrefix("random:") else {
            throw RunnerError.model(model, "random weights are not available for encoders; give the model's folder and `weights: pretrained`")
        }
        guard SentenceEncoder.isEncoder(reference) else {
            throw RunnerError.model(model, "is not a sentence encoder (a folder whose config.json says model_type bert); `texts:` / `corpus:` need one")
        }
        return try SentenceEncoder.load(reference, quantization: quantization, threads: threads)
    }

    /// One line for the progress display.
    static func summary(_ f: EncoderFigures) -> String {
        let parts = f.batches.map { b in
            String(format: "batch %d: %.1f texts/s", b.batchSize, Statistics(b.repeats.map(\.textsPerSecond)).median)
        }
        var s = parts.joined(separator: ", ")
        if let c = f.cosineMean, let r = f.recall { s += String(format: "; cosine to baseline %.4f, recall@%d %.3f", c, f.recallK ?? 10, r) }
        return s
    }
}

/// How far a configuration's embeddings are from the baseline's, per text and as a search index.
public enum EmbeddingAgreement {
    public struct Result: Sendable { public var cosineMean, cosineMin, recall: Double; public var k: Int }

    /// `a`, `b`: `count × dimension`. Cosine of each text's two vectors; and for each text its `k`
    /// nearest other texts by cosine under `a` and under `b` (k = min(10, count − 1)), the share of
    /// the baseline's (`b`) that `a` also finds, averaged.
    public static func compare(_ a: [Float], _ b: [Float], count n: Int, dimension d: Int, k wanted: Int = 10) -> Result {
        precondition(a.count == n * d && b.count == n * d)
        func normalized(_ v: [Float]) -> [Float] {
            var out = v
            for i in 0..<n {
                var s: Float = 0
                for j in 0..<d { s += v[i * d + j] * v[i * d + j] }
                let inv = 1 / max(s.squareRoot(), 1e-12)
                for j in 0..<d { out[i * d + j] *= inv }
            }
            return out
        }
        let na = normalized(a), nb = normalized(b)
        var cosines: [Double] = []
        for i in 0..<n {
            var s: Float = 0
            for j in 0..<d { s += na[i * d + j] * nb[i * d + j] }
            cosines.append(Double(s))
        }
        let k = min(wanted, n - 1)
        var recall = 1.0
        if k > 0 {
            func neighbours(_ v: [Float]) -> [Set<Int>] {
                (0..<n).map { i in
                    var scored: [(Float, Int)] = []
                    for j in 0..<n where j != i {
                        var s: Float = 0
                        for t in 0..<d { s += v[i * d + t] * v[j * d + t] }
                        scored.append((s, j))
                    }
                    scored.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
                    return Set(scored.prefix(k).map(\.1))
                }
            }
            let mine = neighbours(na), theirs = neighbours(nb)
            recall = (0..<n).reduce(0.0) { $0 + Double(mine[$1].intersection(theirs[$1]).count) / Double(k) } / Double(n)
        }
        return Result(cosineMean: cosines.reduce(0, +) / Double(max(n, 1)), cosineMin: cosines.min() ?? 1, recall: recall, k: k)
    }
}
