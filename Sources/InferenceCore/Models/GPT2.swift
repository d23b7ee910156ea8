// GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"), as
// Hugging Face transformers' GPT2LMHeadModel computes it, with its checkpoint names:
//
//   x = wte[token] + wpe[position]
//   for each block h[i]:
//       x = x + attn.c_proj( causal_self_attention( attn.c_attn( ln_1(x) ) ) )
//       x = x + mlp.c_proj( gelu_new( mlp.c_fc( ln_2(x) ) ) )
//   logits = ln_f(x) · wteᵀ                      (the head is tied to wte unless lm_head.weight exists)
//
// Checkpoints store the four projections as Conv1D weights `[in, out]`; they are transposed once at
// load into `[out, in]` LinearWeights (quantized per the configuration), so every matrix product is
// a row-per-output-feature kernel. Keys and values of past positions live in a KVCache, so decoding
// a token costs one pass over the weights; a prompt is processed as one batch of rows.
import Foundation

/// The hyperparameters of config.json that GPT-2 uses, with transformers' defaults.
public struct GPT2Config: Sendable {
    public var vocabSize: Int
    public var contextLength: Int          // n_positions
    public var embeddingSize: Int          // n_embd
    public var layerCount: Int             // n_layer
    public var headCount: Int              // n_head
    public var innerSize: Int              // n_inner, default 4 × n_embd
    public var activation: String          // activation_function
    public var layerNormEpsilon: Float
    public var initializerRange: Float
    public var scaleAttentionWeights: Bool
    public var scaleAttentionByInverseLayer: Bool
    public var tieWordEmbeddings: Bool
    public var bosTokenID: Int?
    public var eosTokenID: Int?

    public var headSize: Int { embeddingSize / headCount }

    /// config.json keys of GPT2Config (others in a `random:` reference are typos).
    public static let knownKeys: Set<String> = [
        "vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
        "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range",
        "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
        "scale_attn_weights", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
        "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention",
        "tie_word_embeddings", "model_type", "architectures", "dtype", "torch_dtype", "transformers_version",
    ]

    /// GPT-2 small (124M), as openai-community/gpt2's config.json.
    public static let smallValues: [String: ParsedJSON] = [
        "model_type": .string("gpt2"), "vocab_size": .int(50257), "n_positions": .int(1024), "n_embd": .int(768),
        "n_layer": .int(12), "n_head": .int(12), "activation_function": .string("gelu_new"),
        "layer_norm_epsilon": .double(1e-5), "initializer_range": .double(0.02),
        "bos_token_id": .int(50256), "eos_token_id": .int(50256),
    ]

