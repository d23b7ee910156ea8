// What every architecture offers the generator, the evaluator and the runner. An architecture file
// (GPT2.swift; the decoders of DecoderModel.swift) implements it; `ModelLoader` picks it by `model_type` /
// `general.architecture`.
import Foundation

/// One stored tensor of a loaded model, as reports list them.
public struct WeightInfo: Sendable, Codable, Equatable {
    public var name: String
    public var format: String          // "fp32", "q4_k", "bnb-nf4", ...
    public var shape: [Int]            // outermost first
    public var storedBytes: Int
    public var parameters: Int
    public var note: String?           // e.g. "row length 72 is not a multiple of 256: stored as q8_0"
    public init(name: String, format: String, shape: [Int], storedBytes: Int, parameters: Int, note: String? = nil) {
        self.name = name; self.format = format; self.shape = shape
        self.storedBytes = storedBytes; self.parameters = parameters; self.note = note
    }
}

public protocol LanguageModel: AnyObject {
    var architecture: String { get }
    var vocabularySize: Int { get }
    /// Longest sequence the model supports (n_positions / context_length).
    var contextLength: Int { get }
    var tokenizer: Tokenizer? { get }
    /// Every tensor as stored, so reports count bytes honestly.
    var weights: [WeightInfo] { get }
    var pool: ThreadPool { get }
    func makeCache(capacity: Int) -> KVCache
    /// Runs `tokens` at positions `cache.length ..< cache.length + tokens.count`, appends their keys
    /// and values to `cache`, and returns logits: `tokens.count × vocab` when `allLogits`, else the
    /// last position's `vocab` values.
    func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float]
}

extension LanguageModel {
    public var storedWeightBytes: Int { weights.reduce(0) { $0 + $1.storedBytes } }
    public var parameterCount: Int { weights.reduce(0) { $0 + $1.parameters } }
}
