// A decoder-only transformer (the Llama family and its descendants) run by the layer graph of its
// architecture: Llama.swift, Qwen.swift, Phi3.swift and Gemma.swift each write one layer as their
// llama.cpp graph (src/models/<arch>.cpp) builds it, in the steps `DecoderPass` offers; this file
// holds the weights, the embedding before the layers and the output head after them:
//
//   x = embed[token] · embeddingScale
//   for each layer: x = graph.layer(x)
//   logits = (rmsnorm(x) · output_norm) · Wheadᵀ (+ bias)        (head tied to embed when absent)
//   logits = cap · tanh(logits / cap)                             (when a final soft-cap is set)
import Foundation

/// One architecture's layer, written as its llama.cpp graph.
protocol DecoderGraph: Sendable {
    func layer(_ l: Int, _ p: DecoderPass)
}

/// The stored weights of one layer; which are present depends on the architecture. Norm vectors
/// and biases are F32; matrices are LinearWeights in whatever format the loader chose.
public struct DecoderLayer {
    public var attentionNorm: [Float]
    /// Q, K and V as one matrix (`attn_qkv`: Phi-3) or three.
    public var qkv: LinearWeight?
    public var q, k, v: LinearWeight?
    public var qkvBias: [Float]?
    public var qBias, kBias, vBias: [Float]?
    public var qNorm, kNorm: [Float]?
    public var o: LinearWeight
    public var oBias: [Float]?
    public var postAttentionNorm: [Float]?
    public var feedForwardNorm: [Float]
    /// Without a gate, `up` holds gate and up stacked (`ffn_up` of 2 × n_ff rows: Phi-3).
    public var gate: LinearWeight?
    public var up, down: LinearWeight
    public var gateBias, upBias, downBias: [Float]?
    public var postFeedForwardNorm: [Float]?
}

public final class DecoderModel: LanguageModel {
    public let config: DecoderConfig
    public var architecture: String { config.architecture }
    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var tokenizer: Tokenizer?
    public internal(set) var weights: [WeightInfo]   // var: calibration replaces matrices as it quantizes them
    public let pool: ThreadPool

    let graph: DecoderGraph
    let embedding: LinearWeight              // [vocab, d]
    var layers: [DecoderLayer]
    let outputNorm: [Float]
    let head: LinearWeight                   // the embedding itself when tied
    let headBias: [Float]?

    init(config: DecoderConfig, graph: DecoderGraph, embedding: LinearWeight, layers: [DecoderLayer], outputNorm: [Float],
         head: LinearWeight, headBias: [Float]?, weights: [WeightInfo], tokenizer: Tokenizer?, threads: Int) {
        self.config = config; self.graph = graph; self.embedding = embedding; self.layers = layers
        self.outputNorm = outputNorm; self.head = head; self.headBias = headBias; self.weights = weights
        self.tokenizer = tokenizer
        pool = ThreadPool(threads: threads)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.layerCount, kvDim: config.kvDim, capacity: min(max(capacity, 1), config.contextLength))
    }

    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float] {
        let c = config
        let T = tokens.count, d = c.embeddingSize, v = c.vocabSize
        guard T > 0 else { throw CoreError.invalid("forward needs at least one token") }
        for t in tokens where t < 0 || t >= v {
            throw CoreError.invalid("token id \(t) is out of range: the vocabulary has \(v) tokens (0 ..< \(v))")
        }
        guard cache.layers == c.layerCount, cache.kvDim == c.kvDim else {
            throw CoreError.invalid("KV cache of \(cache.layers) layers × \(cache.kvDim) does not fit this model (\(c.layerCount) × \(c.kvDim))")
        }
        try cache.checkRoom(for: T)
        guard cache.length + T <= c.contextLength else {
            throw CoreError.invalid("sequence of \(cache.length + T) tokens exceeds the context of \(c.contextLength)")
        }
        let p = DecoderPass(model: self, rows: T, cache: cache)
        for (t, token) in tokens.enumerated() {
            let row = p.x + t * d
            embedding.dequantizeRow(token, into: row)
            if c.embeddingScale != 1 { for i in 0..<d { row[i] *= c.embeddingScale } }
        }
        for l in 0..<c.layerCount { graph.layer(l, p) }
        cache.advance(by: T)

        let first = allLogits ? 0 : T - 1, n = T - first
        DecoderOps.rmsNorm(p.x + first * d, rows: n, dim: d, weight: outputNorm, eps: c.rmsEpsilon, into: p.h)
        var logits = [Float](repeating: 0, count: n * v)
        logits.withUnsafeMutableBufferPointer { out in
            head.forward(p.h, rows: n, bias: headBias, into: out.baseAddress!, pool: pool)
            if let cap = c.finalLogitSoftcap {
                for i in 0..<out.count { out[i] = cap * Foundation.tanh(out[i] / cap) }
            }
        }
        return logits
    }
}

