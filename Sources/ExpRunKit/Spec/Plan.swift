// The plan: one entry per run, the matrix model × quantization × threads × prompt of a spec.
// Each entry's key is the sha256 of a canonical JSON of everything that decides what the run
// measures (model as written, weights mode, quantization, threads, prompt, generation and
// measurement settings, exprun version), so the same experiment planned twice gives the same
// keys: that is what lets an interrupted experiment resume and what pairs runs in comparisons.
// A run is measured in rounds (`measure.rounds`): the schedule runs every entry once per round, in
// an order rotated from round to round, so a burst of load on the machine falls on several
// configurations instead of all the repeats of one.
import Foundation
import InferenceCore

public struct PlanEntry: Sendable, Codable, Equatable {
    public var key: String
    public var experiment: String
    public var model: String
    public var weights: WeightsMode
    public var quantization: QuantizationConfig
    public var threads: Int
    public var prompt: String
    public var generate: GenerateSettings
    public var repeats: Int
    /// Rounds the repeats are shared among (nil: one, as runs stored before rounds existed).
    public var rounds: Int?
    /// Which round a child process measures (0-based); nil in the plan and the database, where
    /// an entry stands for the whole run. Not part of the key.
    public var round: Int?
    public var warmup: Int
    public var perplexity: PerplexitySettings?
    /// The configuration KL divergence and token agreement are measured against (nil: none).
    public var baseline: QuantizationConfig?
    public var version: String
    /// What the child passes to `ModelLoader.load`; filled in by the parent after resolving
    /// the model (Hub download, relative path). Not part of the key.
    public var loaderReference: String?
    public var timeoutSeconds: Double
    /// Texts and batch sizes when the model is a sentence encoder (EncoderSpec.swift).
    public var encoder: EncoderPlan? = nil

    public var label: String { quantization.description }
    public var roundCount: Int { rounds ?? 1 }

    /// The repeats (numbered across the whole run) that round `r` measures: shared as evenly as
    /// possible, earlier rounds taking one more when they do not divide. Fixed by the plan, so a
    /// repeat's number is the same wherever and whenever its round runs.
    public func repeatIndices(round r: Int) -> Range<Int> {
        let n = roundCount, base = repeats / n, extra = repeats % n
        let start = r * base + Swift.min(r, extra)
        return start..<(start + base + (r < extra ? 1 : 0))
    }
    public var shortKey: String { String(key.prefix(12)) }

    /// The content the key hashes: sorted keys, no whitespace, so it is the same on every machine.
    struct KeyContent: Codable {
        var model: String
        var weights: String
        var quantization: String
        var threads: Int
        var prompt: String
        var generate: GenerateSettings
        var repeats: Int
        /// Absent for one round, so runs planned before rounds existed keep their keys.
        var rounds: Int?
        var warmup: Int
        var perplexity: PerplexitySettings?
        var baseline: String?
        var version: String
    }

    static func key(of c: KeyContent) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings and numbers cannot fail.
        let data = (try? encoder.encode(c)) ?? Data()
        return SHA256.hex(data)
    }
}

public struct Plan: Sendable {
    public var spec: ExperimentSpec
    public var entries: [PlanEntry]

    public init(spec: ExperimentSpec, version: String) {
        self.spec = spec
        if let encoder = spec.encoder {
            entries = Plan.encoderEntries(spec, encoder, version: version)
            return
        }
        let baseline = spec.quantizations.first { $0.description == spec.measure.baseline }
        let rounds = spec.measure.roundCount > 1 ? spec.measure.roundCount : nil
        var entries: [PlanEntry] = []
        for model in spec.models {
            let weights: WeightsMode = model.hasPrefix("random:") ? .random : spec.weights
            for quantization in spec.quantizations {
                for threads in spec.measure.threads {
                    for prompt in spec.prompts {
                        // Perplexity scores a text, not the prompt: measured once per configuration,
                        // in the run of the first prompt, instead of again for every prompt.
                        let perplexity = prompt == spec.prompts.first ? spec.measure.perplexity : nil
                        let content = PlanEntry.KeyContent(
                            model: model, weights: weights.rawValue, quantization: quantization.description,
                            threads: threads, prompt: prompt, generate: spec.generate, repeats: spec.measure.repeats,
                            rounds: rounds, warmup: spec.measure.warmup, perplexity: perplexity,
                            baseline: baseline?.description, version: version)
                        entries.append(PlanEntry(
                            key: PlanEntry.key(of: content), experiment: spec.name, model: model, weights: weights,
                            quantization: quantization, threads: threads, prompt: prompt, generate: spec.generate,
                            repeats: spec.measure.repeats, rounds: rounds, round: nil, warmup: spec.measure.warmup,
                            perplexity: perplexity, baseline: baseline, version: version, loaderReference: nil,
                            timeoutSeconds: spec.measure.timeoutSeconds))
                    }
                }
            }
        }
        self.entries = entries
    }

    /// The order runs are measured in: round after round, every entry once per round, each round
    /// starting `round × entries / rounds` places further along (entries 0 1 2 3 4 5 in three
    /// rounds: 0 1 2 3 4 5, then 2 3 4 5 0 1, then 4 5 0 1 2 3).
    public var schedule: [(entry: Int, round: Int)] {
        let n = entries.count, rounds = spec.measure.roundCount
        return (0..<rounds).flatMap { r in (0..<n).map { ((r * n / rounds + $0) % n, r) } }
    }

    /// The plan as a person reads it (`exprun FILE --dry-run`); `stored` holds the rounds already
    /// stored for each key.
    public func describe(stored: [String: Set<Int>] = [:]) -> String {
        if let encoder = spec.encoder { return describeEncoder(encoder, stored: stored) }
        let rounds = spec.measure.roundCount
        var lines = ["experiment \(spec.name): \(entries.count) run\(entries.count == 1 ? "" : "s") "
            + "(\(spec.models.count) model × \(spec.quantizations.count) quantization × \(spec.measure.threads.count) thread setting × \(spec.prompts.count) prompt), "
            + "\(spec.measure.repeats) repeats each"
            + (rounds > 1 ? " in \(rounds) interleaved rounds (a fresh process and \(spec.measure.warmup) warm-up per round)" : " after \(spec.measure.warmup) warm-up")
            + ", " + (spec.generate.maxNewTokens.map { "\($0) new tokens" } ?? "max_length \(spec.generate.maxLength ?? 0)")]
        for (i, e) in entries.enumerated() {
            let done = stored[e.key]?.count ?? 0
            let state = done >= rounds ? "  [stored: skipped]" : done > 0 ? "  [\(done) of \(rounds) rounds stored]" : ""
            let number = String(repeating: " ", count: max(0, 3 - String(i + 1).count)) + String(i + 1)
            let weights = e.weights == .random ? "random-weights" : "pretrained"
            lines.append("\(number)  \(e.shortKey)  \(e.model)  \(weights)  \(e.label)  threads=\(e.threads)  prompt=\(Self.quote(e.prompt))\(state)")
        }
        return lines.joined(separator: "\n")
    }

    static func quote(_ s: String) -> String {
        let short = s.count > 40 ? String(s.prefix(37)) + "..." : s
        return "\"" + short.replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}
