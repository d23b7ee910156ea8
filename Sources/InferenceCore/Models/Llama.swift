// The Llama family of decoder-only transformers (Touvron et al. 2023) and its descendants that
// differ only in switches: Qwen2 (biases on q/k/v), Qwen3 (per-head q/k RMSNorm) and Gemma 3
// (Gemma Team 2025: q/k norms, norms after attention and feed-forward as well as before, GeGLU,
// √d embedding scale, sliding-window attention on 5 of every 6 layers with their own rotary base).
// One forward pass, computed as llama.cpp's graphs compute it (src/models/llama.cpp, gemma3.cpp):
//
//   x = embed[token] · embeddingScale                      (√d for Gemma, 1 otherwise)
//   for each layer l:
//       h = rmsnorm(x) · attn_norm
//       q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)       (grouped-query: fewer k/v heads)
//       q, k = rmsnorm_per_head(q) · q_norm, rmsnorm_per_head(k) · k_norm    (Qwen3, Gemma 3)
//       q, k = rope(q, pos, base_l), rope(k, pos, base_l)   (base_l: local or global layer's base)
//       a = softmax(q·kᵀ · scale, causal, within the window on local layers) · v
//       o = a·Woᵀ;  o = rmsnorm(o) · post_attention_norm    (Gemma)
//       x = x + o
//       h = rmsnorm(x) · ffn_norm
//       f = (act(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ                 (act: SiLU = SwiGLU, or tanh-GELU = GeGLU)
//       f = rmsnorm(f) · post_ffw_norm                       (Gemma)
//       x = x + f
//   logits = (rmsnorm(x) · output_norm)·Wheadᵀ             (head tied to embed when absent)
//   logits = cap · tanh(logits / cap)                        (when a final soft-cap is set)
//
// Gemma's RMSNorm multiplies by (1 + w); llama.cpp's converter adds the 1 to the stored weights
// (conversion/gemma.py, `norm_shift`), so a GGUF's norms are used as they are, like Llama's.
// The configuration is read from GGUF metadata in LlamaGGUF.swift; this file knows no file format.
import Foundation

/// How rotary embeddings pair up the dimensions of a head (llama.cpp's rope types).
public enum RopeStyle: String, Sendable {
    /// LLAMA_ROPE_TYPE_NORM: adjacent pairs (x[2i], x[2i+1]) — Llama (its converter permutes q/k for it).
    case interleaved
    /// LLAMA_ROPE_TYPE_NEOX: halves (x[i], x[i + n/2]) — GPT-NeoX, Qwen2/3, Gemma.
    case halves
}

public enum FeedForwardActivation: String, Sendable {
    case silu          // SwiGLU
    case geluTanh      // GeGLU with the tanh approximation of GELU
}

public struct LlamaConfig: Sendable {
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
    public var ropeStyle: RopeStyle
    public var ropeDimensions: Int           // n_rot: leading dimensions of each head that rotate
    public var ropeBase: Float               // global (or only) layers
    public var ropeScale: Float              // linear position scaling (freq_scale = 1 / factor)
    /// Per-dimension-pair divisors of the rotary frequency (Llama 3.1's `rope_freqs.weight`).
    public var ropeFrequencyFactors: [Float]?
    /// Sliding-window size of local layers (nil: every layer attends to everything before it).
    public var slidingWindow: Int?
    /// `isLocal[l]`: layer l is a sliding-window layer (rotary base `localRopeBase`).
    public var isLocal: [Bool]
    public var localRopeBase: Float
    public var activation: FeedForwardActivation
    public var embeddingScale: Float
    /// Multiplies q·k (1/√head_size for every model here but Gemma 3 27B).
    public var attentionScale: Float
    public var hasQKNorm: Bool
    public var hasPostNorms: Bool
    public var hasQKVBias: Bool
    public var finalLogitSoftcap: Float?
    public var tiedHead: Bool