/// One forward pass over `rows` new positions: the buffers and the steps a layer graph is written
/// in. `x` is the residual stream; `h` the sublayer's working row (its input after a norm, its
/// output after a projection); `q`, `k`, `v`, `att` the attention's; `gate` and `up` the
/// feed-forward's.
final class DecoderPass {
    let model: DecoderModel
    let c: DecoderConfig
    let rows: Int, start: Int
    let cache: KVCache
    let x, h, q, k, v, att, gate, up: UnsafeMutablePointer<Float>
    private let buffers: [UnsafeMutablePointer<Float>]

    init(model: DecoderModel, rows T: Int, cache: KVCache) {
        self.model = model; c = model.config; rows = T; self.cache = cache; start = cache.length
        let d = c.embeddingSize, f = c.feedForwardSize
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> { .allocate(capacity: max(n, 1)) }
        x = buffer(T * d); h = buffer(T * max(d, c.qDim)); q = buffer(T * c.qDim)
        k = buffer(T * c.kvDim); v = buffer(T * c.kvDim); att = buffer(T * c.qDim)
        gate = buffer(T * 2 * f); up = buffer(T * f)
        buffers = [x, h, q, k, v, att, gate, up]
    }

    deinit { for b in buffers { b.deallocate() } }

    var pool: ThreadPool { model.pool }
    func weights(_ l: Int) -> DecoderLayer { model.layers[l] }

    /// `dst = rmsnorm(src) · w` over rows of `dim` (the embedding size unless given).
    func norm(_ src: UnsafeMutablePointer<Float>, _ w: [Float], into dst: UnsafeMutablePointer<Float>, rows n: Int? = nil, dim: Int? = nil) {
        DecoderOps.rmsNorm(src, rows: n ?? rows, dim: dim ?? c.embeddingSize, weight: w, eps: c.rmsEpsilon, into: dst)
    }

    /// Per-head RMSNorm of the queries and keys (Qwen 3's and Gemma 3's attn_q_norm, attn_k_norm).
    func normalizeHeads(_ w: DecoderLayer) {
        if let qn = w.qNorm { norm(q, qn, into: q, rows: rows * c.headCount, dim: c.headSize) }
        if let kn = w.kNorm { norm(k, kn, into: k, rows: rows * c.kvHeadCount, dim: c.headSize) }
    }

    /// Calibration's view of the pass (Calibration/DecoderCalibration.swift): shown every matrix with
    /// its input before it is applied (it may read or replace the input); returning false skips that
    /// projection and every later one of the pass.
    var tap: ((LinearWeight, UnsafeMutablePointer<Float>) -> Bool)?
    private var tapped = false

    /// `y = x · Wᵀ (+ b)`.
    func project(_ w: LinearWeight, _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, bias: [Float]? = nil) {
        if let tap, !tapped { tapped = !tap(w, UnsafeMutablePointer(mutating: src)) }
        if tapped { return }
        w.forward(src, rows: rows, bias: bias, into: dst, pool: pool)
    }