    public static let activations = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "relu", "silu", "swish"]

    public init(_ c: HFConfig) throws {
        if let t = try c.string("model_type"), t != "gpt2" {
            throw CoreError.file(c.source, "model_type is \(quoted: t), but this is the GPT-2 loader")
        }
        vocabSize = try c.int("vocab_size", default: 50257)
        contextLength = try c.int("n_positions", default: 1024)
        embeddingSize = try c.int("n_embd", default: 768)
        layerCount = try c.int("n_layer", default: 12)
        headCount = try c.int("n_head", default: 12)
        innerSize = try c.int("n_inner", default: 4 * embeddingSize, max: 1 << 34)
        activation = try c.string("activation_function") ?? "gelu_new"
        layerNormEpsilon = Float(try c.double("layer_norm_epsilon") ?? 1e-5)
        initializerRange = Float(try c.double("initializer_range") ?? 0.02)
        scaleAttentionWeights = try c.bool("scale_attn_weights") ?? true
        scaleAttentionByInverseLayer = try c.bool("scale_attn_by_inverse_layer_idx") ?? false
        tieWordEmbeddings = try c.bool("tie_word_embeddings") ?? true
        bosTokenID = try c.tokenID("bos_token_id")
        eosTokenID = try c.tokenID("eos_token_id")
        guard embeddingSize % headCount == 0 else {
            throw CoreError.file(c.source, "n_embd (\(embeddingSize)) must be a multiple of n_head (\(headCount))")
        }
        guard Self.activations.contains(activation) else {
            throw CoreError.file(c.source, "activation_function \(quoted: activation) is not supported (known: \(Self.activations.joined(separator: ", ")))")
        }
        guard layerNormEpsilon > 0, layerNormEpsilon.isFinite else { throw CoreError.file(c.source, "layer_norm_epsilon must be positive") }
        guard initializerRange >= 0, initializerRange.isFinite else { throw CoreError.file(c.source, "initializer_range must be non-negative") }
        if try c.bool("reorder_and_upcast_attn") == true {
            // Upcasting only changes half-precision runs; in float32 the result is the same.
        }
        if try c.bool("add_cross_attention") == true {
            throw CoreError.file(c.source, "add_cross_attention (an encoder-decoder GPT-2) is not supported")
        }
    }

    /// Parameters the weights hold, in floating point so that an absurd configuration cannot
    /// overflow before it is refused.
    public var parameterEstimate: Double {
        let d = Double(embeddingSize), f = Double(innerSize), v = Double(vocabSize)
        let block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (f * d + f) + (d * f + d)
        return v * d + Double(contextLength) * d + Double(layerCount) * block + 2 * d + (tieWordEmbeddings ? 0 : v * d)
    }

    /// Parameters the weights hold (wte, wpe, blocks, ln_f; a separate head when untied).
    public var parameterCount: Int {
        let d = embeddingSize, f = innerSize
        let block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (f * d + f) + (d * f + d)
        return vocabSize * d + contextLength * d + layerCount * block + 2 * d + (tieWordEmbeddings ? 0 : vocabSize * d)
    }
}

public final class GPT2: LanguageModel {
    struct Block {
        var ln1Weight, ln1Bias: [Float]
        var attention: LinearWeight        // c_attn: [3d, d] → q, k, v
        var attentionBias: [Float]
        var attentionProjection: LinearWeight   // attn.c_proj: [d, d]
        var attentionProjectionBias: [Float]
        var ln2Weight, ln2Bias: [Float]
        var fc: LinearWeight               // mlp.c_fc: [inner, d]
        var fcBias: [Float]
        var projection: LinearWeight       // mlp.c_proj: [d, inner]
        var projectionBias: [Float]
        /// AWQ's scaled activation (`mlp.act.scales`): the MLP's hidden values divided by these.
        var activationScales: [Float]? = nil
    }

    public let config: GPT2Config
    public var architecture: String { "gpt2" }
    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var tokenizer: Tokenizer?
    public internal(set) var weights: [WeightInfo]
    public let pool: ThreadPool

    let wte: LinearWeight                  // [vocab, d]: lookups by row, and the tied head
    let wpe: [Float]                       // [n_positions, d]
    var blocks: [Block]                    // var: calibration replaces weights as it quantizes them
    let lnfWeight, lnfBias: [Float]
    let head: LinearWeight                 // wte itself when tied

    /// Where weights come from: `name` is the checkpoint name without the `transformer.` prefix
    /// (`h.0.attn.c_attn.weight`), `shape` the stored shape; `transpose` asks for a Conv1D
    /// `[in, out]` weight as `[out, in]`. Rows are read as they are quantized (a vector is one row).
    public typealias WeightSource = (_ name: String, _ shape: [Int], _ transpose: Bool) throws -> WeightRows

