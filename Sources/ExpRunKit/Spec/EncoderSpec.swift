// Encoder experiments: a sentence-embedding model (BERT in a sentence-transformers folder) measured
// on texts instead of prompts. The experiment file gives the texts and the batch sizes:
//
//   texts: [first text, second text]                        or
//   corpus: {text: wikitext-2-raw:test, lines: 1000}        the first 1000 non-empty lines that are
//                                                           not WikiText headings (" = Title = ")
//   measure:
//     batch_sizes: [1, 32]     each timed repeat encodes the timed texts at each batch size
//     timed_texts: 64          how many of the texts (the first ones) a timed repeat encodes;
//                              default: all of them, at most 64
//
// Quality (cosine to the baseline configuration's embeddings, nearest-neighbour recall@10) is
// measured on every text, once per configuration: in the runs with the most threads (it does not
// depend on them, and there it takes least time).
// This file parses those keys (called from SpecParser) and plans one run per model ×
// quantization × thread count.
import Foundation
import InferenceCore
import Yams

public struct CorpusSettings: Sendable, Codable, Hashable {
    /// A named text (`wikitext-2-raw:test`) or a file path (resolved against the experiment file).
    public var text: String
    /// The first `lines` texts; nil: all.
    public var lines: Int?
}

public struct EncoderSettings: Sendable, Codable, Hashable {
    public var texts: [String]?
    public var corpus: CorpusSettings?
    public var batchSizes: [Int]
    public var timedTexts: Int?
}

/// What an encoder run measures (one per plan entry).
public struct EncoderPlan: Sendable, Codable, Equatable {
    public var texts: [String]?
    public var corpus: CorpusSettings?
    public var batchSizes: [Int]
    public var timedTexts: Int?
    /// Whether this run measures quality against the baseline (the runs with the most threads).
    public var quality: Bool

    /// The texts: the inline list, or the corpus's lines (non-empty, WikiText headings skipped).
    public func loadTexts() throws -> [String] {
        if let texts { return texts }
        guard let corpus else { return [] }
        return try Self.lines(of: EvaluationText.load(corpus.text), limit: corpus.lines)
    }

    static func lines(of text: String, limit: Int?) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || (t.hasPrefix("=") && t.hasSuffix("=")) { continue }
            out.append(t)
            if let limit, out.count >= limit { break }
        }
        return out
    }
}

extension SpecParser {
    static let encoderTopKeys = ["texts", "corpus"]
    static let encoderMeasureKeys = ["batch_sizes", "timed_texts"]

