// An experiment file after validation: every value typed, defaulted and checked, so the planner
// and the runner never see a malformed one. `SpecParser` builds it from YAML; this file only says
// what an experiment is.
import Foundation
import InferenceCore

public struct ExperimentSpec: Sendable {
    /// Names the experiment in the database and the folder of its report.
    public var name: String
    public var description: String?
    /// Model references as written: Hub ids (`gpt2`, `openai-community/gpt2`), local Hugging Face
    /// directories, `.gguf` files, or the core's `random:` references.
    public var models: [String]
    public var weights: WeightsMode
    public var quantizations: [QuantizationConfig]
    public var prompts: [String]
    public var generate: GenerateSettings
    public var measure: MeasureSettings
    public var report: ReportSettings
    /// The file it came from and its bytes (their sha256 is stored with every run).
    public var path: String
    public var text: String
    /// Texts and batch sizes of an encoder experiment (EncoderSpec.swift); nil for a generating model.
    public var encoder: EncoderSettings? = nil
}

public enum WeightsMode: String, Sendable, Codable, CaseIterable {
    /// The model's own weights.
    case pretrained
    /// Seeded random weights of the model's shape: valid for memory and speed, meaningless for quality.
    case random
}

/// Generation as transformers' `generate` understands it.
public struct GenerateSettings: Sendable, Codable, Hashable {
    /// Prompt plus new tokens (transformers' `max_length`); exclusive with `maxNewTokens`.
    public var maxLength: Int?
    public var maxNewTokens: Int?
    public var temperature: Double
    public var topK: Int
    public var topP: Double
    public var seed: UInt64
    /// False (the default) always produces the tokens asked for, so configurations are timed on
    /// the same amount of work; true stops at the end-of-text token as transformers does.
    public var stopAtEOS: Bool

    public init(maxLength: Int? = nil, maxNewTokens: Int? = nil, temperature: Double = 0, topK: Int = 0,
                topP: Double = 1, seed: UInt64 = 0, stopAtEOS: Bool = false) {
        self.maxLength = maxLength; self.maxNewTokens = maxNewTokens; self.temperature = temperature
        self.topK = topK; self.topP = topP; self.seed = seed; self.stopAtEOS = stopAtEOS
    }

    /// New tokens to generate after a prompt of `promptTokens` tokens; nil when `max_length`
    /// leaves no room.
    public func newTokens(promptTokens: Int) -> Int? {
        if let maxNewTokens { return maxNewTokens }
        let n = (maxLength ?? 20) - promptTokens   // transformers' default max_length is 20
        return n >= 1 ? n : nil
    }
}

public struct PerplexitySettings: Sendable, Codable, Hashable {
    public var text: String
    public var context: Int
    public var chunks: Int?
}

public struct MeasureSettings: Sendable, Codable, Hashable {
    public var repeats: Int = 5
    /// The plan runs this many times over, every configuration once per round in a rotated order,
    /// each round in a fresh process with its share of the repeats; nil: 3 when repeats ≥ 3, else 1.
    public var rounds: Int?
    public var warmup: Int = 1
    public var threads: [Int] = [1]
    /// Label of the configuration the others are compared with (ratios, KL divergence).
    public var baseline: String?
    public var perplexity: PerplexitySettings?
    /// Wall-clock limit per run; a child past it is killed and the run stored as failed.
    public var timeoutSeconds: Double = 1800

    /// Rounds as run: the file's `rounds`, else 3 when there are at least 3 repeats to share.
    public var roundCount: Int { rounds ?? (repeats >= 3 ? 3 : 1) }
}

public struct ReportSettings: Sendable, Codable, Hashable {
    public static let knownCharts = ["memory", "time", "throughput", "quality"]
    public var charts: [String] = ["memory", "time", "throughput"]
    /// A user's Mustache template (absolute, or relative to the experiment file).
    public var template: String?
}