    public var qDim: Int { headCount * headSize }
    public var kvDim: Int { kvHeadCount * headSize }

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
        guard ropeDimensions > 0, ropeDimensions <= headSize, ropeDimensions % 2 == 0 else {
            throw bad("rope.dimension_count (\(ropeDimensions)) must be even and at most the head size (\(headSize))")
        }
        guard rmsEpsilon > 0, rmsEpsilon.isFinite else { throw bad("attention.layer_norm_rms_epsilon must be positive") }
        guard ropeBase > 0, localRopeBase > 0, ropeScale > 0 else { throw bad("rope bases and scale must be positive") }
        guard isLocal.count == layerCount else {
            throw bad("sliding-window pattern has \(isLocal.count) entries for \(layerCount) layers")
        }
        if let w = slidingWindow, w <= 0 { throw bad("attention.sliding_window must be positive, found \(w)") }
        if let f = ropeFrequencyFactors, f.count != ropeDimensions / 2 {
            throw bad("rope_freqs has \(f.count) values; expected rope.dimension_count / 2 = \(ropeDimensions / 2)")
        }
        if let c = finalLogitSoftcap, !(c > 0) { throw bad("final_logit_softcapping must be positive") }
    }
}

/// The stored weights of one layer. Norm vectors are F32; matrices are LinearWeights in whatever
/// format the loader chose.
public struct LlamaLayer {
    public var attentionNorm: [Float]
    public var q, k, v, o: LinearWeight
    public var qBias, kBias, vBias: [Float]?
    public var qNorm, kNorm: [Float]?
    public var postAttentionNorm: [Float]?
    public var feedForwardNorm: [Float]
    public var gate, up, down: LinearWeight
    public var postFeedForwardNorm: [Float]?
}

public final class Llama: LanguageModel {
    public let config: LlamaConfig
    public var architecture: String { config.architecture }
    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var tokenizer: Tokenizer?
    public let weights: [WeightInfo]
    public let pool: ThreadPool

    let embedding: LinearWeight              // [vocab, d]
    let layers: [LlamaLayer]
    let outputNorm: [Float]
    let head: LinearWeight                   // the embedding itself when tied