    /// The encoder keys of an experiment file, or nil for a decoder experiment; problems go to `c`.
    static func encoder(_ c: Checker, top: [String: Entry], baseDirectory: String) -> EncoderSettings? {
        let measure: [String: Entry]
        if let m = top["measure"], case .mapping = m.node { measure = c.mapping(m.node, path: "measure", allowed: nil) ?? [:] } else { measure = [:] }
        guard top["texts"] != nil || top["corpus"] != nil else {
            for key in encoderMeasureKeys { if let e = measure[key] {
                c.problem(e.key, "measure.\(key)", "is for encoder experiments (with `texts:` or `corpus:`); a generating model takes `prompts:`")
            } }
            return nil
        }
        var settings = EncoderSettings(texts: nil, corpus: nil, batchSizes: [32], timedTexts: nil)
        if let t = top["texts"], let c2 = top["corpus"] {
            c.problem(c2.key, "corpus", "give `texts:` or `corpus:`, not both (texts is at line \((t.key.mark?.line ?? 0)))")
        }
        if let t = top["texts"] {
            let items: [Node]? = t.node.isScalar ? [t.node] : c.sequence(t.node, path: "texts")
            if let items {
                if items.isEmpty { c.problem(t.node, "texts", "the list is empty; give the texts to embed, e.g. `texts: [A first sentence., Another one.]`") }
                // An empty text is allowed: it embeds as [CLS] [SEP], as sentence-transformers does.
                settings.texts = items.enumerated().compactMap { i, n in c.string(n, path: t.node.isScalar ? "texts" : "texts[\(i)]") }
            }
        }
        if let cp = top["corpus"], let map = c.mapping(cp.node, path: "corpus", allowed: ["text", "lines"]) {
            if var text = map["text"].flatMap({ c.string($0.node, path: "corpus.text") }), let node = map["text"]?.node {
                if EvaluationText.named[text] == nil && !text.hasPrefix("/") && !text.hasPrefix("wikitext-2-raw:") {
                    text = baseDirectory + "/" + text
                }
                do { _ = try EvaluationText.resolve(text) } catch { c.problem(node, "corpus.text", "\(error)") }
                let lines = map["lines"].flatMap { c.int($0.node, path: "corpus.lines", min: 1, max: 10_000_000) }
                settings.corpus = CorpusSettings(text: text, lines: lines)
            } else if map["text"] == nil {
                c.problem(cp.node, "corpus.text", "missing; name the text, e.g. `corpus: {text: wikitext-2-raw:test, lines: 1000}`")
            }
        }
        if let v = measure["batch_sizes"] {
            let sizes = c.distinctInts(v.node, path: "measure.batch_sizes", max: 65_536, what: "batch sizes, e.g. `[1, 32]`")
            if !sizes.isEmpty { settings.batchSizes = sizes }
        }
        if let v = measure["timed_texts"] { settings.timedTexts = c.int(v.node, path: "measure.timed_texts", min: 1, max: 10_000_000) }
        if let p = top["prompts"] {
            c.problem(p.key, "prompts", "an encoder experiment embeds `texts:` / `corpus:`; prompts are for generating models")
        }
        if let w = top["weights"], case let .scalar(v) = w.node, v.string == WeightsMode.random.rawValue {
            c.problem(w.node, "weights", "random weights are not available for encoders; remove `weights: random` (the model's own weights are used)")
        }
        if let g = top["generate"] {
            c.problem(g.key, "generate", "an encoder experiment does not generate; remove `generate:`")
        }
        if let p = measure["perplexity"] {
            c.problem(p.key, "measure.perplexity", "an encoder has no perplexity; its quality is cosine and recall@10 against `measure.baseline`")
        }
        return settings
    }

    /// A local model directory that is a sentence encoder used with prompts: say what to write instead.
    static func checkEncoderModels(_ c: Checker, top: [String: Entry], encoder: EncoderSettings?, baseDirectory: String) {
        guard let m = top["model"] else { return }
        for node in m.node.isSequence ? m.node.array() : [m.node] {
            guard case let .scalar(scalar) = node else { continue }
            let written = scalar.string
            // Directories only: a GGUF's metadata is the whole vocabulary, too slow to parse for this.
            guard case let .local(path) = ModelReference.classify(written, baseDirectory: baseDirectory), !path.hasSuffix(".gguf") else { continue }
            let isEncoder = SentenceEncoder.isEncoder(path)
            if isEncoder && encoder == nil {
                c.problem(node, "model", "'\(written)' is a sentence encoder (model_type bert): give `texts:` or `corpus:` (and `measure.batch_sizes`) instead of prompts")
            } else if !isEncoder && encoder != nil && FileManager.default.fileExists(atPath: path + "/config.json") {
                c.problem(node, "model", "'\(written)' is not a sentence encoder (its config.json has no model_type bert); `texts:` / `corpus:` need one")
            }
        }
    }
}

extension Checker {
    /// A number or a list of distinct whole numbers from 1 to `max` (thread counts, batch sizes).
    func distinctInts(_ node: Node, path: String, max: Int, what: String) -> [Int] {
        let items = node.isSequence ? node.array() : [node]
        if items.isEmpty { problem(node, path, "the list is empty; give \(what)") }
        var values: [Int] = []
        for (i, item) in items.enumerated() {
            let p = node.isSequence ? "\(path)[\(i)]" : path
            if let n = int(item, path: p, min: 1, max: max) {
                if values.contains(n) { problem(item, p, "\(n) is listed twice") } else { values.append(n) }
            }
        }
        return values
    }
}