    /// llama.cpp's `build_qkv`: Q, K, V from `h`, through one fused matrix or three, with biases.
    func qkv(_ w: DecoderLayer) {
        let qd = c.qDim, kvd = c.kvDim
        if let fused = w.qkv {
            let width = qd + 2 * kvd
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
            defer { tmp.deallocate() }
            let bias = w.qkvBias ?? (w.qBias.flatMap { qb in w.kBias.flatMap { kb in w.vBias.map { qb + kb + $0 } } })
            project(fused, h, into: tmp, bias: bias)
            for t in 0..<rows {
                let src = tmp + t * width
                (q + t * qd).update(from: src, count: qd)
                (k + t * kvd).update(from: src + qd, count: kvd)
                (v + t * kvd).update(from: src + qd + kvd, count: kvd)
            }
        } else {
            project(w.q!, h, into: q, bias: w.qBias)
            project(w.k!, h, into: k, bias: w.kBias)
            project(w.v!, h, into: v, bias: w.vBias)
        }
    }

    /// `ggml_rope_ext` on the queries and keys of layer `l`: local (sliding-window) layers turn by
    /// their own base and scale.
    func rope(_ l: Int) {
        let local = c.isLocal[l]
        let base = local ? c.localRopeBase : c.rope.base, scale = local ? c.localRopeScale : c.rope.freqScale
        let factors = c.rope.factors(context: cache.capacity)
        for t in 0..<rows {
            DecoderOps.rope(q + t * c.qDim, heads: c.headCount, headSize: c.headSize, position: start + t, c.rope,
                            base: base, freqScale: scale, factors: factors)
            DecoderOps.rope(k + t * c.kvDim, heads: c.kvHeadCount, headSize: c.headSize, position: start + t, c.rope,
                            base: base, freqScale: scale, factors: factors)
        }
    }

    /// `ggml_scale` of the queries (the architectures that scale Q instead of the scores).
    func scaleQueries(_ s: Float) {
        for i in 0..<rows * c.qDim { q[i] *= s }
    }

    /// llama.cpp's `build_attn` without its output projection: K and V into the cache (rounded to
    /// F16, llama.cpp's default cache type: it keeps exprun's logits within llama.cpp's own
    /// batch-vs-step noise), then attention of the new queries over everything cached, into `att`.
    func attention(_ l: Int, scale: Float, softcap: Float? = nil) {
        let kvd = c.kvDim
        let keys = cache.keys[l], values = cache.values[l]
        for i in 0..<rows * kvd {
            keys[start * kvd + i] = Float(Float16(k[i]))
            values[start * kvd + i] = Float(Float16(v[i]))
        }
        DecoderOps.attention(queries: q, rows: rows, start: start, keys: keys, values: values,
                             heads: c.headCount, kvHeads: c.kvHeadCount, headSize: c.headSize, scale: scale, softcap: softcap,
                             window: c.isLocal[l] ? c.slidingWindow : nil, into: att, pool: pool)
    }

    /// llama.cpp's `build_ffn` on `h`, into `h`: gate and up in parallel (LLM_FFN_PAR), or, without a
    /// gate matrix, one `up` whose first half is the gate (LLM_FFN_SWIGLU after a fused projection).
    func feedForward(_ w: DecoderLayer) {
        let f = c.feedForwardSize
        if let g = w.gate {
            project(g, h, into: gate, bias: w.gateBias)
            project(w.up, h, into: up, bias: w.upBias)
        } else {
            project(w.up, h, into: gate, bias: w.upBias)          // rows of [gate | up]
            for t in 0..<rows {       // in order, each row's halves are read before anything overwrites them
                memcpy(up + t * f, gate + t * 2 * f + f, f * MemoryLayout<Float>.size)
                memmove(gate + t * f, gate + t * 2 * f, f * MemoryLayout<Float>.size)
            }
        }
        DecoderOps.gatedActivation(gate, up, count: rows * f, c.activation, pool: pool)
        project(w.down, gate, into: h, bias: w.downBias)
    }

    /// `x += h`, the residual connection.
    func addToResidual() {
        for i in 0..<rows * c.embeddingSize { x[i] += h[i] }
    }
}