    public init(config: LlamaConfig, embedding: LinearWeight, layers: [LlamaLayer], outputNorm: [Float],
                head: LinearWeight, weights: [WeightInfo], tokenizer: Tokenizer?, threads: Int) {
        self.config = config; self.embedding = embedding; self.layers = layers
        self.outputNorm = outputNorm; self.head = head; self.weights = weights
        self.tokenizer = tokenizer
        pool = ThreadPool(threads: threads)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.layerCount, kvDim: config.kvDim, capacity: min(max(capacity, 1), config.contextLength))
    }

    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float] {
        let c = config
        let T = tokens.count, d = c.embeddingSize, v = c.vocabSize, f = c.feedForwardSize
        let qd = c.qDim, kvd = c.kvDim
        guard T > 0 else { throw CoreError.invalid("forward needs at least one token") }
        for t in tokens where t < 0 || t >= v {
            throw CoreError.invalid("token id \(t) is out of range: the vocabulary has \(v) tokens (0 ..< \(v))")
        }
        guard cache.layers == c.layerCount, cache.kvDim == kvd else {
            throw CoreError.invalid("KV cache of \(cache.layers) layers × \(cache.kvDim) does not fit this model (\(c.layerCount) × \(kvd))")
        }
        try cache.checkRoom(for: T)
        guard cache.length + T <= c.contextLength else {
            throw CoreError.invalid("sequence of \(cache.length + T) tokens exceeds the context of \(c.contextLength)")
        }
        let start = cache.length

        let x = UnsafeMutablePointer<Float>.allocate(capacity: T * d)       // residual stream
        let h = UnsafeMutablePointer<Float>.allocate(capacity: T * max(d, qd))
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * qd)
        let k = UnsafeMutablePointer<Float>.allocate(capacity: T * kvd)
        let val = UnsafeMutablePointer<Float>.allocate(capacity: T * kvd)
        let att = UnsafeMutablePointer<Float>.allocate(capacity: T * qd)
        let gate = UnsafeMutablePointer<Float>.allocate(capacity: T * f)
        let up = UnsafeMutablePointer<Float>.allocate(capacity: T * f)
        defer { for p in [x, h, q, k, val, att, gate, up] { p.deallocate() } }

        for (t, token) in tokens.enumerated() {
            let row = x + t * d
            embedding.dequantizeRow(token, into: row)
            if c.embeddingScale != 1 { for i in 0..<d { row[i] *= c.embeddingScale } }
        }

        for (l, layer) in layers.enumerated() {
            let local = c.isLocal[l]
            let base = local ? c.localRopeBase : c.ropeBase
            let window = local ? c.slidingWindow : nil

            // Attention sublayer.
            Llama.rmsNorm(x, rows: T, dim: d, weight: layer.attentionNorm, eps: c.rmsEpsilon, into: h)
            layer.q.forward(h, rows: T, bias: layer.qBias, into: q, pool: pool)
            layer.k.forward(h, rows: T, bias: layer.kBias, into: k, pool: pool)
            layer.v.forward(h, rows: T, bias: layer.vBias, into: val, pool: pool)
            if let w = layer.qNorm { Llama.rmsNorm(q, rows: T * c.headCount, dim: c.headSize, weight: w, eps: c.rmsEpsilon, into: q) }
            if let w = layer.kNorm { Llama.rmsNorm(k, rows: T * c.kvHeadCount, dim: c.headSize, weight: w, eps: c.rmsEpsilon, into: k) }
            for t in 0..<T {
                let pos = start + t
                Llama.rope(q + t * qd, heads: c.headCount, headSize: c.headSize, dims: c.ropeDimensions, position: pos,
                           base: base, scale: c.ropeScale, factors: c.ropeFrequencyFactors, style: c.ropeStyle)
                Llama.rope(k + t * kvd, heads: c.kvHeadCount, headSize: c.headSize, dims: c.ropeDimensions, position: pos,
                           base: base, scale: c.ropeScale, factors: c.ropeFrequencyFactors, style: c.ropeStyle)
            }
            // llama.cpp keeps keys and values in F16 (its default cache type); rounding them the same
            // way keeps exprun's logits within llama.cpp's own batch-vs-step noise.
            let keys = cache.keys[l], values = cache.values[l]
            for i in 0..<T * kvd {
                keys[start * kvd + i] = Float(Float16(k[i]))
                values[start * kvd + i] = Float(Float16(val[i]))
            }
            Llama.attention(queries: q, rows: T, start: start, keys: keys, values: values,
                            heads: c.headCount, kvHeads: c.kvHeadCount, headSize: c.headSize,
                            scale: c.attentionScale, window: window, into: att, pool: pool)
            layer.o.forward(att, rows: T, into: h, pool: pool)
            if let w = layer.postAttentionNorm { Llama.rmsNorm(h, rows: T, dim: d, weight: w, eps: c.rmsEpsilon, into: h) }
            for i in 0..<T * d { x[i] += h[i] }

            // Feed-forward sublayer.
            Llama.rmsNorm(x, rows: T, dim: d, weight: layer.feedForwardNorm, eps: c.rmsEpsilon, into: h)
            layer.gate.forward(h, rows: T, into: gate, pool: pool)
            layer.up.forward(h, rows: T, into: up, pool: pool)
            Llama.gatedActivation(gate, up, count: T * f, c.activation, pool: pool)
            layer.down.forward(gate, rows: T, into: h, pool: pool)
            if let w = layer.postFeedForwardNorm { Llama.rmsNorm(h, rows: T, dim: d, weight: w, eps: c.rmsEpsilon, into: h) }
            for i in 0..<T * d { x[i] += h[i] }
        }
        cache.advance(by: T)

        let first = allLogits ? 0 : T - 1, n = T - first
        Llama.rmsNorm(x + first * d, rows: n, dim: d, weight: outputNorm, eps: c.rmsEpsilon, into: h)
        var logits = [Float](repeating: 0, count: n * v)
        logits.withUnsafeMutableBufferPointer { out in
            head.forward(h, rows: n, into: out.baseAddress!, pool: pool)
            if let cap = c.finalLogitSoftcap {
                for i in 0..<out.count { out[i] = cap * Foundation.tanh(out[i] / cap) }
            }
        }
        return logits
    }

    // MARK: operations (each has a plain reference in the tests)

    /// `y = x / √(mean(x²) + eps) · w` per row of `dim` values; `y` may be `x`. The mean is summed in
    /// double, as ggml does.
    static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: [Float], eps: Float,
                        into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                let xr = x + r * dim, yr = y + r * dim
                var s: Double = 0
                for i in 0..<dim { s += Double(xr[i] * xr[i]) }
                let scale = 1 / (Float(s / Double(dim)) + eps).squareRoot()
                for i in 0..<dim { yr[i] = xr[i] * scale * w[i] }
            }
        }
    }

    /// Rotary position embedding of `heads` consecutive heads at `position`, in place, as ggml's
    /// `rope_ext` without YaRN: pair i turns by position·scale·base^(−2i/dims) / factor[i]. The
    /// angle step is multiplied up in float, as ggml's rope cache does.
    static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int, dims: Int, position: Int,
                     base: Float, scale: Float, factors: [Float]?, style: RopeStyle) {
        let thetaScale = Foundation.pow(base, -2 / Float(dims))
        var theta = Float(position) * scale
        let half = dims / 2
        var cosines = [Float](repeating: 0, count: half), sines = [Float](repeating: 0, count: half)
        for i in 0..<half {
            let angle = theta / (factors?[i] ?? 1)
            cosines[i] = Foundation.cos(angle); sines[i] = Foundation.sin(angle)
            theta *= thetaScale
        }
        for hd in 0..<heads {
            let p = x + hd * headSize
            for i in 0..<half {
                let (a, b) = style == .halves ? (i, i + half) : (2 * i, 2 * i + 1)
                let x0 = p[a], x1 = p[b]
                p[a] = x0 * cosines[i] - x1 * sines[i]
                p[b] = x0 * sines[i] + x1 * cosines[i]
            }
        }
    }

    /// Causal grouped-query attention of `rows` new positions (`start ..< start + rows`) over the
    /// cached keys and values (`kvHeads × headSize` per position). Query head `h` reads key/value
    /// head `h / (heads / kvHeads)`. With a `window`, position p sees only p − window + 1 ... p
    /// (llama.cpp's standard sliding window: masked when p − p₀ ≥ window).
    static func attention(queries q: UnsafePointer<Float>, rows T: Int, start: Int,
                          keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                          heads: Int, kvHeads: Int, headSize hs: Int, scale: Float, window: Int?,
                          into out: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let group = heads / kvHeads, qd = heads * hs, kvd = kvHeads * hs
        pool.parallelFor(heads * T) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: start + T)
            defer { scores.deallocate() }
            for job in range {
                let head = job % heads, t = job / heads
                let kvHead = head / group
                let qv = q + t * qd + head * hs
                let p = start + t
                let lo = window.map { max(0, p - $0 + 1) } ?? 0
                var m = -Float.infinity
                for j in lo...p {
                    let s = F32Linear.dot(qv, keys + j * kvd + kvHead * hs, hs) * scale
                    scores[j] = s
                    m = max(m, s)
                }
                let sum = Activation.softmaxNumerators(scores + lo, count: p - lo + 1, max: m)
                let o = out + t * qd + head * hs
                o.initialize(repeating: 0, count: hs)
                let inv = 1 / sum
                for j in lo...p {
                    let w = scores[j] * inv, vj = values + j * kvd + kvHead * hs
                    for i in 0..<hs { o[i] += w * vj[i] }
                }
            }
        }
    }

    /// `gate[i] = act(gate[i]) · up[i]`, split over the pool.
    static func gatedActivation(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                                _ act: FeedForwardActivation, pool: ThreadPool) {
        pool.parallelFor(count, granule: 1024) { range in
            switch act {
            case .silu: for i in range { let g = gate[i]; gate[i] = g / (1 + Foundation.exp(-g)) * up[i] }
            case .geluTanh:
                geluF16Table.withUnsafeBufferPointer { t in
                    for i in range {
                        let g = gate[i]
                        gate[i] = (g <= -10 ? 0 : g >= 10 ? g : t[Int(Float16(g).bitPattern)]) * up[i]
                    }
                }
            }
        }
    }

    /// GELU as ggml's CPU backend computes it: the input rounded to F16 and looked up in a table of
    /// F16 results (`ggml_vec_geglu_f32` with GGML_GELU_FP16); exact beyond ±10.
    @inline(__always) static func geluTanhF16(_ x: Float) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return Float(Float16(geluTanh(Float(Float16(x)))))
    }

    /// geluTanhF16 of every fp16 value, by bit pattern (ggml's table, built once: the tanh per
    /// element took a tenth of Gemma's prefill).
    static let geluF16Table: [Float] = (0..<65536).map { geluTanhF16(Float(Float16(bitPattern: UInt16($0)))) }

    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x)))
    }
}
