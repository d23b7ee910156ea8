// The child side of an encoder run (a plan entry with `encoder`): load and quantize the sentence
// encoder, then for each batch size warm up and time the repeats (each encodes the timed texts:
// tokenizing, packed forward passes, pooling, as SentenceTransformer.encode does), take memory as
// for decoders, and, in the runs that measure quality, embed every text, drop the model, load the
// baseline configuration and embed them again: cosine of each text's two embeddings (mean, min)
// and retrieval agreement, the recall@10 of each text's nearest neighbours under this
// configuration against those under the baseline.
import Foundation
import InferenceCore

/// One timed encode of the timed texts at one batch size.
public struct EncoderRepeat: Sendable, Codable, Equatable {
    public var seconds: Double
    public var texts: Int
    public var tokens: Int
    public var batches: Int
    public var textsPerSecond: Double { Double(texts) / seconds }
    public var tokensPerSecond: Double { Double(tokens) / seconds }
    /// Mean time of one batch (one forward pass with its tokenizing and pooling).
    public var secondsPerBatch: Double { seconds / Double(max(batches, 1)) }
}

public struct EncoderBatchFigures: Sendable, Codable, Equatable {
    public var batchSize: Int
    public var repeats: [EncoderRepeat]
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
}

public enum EncoderRun {
    static func measure(_ entry: PlanEntry, _ plan: EncoderPlan, into record: inout RunRecord, progress: (String) -> Void) throws {
        guard let reference = entry.loaderReference else { throw RunnerError.invalid("plan entry \(entry.shortKey) has no resolved model reference") }
        var memory = MemoryFigures(source: MemoryProbe.sample().source)
        memory.rssBeforeLoad = MemoryProbe.sample().rss
        let texts = try plan.loadTexts()
        guard !texts.isEmpty else { throw RunnerError.invalid("the experiment's texts are empty: nothing to embed") }
        let timed = Array(texts.prefix(plan.timedTexts ?? min(texts.count, 64)))
        let embeddingsFile = NSTemporaryDirectory() + "exprun-embeddings-\(ProcessInfo.processInfo.processIdentifier).f32"
        defer { try? FileManager.default.removeItem(atPath: embeddingsFile) }

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
                for i in 0..<entry.repeats {
                    let start = DispatchTime.now()
                    let e = try encoder.encode(timed, batchSize: size)
                    let r = EncoderRepeat(seconds: ChildRun.seconds(since: start), texts: e.count, tokens: e.tokenCounts.reduce(0, +),
                                          batches: (timed.count + size - 1) / size)
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
            if plan.quality, entry.baseline != nil, entry.baseline != entry.quantization {
                progress("embedding \(texts.count) texts for the comparison with \(entry.baseline!)")
                let e = try encoder.encode(texts, batchSize: plan.batchSizes.max() ?? 32)
                try e.values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: embeddingsFile)) }
            }
            return f
        }()
        MemoryProbe.releaseFreedMemory()
        let afterUnload = MemoryProbe.sample()
        memory.rssAfterUnload = afterUnload.rss; memory.anonAfterUnload = afterUnload.anon; memory.fileAfterUnload = afterUnload.file
        record.memory = memory

        if plan.quality, let baseline = entry.baseline, baseline != entry.quantization {
            progress("loading the baseline \(baseline)")
            let base = try loadEncoder(reference, baseline, threads: entry.threads, model: entry.model)
            let reference = try base.encode(texts, batchSize: plan.batchSizes.max() ?? 32)
            guard let data = FileManager.default.contents(atPath: embeddingsFile) else { throw RunnerError.file(embeddingsFile, "lost this run's embeddings") }
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
