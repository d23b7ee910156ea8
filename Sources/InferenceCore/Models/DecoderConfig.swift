// The hyper-parameters of a decoder-only transformer from GGUF metadata, read as llama.cpp reads
// them (src/llama-model.cpp `load_hparams`, then each architecture's `load_arch_hparams` in
// src/models/*.cpp, and src/llama-context.cpp for the rotary settings a context derives): the
// `<arch>.*` keys, llama.cpp's defaults where they are absent. The architecture files add what is
// theirs (Gemma's sliding windows and soft-caps) in `DecoderArchitecture.hyperparameters`.
import Foundation

/// How rotary embeddings pair up the dimensions of a head (llama.cpp's rope types).
public enum RopeStyle: String, Sendable {
    /// LLAMA_ROPE_TYPE_NORM: adjacent pairs (x[2i], x[2i+1]) — Llama (its converter permutes q/k for it).
    case interleaved
    /// LLAMA_ROPE_TYPE_NEOX: halves (x[i], x[i + n/2]) — GPT-NeoX, Qwen2/3, Phi-3, Gemma.
    case halves
}

/// Rotary position embedding as ggml's `rope_ext` takes it: pair i of a head at position p turns
/// by θ = p · base^(−2i/dims) / factor[i], interpolated by `freqScale` (1 / the scaling factor) and,
/// under YaRN, mixed back towards θ for the fast-turning pairs; cos and sin are scaled by `mscale`.
public struct RopeParameters: Sendable, Equatable {
    public var style: RopeStyle
    public var dimensions: Int               // n_rot: leading dimensions of each head that rotate
    public var base: Float                   // freq_base
    public var freqScale: Float              // 1 / factor under linear or YaRN scaling, else 1
    /// YaRN (rope.scaling.type = yarn): ext_factor 1, the context the model was trained on, and
    /// llama.cpp's defaults beta_fast 32, beta_slow 1.
    public var extFactor: Float = 0
    public var originalContext: Int
    public var betaFast: Float = 32
    public var betaSlow: Float = 1
    /// cos and sin are multiplied by this (llama.cpp's attn_factor; YaRN's magnitude correction
    /// is folded in by `rope` itself, as ggml does).
    public var attnFactor: Float = 1
    /// Per-pair divisors of the frequency: Llama 3.1's `rope_freqs.weight`, or Phi-3's long/short
    /// factors (LongRoPE), chosen by the context.
    public var factors: [Float]?
    public var longFactors: [Float]?
    public var shortFactors: [Float]?

    /// The factors for a context of `n` positions (llama.cpp's `get_rope_factors`).
    public func factors(context n: Int) -> [Float]? {
        if let factors { return factors }
        return n > originalContext ? longFactors : shortFactors
    }
}

public enum FeedForwardActivation: String, Sendable {
    case silu          // SwiGLU
    case geluTanh      // GeGLU with the tanh approximation of GELU
}

public struct DecoderConfig: Sendable {
    public var architecture: String
    public var vocabSize: Int
    public var contextLength: Int
    public var embeddingSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headSize: Int                 // key_length; value_length must equal it
    public var feedForwardSize: Int
    public var rmsEpsilon: Float
    public var rope: RopeParameters
    /// Sliding-window size of local layers (nil: every layer attends to everything before it).
    public var slidingWindow: Int?
    /// `isLocal[l]`: layer l is a sliding-window (local) layer.
    public var isLocal: [Bool]
    /// Local layers' rotary base and scale (llama.cpp's rope_freq_base/scale_train_swa).
    public var localRopeBase: Float = 10000
    public var localRopeScale: Float = 1
    public var activation: FeedForwardActivation = .silu
    public var embeddingScale: Float = 1
    /// Multiplies q·k (1/√head_size unless an architecture says otherwise).
    public var attentionScale: Float
    /// Gemma 2's cap · tanh(q·k / cap) on attention scores.
    public var attentionSoftcap: Float?
    /// cap · tanh(logits / cap) on the output.
    public var finalLogitSoftcap: Float?
    public var tiedHead: Bool

    public var qDim: Int { headCount * headSize }
    public var kvDim: Int { kvHeadCount * headSize }
    public var ropeStyle: RopeStyle { rope.style }
    public var ropeBase: Float { rope.base }