extension Plan {
    /// One entry per model × quantization × thread count; quality in the runs with the most threads.
    static func encoderEntries(_ spec: ExperimentSpec, _ settings: EncoderSettings, version: String) -> [PlanEntry] {
        struct KeyContent: Codable {
            var kind = "encoder"
            var model: String, weights: String, quantization: String, threads: Int
            var texts: String, batchSizes: [Int], timedTexts: Int?, quality: Bool
            var repeats: Int, rounds: Int?, warmup: Int, baseline: String?, version: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let textsKey = settings.texts.map { SHA256.hex(((try? encoder.encode($0)) ?? Data())) }
            ?? settings.corpus.map { "\($0.text)|\($0.lines.map(String.init) ?? "all")" } ?? ""
        let baseline = spec.quantizations.first { $0.description == spec.measure.baseline }
        let rounds = spec.measure.roundCount > 1 ? spec.measure.roundCount : nil
        var entries: [PlanEntry] = []
        for model in spec.models {
            let weights: WeightsMode = model.hasPrefix("random:") ? .random : spec.weights
            for quantization in spec.quantizations {
                for threads in spec.measure.threads {
                    let quality = threads == spec.measure.threads.max()
                    let content = KeyContent(model: model, weights: weights.rawValue, quantization: quantization.description, threads: threads,
                                             texts: textsKey, batchSizes: settings.batchSizes, timedTexts: settings.timedTexts, quality: quality,
                                             repeats: spec.measure.repeats, rounds: rounds, warmup: spec.measure.warmup,
                                             baseline: baseline?.description, version: version)
                    var entry = PlanEntry(
                        key: SHA256.hex((try? encoder.encode(content)) ?? Data()), experiment: spec.name, model: model, weights: weights,
                        quantization: quantization, threads: threads, prompt: "", generate: spec.generate,
                        repeats: spec.measure.repeats, rounds: rounds, round: nil, warmup: spec.measure.warmup, perplexity: nil, baseline: baseline,
                        version: version, loaderReference: nil, timeoutSeconds: spec.measure.timeoutSeconds)
                    entry.encoder = EncoderPlan(texts: settings.texts, corpus: settings.corpus, batchSizes: settings.batchSizes,
                                                timedTexts: settings.timedTexts, quality: quality)
                    entries.append(entry)
                }
            }
        }
        return entries
    }

    /// The plan as a person reads it, for an encoder experiment.
    func describeEncoder(_ settings: EncoderSettings, stored: [String: Set<Int>]) -> String {
        let rounds = spec.measure.roundCount
        let source = settings.texts.map { "\($0.count) text\($0.count == 1 ? "" : "s")" }
            ?? settings.corpus.map { "\($0.lines.map { "the first \($0) lines" } ?? "every line") of \($0.text)" } ?? ""
        var lines = ["experiment \(spec.name): \(entries.count) run\(entries.count == 1 ? "" : "s") "
            + "(\(spec.models.count) model × \(spec.quantizations.count) quantization × \(spec.measure.threads.count) thread setting), "
            + "encoder on \(source), batch sizes \(settings.batchSizes.map(String.init).joined(separator: ", ")), "
            + "\(spec.measure.repeats) repeats each"
            + (rounds > 1 ? " in \(rounds) interleaved rounds (a fresh process and \(spec.measure.warmup) warm-up per round)" : " after \(spec.measure.warmup) warm-up")]
        for (i, e) in entries.enumerated() {
            let done = stored[e.key]?.count ?? 0
            let state = done >= rounds ? "  [stored: skipped]" : done > 0 ? "  [\(done) of \(rounds) rounds stored]" : ""
            let number = String(repeating: " ", count: max(0, 3 - String(i + 1).count)) + String(i + 1)
            let quality = e.encoder?.quality == true && e.baseline != nil && e.baseline != e.quantization ? "  + quality against \(e.baseline!)" : ""
            lines.append("\(number)  \(e.shortKey)  \(e.model)  \(e.label)  threads=\(e.threads)\(quality)\(state)")
        }
        return lines.joined(separator: "\n")
    }
}
