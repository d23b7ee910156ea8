// Every decoder architecture against llama.cpp itself, on small GGUFs with seeded random weights and
// tiny vocabularies (scripts/oracles/decoder-architectures.py wrote them with PyPI's gguf package and
// recorded llama.cpp's tokens, logits and greedy continuation in Oracles/decoders/): the prompt's
// tokens exactly, the logits at every position within the tolerance of the arithmetic involved, and
// the greedy tokens up to the first step where llama.cpp's own top two are within `tieMargin`.
//
// Tolerance: exprun rounds what llama.cpp rounds in attention (queries and softmax weights to F16),
// so F32 and Q8_0 models agree to ~5e-5 and GELU's F16 table leaves ~5e-4 (2e-3 allowed); with F16
// matrices llama.cpp also rounds the activations to F16 before multiplying and exprun does not,
// which moves logits of spread ~10 by up to ~0.016 (0.03 allowed). A wrong graph moves them far
// more: `brokenFeaturesAreSeen` breaks one feature at a time and sees each move them by over 0.1.
import Foundation
import Testing
@testable import InferenceCore

enum DecoderFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/decoders")
    static let names = ["llama-spm", "llama3-bpe", "llama-linear", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3"]

    struct Oracle: Decodable {
        var text: String
        var context: Int
        var prompt: [Int]
        var logits: [[Float]]
        var greedy: [Int]
        var margins: [Double]
    }

    static func oracle(_ name: String) throws -> Oracle {
        try JSONDecoder().decode(Oracle.self, from: Data(contentsOf: directory.appendingPathComponent("\(name).json")))
    }

    static func model(_ name: String) throws -> DecoderModel {
        let m = try ModelLoader.load(directory.appendingPathComponent("\(name).gguf").path,
                                     quantization: QuantizationConfig(method: LlamaGGUF.asStored), threads: 1)
        return try #require(m as? DecoderModel)
    }

    /// Greedy steps closer than this in llama.cpp's own logits are decided by rounding.
    static let tieMargin = 0.05
    /// Models whose matrices are F16 (llama.cpp rounds their activations to F16).
    static let f16Matrices: Set<String> = ["llama-spm", "qwen3", "gemma2"]
    static func tolerance(_ name: String) -> Float { f16Matrices.contains(name) ? 0.03 : 2e-3 }

    /// The largest difference between a model's logits over the oracle's prompt and llama.cpp's.
    static func worstDifference(_ model: DecoderModel, _ oracle: Oracle) throws -> Float {
        let logits = try model.forward(oracle.prompt, cache: model.makeCache(capacity: oracle.context), allLogits: true)
        let v = model.vocabularySize
        var worst: Float = 0
        for (t, row) in oracle.logits.enumerated() {
            for (i, want) in row.enumerated() { worst = max(worst, abs(logits[t * v + i] - want)) }
        }
        return worst
    }
}

@Suite struct DecoderArchitectureTests {
    @Test(arguments: DecoderFixture.names)
    func logitsAndGreedyTokensMatchLlamaCpp(_ name: String) throws {
        let oracle = try DecoderFixture.oracle(name)
        let model = try DecoderFixture.model(name)
        let tokenizer = try #require(model.tokenizer)
        #expect(tokenizer.encodePrompt(oracle.text) == oracle.prompt, "\(name): tokens of the prompt")

        // All positions at once, in the context llama.cpp had (Phi-3 picks its rope factors by it).
        let cache = model.makeCache(capacity: oracle.context)
        let logits = try model.forward(oracle.prompt, cache: cache, allLogits: true)
        let v = model.vocabularySize
        #expect(oracle.logits.count == oracle.prompt.count && oracle.logits.allSatisfy { $0.count == v })
        var worst: Float = 0
        for (t, row) in oracle.logits.enumerated() {
            for (i, want) in row.enumerated() { worst = max(worst, abs(logits[t * v + i] - want)) }
        }
        let spread = oracle.logits.last!.map { abs($0) }.max()!
        #expect(worst <= DecoderFixture.tolerance(name), "\(name): largest logit difference \(worst) (logits up to \(spread))")
        #expect(spread > 1, "\(name): logits too flat to tell architectures apart")

        // Greedy continuation, one token at a time after the prompt, as llama.cpp decodes.
        var last = Array(logits[(oracle.prompt.count - 1) * v ..< oracle.prompt.count * v])
        let decided = oracle.margins.firstIndex { $0 < DecoderFixture.tieMargin } ?? oracle.greedy.count
        var ours: [Int] = []
        for step in 0..<decided {
            let next = last.indices.max { last[$0] < last[$1] }!
            ours.append(next)
            if step + 1 < decided { last = try model.forward([next], cache: cache, allLogits: false) }
        }
        #expect(ours == Array(oracle.greedy.prefix(decided)), "\(name): greedy tokens")
        #expect(decided >= 4, "\(name): the oracle decides only \(decided) steps")
    }