    /// The common hyper-parameters (llama.cpp's `load_hparams`); `arch` names the `<arch>.` keys.
    init(gguf file: GGUFFile, architecture arch: String, ropeStyle: RopeStyle) throws {
        let path = file.path
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func required(_ k: String) throws -> Int {
            guard let v = try file.int(key(k)) else { throw CoreError.file(path, "missing metadata \(quoted: key(k))") }
            return v
        }
        guard let embd = file.tensorInfo("token_embd.weight") else {
            throw CoreError.file(path, "no tensor 'token_embd.weight' (the token embedding)")
        }
        guard embd.shape.count == 2 else { throw CoreError.file(path, "token_embd.weight has shape \(embd.shape); expected [vocab, embedding_length]") }
        architecture = arch
        contextLength = try required("context_length")
        embeddingSize = try required("embedding_length")
        layerCount = try required("block_count")
        feedForwardSize = try required("feed_forward_length")
        headCount = try required("attention.head_count")
        kvHeadCount = try file.int(key("attention.head_count_kv")) ?? headCount
        guard headCount > 0, embeddingSize > 0 else { throw CoreError.file(path, "\(key("attention.head_count")) and \(key("embedding_length")) must be positive") }
        headSize = try file.int(key("attention.key_length")) ?? embeddingSize / headCount
        let valueSize = try file.int(key("attention.value_length")) ?? embeddingSize / headCount
        guard valueSize == headSize else {
            throw CoreError.unsupported("\(path): \(key("attention.value_length")) \(valueSize) differs from key_length \(headSize)")
        }
        vocabSize = embd.shape[0]
        guard embd.shape[1] == embeddingSize else {
            throw CoreError.file(path, "token_embd.weight has rows of \(embd.shape[1]) values, but \(key("embedding_length")) is \(embeddingSize)")
        }
        guard let eps = try file.float(key("attention.layer_norm_rms_epsilon")) else {
            throw CoreError.file(path, "missing metadata \(quoted: key("attention.layer_norm_rms_epsilon"))")
        }
        rmsEpsilon = eps

        // Rotary embeddings: the scaling type defaults to linear, a factor of 0 or none means 1.
        let scaling = try file.string(key("rope.scaling.type")) ?? "linear"
        let factor = try file.float(key("rope.scaling.factor")) ?? file.float(key("rope.scale_linear")) ?? 0
        var rope = RopeParameters(style: ropeStyle, dimensions: try file.int(key("rope.dimension_count")) ?? headSize,
                                  base: try file.float(key("rope.freq_base")) ?? 10000,
                                  freqScale: factor == 0 ? 1 : 1 / factor,
                                  originalContext: try file.int(key("rope.scaling.original_context_length")) ?? contextLength)
        rope.attnFactor = try file.float(key("rope.scaling.attn_factor")) ?? 1
        switch scaling {
        case "none":
            rope.freqScale = 1
        case "linear", "longrope":
            break
        case "yarn":
            // llama-context.cpp: ext_factor 1; the magnitude correction that rope applies is
            // cancelled out of attn_factor here (ggml multiplies it back in).
            rope.extFactor = 1
            let f = 1 / rope.freqScale
            let mscale: Float = f <= 1 ? 1 : 0.1 * Foundation.log(f) + 1
            rope.attnFactor *= mscale * (1 / (1 + 0.1 * Foundation.log(f)))
        default:
            throw CoreError.unsupported("\(path): \(key("rope.scaling.type")) \(quoted: scaling) (llama.cpp's types: none, linear, yarn, longrope)")
        }
        func factors(_ name: String) throws -> [Float]? {
            guard let info = file.tensorInfo(name) else { return nil }
            return try LlamaGGUF.floats(file, info, count: info.elementCount)
        }
        rope.factors = try factors("rope_freqs.weight")
        rope.longFactors = try factors("rope_factors_long.weight")
        rope.shortFactors = try factors("rope_factors_short.weight")
        self.rope = rope

        isLocal = [Bool](repeating: false, count: layerCount)
        slidingWindow = nil
        attentionScale = 1 / Float(headSize).squareRoot()
        tiedHead = file.tensorInfo("output.weight") == nil
    }

    /// llama.cpp's `load_swa_pattern`: `attention.sliding_window_pattern` as one bool per layer,
    /// or an integer n (every n-th layer global, the others local), else `defaultPattern`.
    mutating func loadSlidingWindowPattern(_ file: GGUFFile, defaultPattern: Int) throws {
        let patternKey = "\(architecture).attention.sliding_window_pattern"
        if let value = file.metadata[patternKey], let flags = value.array {
            let bools = flags.compactMap(\.bool)
            guard bools.count == flags.count, bools.count == layerCount else {
                throw CoreError.file(file.path, "\(patternKey) should hold one bool per layer (\(layerCount))")
            }
            isLocal = bools
        } else {
            let n = try file.int(patternKey) ?? defaultPattern
            isLocal = (0..<layerCount).map { n == 0 || $0 % n < n - 1 }
        }
    }

    /// Checks the relations the forward pass relies on; `source` names where the values came from.
    public func validate(source: String) throws {
        func bad(_ why: String) -> CoreError { CoreError.file(source, why) }
        for (name, v) in [("vocabulary size", vocabSize), ("context_length", contextLength), ("embedding_length", embeddingSize),
                          ("block_count", layerCount), ("attention.head_count", headCount),
                          ("attention.head_count_kv", kvHeadCount), ("attention.key_length", headSize),
                          ("feed_forward_length", feedForwardSize)] where v <= 0 {
            throw bad("\(name) must be positive, found \(v)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw bad("attention.head_count (\(headCount)) must be a multiple of attention.head_count_kv (\(kvHeadCount))")
        }
        guard rope.dimensions > 0, rope.dimensions <= headSize, rope.dimensions % 2 == 0 else {
            throw bad("rope.dimension_count (\(rope.dimensions)) must be even and at most the head size (\(headSize))")
        }
        guard rmsEpsilon > 0, rmsEpsilon.isFinite else { throw bad("attention.layer_norm_rms_epsilon must be positive") }
        guard rope.base > 0, localRopeBase > 0, rope.freqScale > 0, rope.freqScale.isFinite, localRopeScale > 0 else {
            throw bad("rope bases and scales must be positive")
        }
        guard isLocal.count == layerCount else {
            throw bad("sliding-window pattern has \(isLocal.count) entries for \(layerCount) layers")
        }
        if let w = slidingWindow, w <= 0 { throw bad("attention.sliding_window must be positive, found \(w)") }
        for (name, f) in [("rope_freqs", rope.factors), ("rope_factors_long", rope.longFactors), ("rope_factors_short", rope.shortFactors)] {
            if let f, f.count < rope.dimensions / 2 {
                throw bad("\(name) has \(f.count) values; expected rope.dimension_count / 2 = \(rope.dimensions / 2)")
            }
        }
        for (name, c) in [("attn_logit_softcapping", attentionSoftcap), ("final_logit_softcapping", finalLogitSoftcap)] {
            if let c, !(c > 0) { throw bad("\(name) must be positive") }
        }
    }
}