    /// Builds the model from `source`, quantizing every linear weight per `quantization`.
    /// `hasLMHead`: the checkpoint has its own `lm_head.weight` (an untied head).
    /// `stored(name)` gives a linear layer already in its stored form (a GPTQ / AWQ checkpoint's
    /// packed codes), by checkpoint name without `.weight`; nil reads it from `source`.
    public init(config: GPT2Config, source: WeightSource, hasLMHead: Bool = false,
                quantization: QuantizationConfig = .fp32, threads: Int = 1, tokenizer: Tokenizer? = nil,
                stored: ((String) throws -> LinearWeight?)? = nil) throws {
        self.config = config
        self.tokenizer = tokenizer
        pool = ThreadPool(threads: threads)
        let d = config.embeddingSize, f = config.innerSize, v = config.vocabSize
        var infos: [WeightInfo] = []
        // A K-quant mix chooses each matrix's type by its llama.cpp name and layer.
        let mix = Quantization.perTensor(quantization, tensors: GGUFExport.gpt2Tensors(config, tiedHead: !hasLMHead && config.tieWordEmbeddings),
                                         model: GGUFExport.gpt2MixModel(config))

        func vector(_ name: String, _ n: Int) throws -> [Float] {
            let x = try source(name, [n], false).all()
            infos.append(WeightInfo(name: "transformer." + name, format: "fp32", shape: [n], storedBytes: 4 * n, parameters: n))
            return x
        }
        func linear(_ name: String, out: Int, in inF: Int, conv1D: Bool, role: WeightRole) throws -> LinearWeight {
            let full = name == "lm_head" ? name : "transformer." + name
            if let w = try stored?(full) {
                infos.append(WeightInfo(name: full + ".weight", format: w.format, shape: [out, inF], storedBytes: w.storedBytes, parameters: out * inF, note: w.note))
                return w
            }
            let rows = try source(name + ".weight", conv1D ? [inF, out] : [out, inF], conv1D)
            let config = Quantization.applies(to: full, role: role, config: quantization)
                ? mix?[GGUFExport.gpt2TensorName(name)] ?? quantization : .fp32
            let w = try Quantization.quantize(rows, config: config)
            infos.append(WeightInfo(name: full + ".weight", format: w.format, shape: [out, inF], storedBytes: w.storedBytes, parameters: out * inF, note: w.note))
            return w
        }

        // The blocks first, the embedding after them: a Conv1D matrix is read across its whole
        // file range for every chunk it is transposed in, so its file pages are briefly resident
        // (up to one matrix, 9 MB for GPT-2 small's MLP); loaded before the embedding, that stays
        // below the final footprint, and the embedding, read in order, gives its pages back as it goes.
        var blocks: [Block] = []
        for i in 0..<config.layerCount {
            let p = "h.\(i)."
            blocks.append(Block(
                ln1Weight: try vector(p + "ln_1.weight", d), ln1Bias: try vector(p + "ln_1.bias", d),
                attention: try linear(p + "attn.c_attn", out: 3 * d, in: d, conv1D: true, role: .linear),
                attentionBias: try vector(p + "attn.c_attn.bias", 3 * d),
                attentionProjection: try linear(p + "attn.c_proj", out: d, in: d, conv1D: true, role: .linear),
                attentionProjectionBias: try vector(p + "attn.c_proj.bias", d),
                ln2Weight: try vector(p + "ln_2.weight", d), ln2Bias: try vector(p + "ln_2.bias", d),
                fc: try linear(p + "mlp.c_fc", out: f, in: d, conv1D: true, role: .linear),
                fcBias: try vector(p + "mlp.c_fc.bias", f),
                projection: try linear(p + "mlp.c_proj", out: d, in: f, conv1D: true, role: .linear),
                projectionBias: try vector(p + "mlp.c_proj.bias", d)))
        }
        self.blocks = blocks
        let blockInfos = infos
        infos = []
        wte = try linear("wte", out: v, in: d, conv1D: false, role: .embedding)
        let positions = config.contextLength
        wpe = try source("wpe.weight", [positions, d], false).all()
        infos.append(WeightInfo(name: "transformer.wpe.weight", format: "fp32", shape: [positions, d], storedBytes: 4 * positions * d, parameters: positions * d))
        infos += blockInfos
        lnfWeight = try vector("ln_f.weight", d)
        lnfBias = try vector("ln_f.bias", d)
        if hasLMHead || !config.tieWordEmbeddings {
            head = try linear("lm_head", out: v, in: d, conv1D: false, role: .outputHead)
        } else {
            head = wte
        }
        weights = infos
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.layerCount, kvDim: config.embeddingSize, capacity: min(max(capacity, 1), config.contextLength))
    }

    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float] {
        let T = tokens.count, d = config.embeddingSize, f = config.innerSize, v = config.vocabSize
        guard T > 0 else { throw CoreError.invalid("forward needs at least one token") }
        for t in tokens where t < 0 || t >= v {
            throw CoreError.invalid("token id \(t) is out of range: the vocabulary has \(v) tokens (0 ..< \(v))")
        }
        guard cache.layers == config.layerCount, cache.kvDim == d else {
            throw CoreError.invalid("KV cache of \(cache.layers) layers × \(cache.kvDim) does not fit this model")
        }
        try cache.checkRoom(for: T)
        guard cache.length + T <= config.contextLength else {
            throw CoreError.invalid("sequence of \(cache.length + T) tokens exceeds the context of \(config.contextLength) (n_positions)")
        }
        let start = cache.length

        let x = UnsafeMutablePointer<Float>.allocate(capacity: T * d)        // the residual stream
        let h = UnsafeMutablePointer<Float>.allocate(capacity: T * d)        // normalized input of a sublayer
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: T * 3 * d)
        let att = UnsafeMutablePointer<Float>.allocate(capacity: T * d)
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: T * f)
        defer { for p in [x, h, qkv, att, hidden] { p.deallocate() } }

        for (t, token) in tokens.enumerated() {
            let row = x + t * d
            wte.dequantizeRow(token, into: row)
            wpe.withUnsafeBufferPointer { pe in
                let p = pe.baseAddress! + (start + t) * d
                for i in 0..<d { row[i] += p[i] }
            }
        }

        for (l, b) in blocks.enumerated() {
            // Attention sublayer.
            layerNorm(x, rows: T, weight: b.ln1Weight, bias: b.ln1Bias, into: h)
            b.attention.forward(h, rows: T, bias: b.attentionBias, into: qkv, pool: pool)
            let keys = cache.keys[l], values = cache.values[l]
            for t in 0..<T {
                (keys + (start + t) * d).update(from: qkv + t * 3 * d + d, count: d)
                (values + (start + t) * d).update(from: qkv + t * 3 * d + 2 * d, count: d)
            }
            attention(queries: qkv, rows: T, start: start, layer: l, keys: keys, values: values, into: att)
            b.attentionProjection.forward(att, rows: T, bias: b.attentionProjectionBias, into: h, pool: pool)
            for i in 0..<T * d { x[i] += h[i] }

            // Feed-forward sublayer.
            layerNorm(x, rows: T, weight: b.ln2Weight, bias: b.ln2Bias, into: h)
            b.fc.forward(h, rows: T, bias: b.fcBias, into: hidden, pool: pool)
            activate(hidden, count: T * f, scales: b.activationScales)
            b.projection.forward(hidden, rows: T, bias: b.projectionBias, into: h, pool: pool)
            for i in 0..<T * d { x[i] += h[i] }
        }
        cache.advance(by: T)

        let first = allLogits ? 0 : T - 1, n = T - first
        layerNorm(x + first * d, rows: n, weight: lnfWeight, bias: lnfBias, into: h)
        var logits = [Float](repeating: 0, count: n * v)
        logits.withUnsafeMutableBufferPointer { head.forward(h, rows: n, into: $0.baseAddress!, pool: pool) }
        return logits
    }

    /// Causal multi-head attention of `rows` new positions (`start ..< start + rows`) over every
    /// cached position up to each one; heads × rows are independent and split over the pool.
    func attention(queries qkv: UnsafeMutablePointer<Float>, rows T: Int, start: Int, layer: Int,
                           keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
                           into out: UnsafeMutablePointer<Float>) {
        let d = config.embeddingSize, hs = config.headSize, heads = config.headCount
        var scale: Float = config.scaleAttentionWeights ? 1 / Float(hs).squareRoot() : 1
        if config.scaleAttentionByInverseLayer { scale /= Float(layer + 1) }
        let positions = start + T
        // Waking a worker costs microseconds: a decode step over a short context is not worth
        // splitting (one job then covers every head).
        let work = heads * T * positions * hs
        pool.parallelFor(heads * T, granule: work < 1 << 16 ? heads * T : 1) { range in
            if T == 1 && hs % 16 == 0 {
                decodeAttention(heads: range, query: qkv, positions: positions, scale: scale, keys: keys, values: values, into: out)
                return
            }
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: positions)
            defer { scores.deallocate() }
            for job in range {
                let head = job % heads, t = job / heads
                let q = qkv + t * 3 * d + head * hs
                let seen = start + t + 1
                var m = -Float.infinity
                for j in 0..<seen {
                    let s = F32Linear.dot(q, keys + j * d + head * hs, hs) * scale
                    scores[j] = s
                    m = max(m, s)
                }
                let sum = Activation.softmaxNumerators(scores, count: seen, max: m)
                let o = out + t * d + head * hs
                o.initialize(repeating: 0, count: hs)
                let inv = 1 / sum
                if hs == 64 {
                    // Every GPT-2 size has 64-wide heads: one pass over the positions with the
                    // whole output row in four registers.
                    typealias V = SIMD16<Float>
                    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                    for j in 0..<seen {
                        let vj = UnsafeRawPointer(values + j * d + head * hs), w = V(repeating: scores[j])
                        a0.addProduct(w, vj.loadUnaligned(as: V.self))
                        a1.addProduct(w, vj.loadUnaligned(fromByteOffset: 64, as: V.self))
                        a2.addProduct(w, vj.loadUnaligned(fromByteOffset: 128, as: V.self))
                        a3.addProduct(w, vj.loadUnaligned(fromByteOffset: 192, as: V.self))
                    }
                    let ro = UnsafeMutableRawPointer(o)
                    ro.storeBytes(of: a0 * inv, as: V.self)
                    ro.storeBytes(of: a1 * inv, toByteOffset: 64, as: V.self)
                    ro.storeBytes(of: a2 * inv, toByteOffset: 128, as: V.self)
                    ro.storeBytes(of: a3 * inv, toByteOffset: 192, as: V.self)
                } else if hs % 16 == 0 {
                    // Sixteen lanes at a time: the pointers may alias as far as the compiler knows,
                    // so it would not vectorize the plain loop.
                    for c in stride(from: 0, to: hs, by: 16) {
                        var acc = SIMD16<Float>()
                        for j in 0..<seen {
                            let vj = UnsafeRawPointer(values + j * d + head * hs + c)
                            acc.addProduct(SIMD16(repeating: scores[j] * inv), vj.loadUnaligned(as: SIMD16<Float>.self))
                        }
                        UnsafeMutableRawPointer(o + c).storeBytes(of: acc, as: SIMD16<Float>.self)
                    }
                } else {
                    for j in 0..<seen {
                        let w = scores[j] * inv, vj = values + j * d + head * hs
                        for i in 0..<hs { o[i] += w * vj[i] }
                    }
                }
            }
        }
    }

    /// One new position (decode) attending with the heads `heads` over `positions` cached ones.
    /// Position by position rather than head by head: each cached key and value row is then read
    /// as one run of the heads' slices, where the per-head loop read 256 bytes every 3 KB (GPT-2
    /// 124M) and waited on memory for it. The arithmetic and its order are the per-head loop's, so
    /// decode gives the same bits as before and as a prompt's last position.
    func decodeAttention(heads: Range<Int>, query q: UnsafePointer<Float>, positions: Int, scale: Float,
                         keys: UnsafePointer<Float>, values: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let d = config.embeddingSize, hs = config.headSize, n = heads.count, h0 = heads.lowerBound
        // Head i's scores at i × positions, then each head's maximum and the inverse of its sum.
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: n * positions + 2 * n)
        defer { scores.deallocate() }
        let maxima = scores + n * positions, inverses = maxima + n
        maxima.initialize(repeating: -.infinity, count: n)
        inverses.initialize(repeating: 1, count: n)
        for j in 0..<positions {
            let kj = keys + j * d + h0 * hs
            for i in 0..<n {
                let s = F32Linear.dot(q + (h0 + i) * hs, kj + i * hs, hs) * scale
                scores[i * positions + j] = s
                maxima[i] = max(maxima[i], s)
            }
        }
        // 64-wide heads (every GPT-2 size) weight the values by the softmax numerators and divide
        // once at the end, other widths weight them by the probabilities, as the per-head loop does.
        for i in 0..<n {
            let row = scores + i * positions
            let inv = 1 / Activation.softmaxNumerators(row, count: positions, max: maxima[i])
            if hs == 64 { inverses[i] = inv } else { for j in 0..<positions { row[j] *= inv } }
        }
        let o = UnsafeMutableRawPointer(out + h0 * hs)
        o.initializeMemory(as: Float.self, repeating: 0, count: n * hs)
        for j in 0..<positions {
            let vj = UnsafeRawPointer(values + j * d + h0 * hs)
            for i in 0..<n {
                let w = V(repeating: scores[i * positions + j])
                for c in stride(from: i * hs * 4, to: (i + 1) * hs * 4, by: 64) {
                    var a = o.loadUnaligned(fromByteOffset: c, as: V.self)
                    a.addProduct(w, vj.loadUnaligned(fromByteOffset: c, as: V.self))
                    o.storeBytes(of: a, toByteOffset: c, as: V.self)
                }
            }
        }
        if hs == 64 {
            for i in 0..<n {
                for c in stride(from: i * hs * 4, to: (i + 1) * hs * 4, by: 64) {
                    o.storeBytes(of: o.loadUnaligned(fromByteOffset: c, as: V.self) * inverses[i], toByteOffset: c, as: V.self)
                }
            }
        }
    }

    /// Rows are independent: a prompt's are split over the pool (on one thread the 25 norms of a
    /// 64-token prompt took a few percent of prefill, which a second thread would otherwise wait on).
    func layerNorm(_ x: UnsafePointer<Float>, rows: Int, weight: [Float], bias: [Float], into y: UnsafeMutablePointer<Float>) {
        let d = config.embeddingSize, eps = config.layerNormEpsilon
        pool.parallelFor(rows, granule: 8) { r in
            BERT.layerNorm(x + r.lowerBound * d, rows: r.count, d: d, weight: weight, bias: bias, eps: eps, into: y + r.lowerBound * d)
        }
    }

    /// The MLP's nonlinearity, element-wise, split over the pool (tanh is not free at 3072 × rows),
    /// then divided by AWQ's activation scales where a checkpoint has them.
    func activate(_ x: UnsafeMutablePointer<Float>, count: Int, scales: [Float]? = nil) {
        defer {
            if let scales {
                let f = scales.count
                scales.withUnsafeBufferPointer { s in for i in 0..<count { x[i] /= s[i % f] } }
            }
        }
        let kind = config.activation
        pool.parallelFor(count, granule: 4096) { range in
            switch kind {
            case "gelu", "gelu_python":
                for i in range { x[i] = GPT2.geluErf(x[i]) }
            case "relu":
                for i in range { x[i] = max(x[i], 0) }
            case "silu", "swish":
                Activation.silu(x + range.lowerBound, count: range.count)
            default:                        // gelu_new, gelu_pytorch_tanh, gelu_fast
                Activation.geluTanh(x + range.lowerBound, count: range.count)
            }
        }
    }

    /// gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Hendrycks & Gimpel's tanh form, as in the original GPT-2).
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    @inline(__always) static func geluErf(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.erf(x * 0.7071067811865476))
    }
}