    @Test func configurationsAsLlamaCppReadsThem() throws {
        let gemma2 = try DecoderFixture.model("gemma2").config
        #expect(gemma2.isLocal == [true, false] && gemma2.slidingWindow == 4 && gemma2.localRopeBase == 1000)
        #expect(gemma2.attentionSoftcap == 5 && gemma2.finalLogitSoftcap == 3 && gemma2.tiedHead && gemma2.activation == .geluTanh)
        let gemma3 = try DecoderFixture.model("gemma3").config
        #expect(gemma3.isLocal == [true, true, false] && gemma3.localRopeBase == 10000 && gemma3.rope.base == 1e6)
        #expect(gemma3.finalLogitSoftcap == nil && !gemma3.tiedHead)
        let qwen2 = try DecoderFixture.model("qwen2").config
        #expect(qwen2.rope.style == .halves && qwen2.rope.extFactor == 1 && qwen2.rope.freqScale == 0.25 && qwen2.rope.originalContext == 16)
        let llama3 = try DecoderFixture.model("llama3-bpe").config
        #expect(llama3.rope.style == .interleaved && llama3.rope.factors?.count == 8 && llama3.kvHeadCount == 1)
        let phi3 = try DecoderFixture.model("phi3")
        #expect(phi3.config.rope.dimensions == 4 && phi3.config.rope.attnFactor == 1.19)
        #expect(phi3.config.rope.factors(context: 64) == phi3.config.rope.longFactors)
        #expect(phi3.config.rope.factors(context: 16) == phi3.config.rope.shortFactors)
        #expect(phi3.layers[0].qkv != nil && phi3.layers[0].gate == nil && phi3.layers[0].up.outFeatures == 128)
    }

    /// The oracles can tell each feature from its absence: the same weights under a configuration
    /// with one feature broken give logits over 0.1 away from llama.cpp's.
    @Test func brokenFeaturesAreSeen() throws {
        func broken(_ name: String, _ change: (inout DecoderConfig) -> Void) throws -> Float {
            let m = try DecoderFixture.model(name)
            var c = m.config
            change(&c)
            let altered = DecoderModel(config: c, graph: m.graph, embedding: m.embedding, layers: m.layers, outputNorm: m.outputNorm,
                                       head: m.head, headBias: m.headBias, weights: m.weights, tokenizer: m.tokenizer, threads: 1)
            return try DecoderFixture.worstDifference(altered, DecoderFixture.oracle(name))
        }
        let breaks: [(String, String, (inout DecoderConfig) -> Void)] = [
            ("llama-linear", "rotary pairs as halves", { $0.rope.style = .halves }),
            ("llama-linear", "no linear scaling", { $0.rope.freqScale = 1 }),
            ("llama3-bpe", "no rope_freqs", { $0.rope.factors = nil }),
            ("qwen2", "no YaRN mix", { $0.rope.extFactor = 0 }),
            ("qwen2", "rotary base 10000", { $0.rope.base = 10000 }),
            ("phi3", "short rope factors", { $0.rope.longFactors = $0.rope.shortFactors }),
            ("phi3", "no attn_factor", { $0.rope.attnFactor = 1 }),
            ("gemma2", "no attention soft-cap", { $0.attentionSoftcap = nil }),
            ("gemma2", "no final soft-cap", { $0.finalLogitSoftcap = nil }),
            ("gemma2", "no sliding window", { $0.slidingWindow = nil }),
            ("gemma3", "local rotary base as global", { $0.localRopeBase = $0.rope.base }),
            ("gemma", "no embedding scale", { $0.embeddingScale = 1 }),
        ]
        for (name, what, change) in breaks {
            let worst = try broken(name, change)
            #expect(worst > 0.1, "\(name) with \(what): logits only \(worst) from llama.cpp's")
        }
    }
}
