// BERT (Devlin et al. 2018, "BERT: Pre-training of Deep Bidirectional Transformers for Language
// Understanding") as Hugging Face transformers' BertModel computes it, with its checkpoint names:
//
//   x = LayerNorm( word_embeddings[token] + position_embeddings[position] + token_type_embeddings[0] )
//   for each encoder.layer[i]  (post-LN: the norm comes after each residual sum)
//       a = softmax( (x·Wq + bq)(x·Wk + bk)ᵀ / √head_size ) (x·Wv + bv)     per head, no mask
//       x = LayerNorm( x + attention.output.dense(a) )
//       x = LayerNorm( x + output.dense( gelu(intermediate.dense(x)) ) )     gelu: the erf form
//   last_hidden_state = x
//
// Token type 0 throughout (one segment, as sentence-transformers encodes); LayerNorm eps from the
// config (1e-12 for most BERTs). The pooler (`pooler.dense`) is never used by sentence embeddings
// and is not loaded, nor the `position_ids` buffer. Several texts run as one batch *packed*: their
// tokens are the rows of one matrix (no padding), every linear layer multiplies all rows at once,
// and attention runs per text over that text's own positions only.
import Foundation

/// The hyperparameters of config.json that BertModel uses, with transformers' defaults.
public struct BertConfig: Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEpsilon: Float

    public var headSize: Int { hiddenSize / headCount }

    public init(_ c: HFConfig) throws {
        let type = try c.string("model_type")
        guard type == "bert" else {
            throw CoreError.file(c.source, type == nil ? "missing model_type (expected \"bert\")" : "model_type \(quoted: type!) is not an encoder exprun knows (known: bert)")
        }
        vocabSize = try c.int("vocab_size", default: 30522)
        hiddenSize = try c.int("hidden_size", default: 768)
        layerCount = try c.int("num_hidden_layers", default: 12)
        headCount = try c.int("num_attention_heads", default: 12)
        intermediateSize = try c.int("intermediate_size", default: 3072)
        maxPositions = try c.int("max_position_embeddings", default: 512)
        typeVocabSize = try c.int("type_vocab_size", default: 2)
        layerNormEpsilon = Float(try c.double("layer_norm_eps") ?? 1e-12)
        guard hiddenSize % headCount == 0 else {
            throw CoreError.file(c.source, "hidden_size (\(hiddenSize)) must be a multiple of num_attention_heads (\(headCount))")
        }
        let act = try c.string("hidden_act") ?? "gelu"
        guard act == "gelu" else {
            throw CoreError.file(c.source, "hidden_act \(quoted: act) is not supported for BERT (only 'gelu', the erf form)")
        }
        if let p = try c.string("position_embedding_type"), p != "absolute" {
            throw CoreError.file(c.source, "position_embedding_type \(quoted: p) is not supported (only 'absolute')")
        }
        if try c.bool("is_decoder") == true {
            throw CoreError.file(c.source, "is_decoder is true: a causal BERT is not an encoder")
        }
        guard layerNormEpsilon > 0, layerNormEpsilon.isFinite else { throw CoreError.file(c.source, "layer_norm_eps must be positive") }
    }
}

public final class BERT {
    struct Layer {
        var query, key, value: LinearWeight
        var queryBias, keyBias, valueBias: [Float]
        var attentionOutput: LinearWeight          // attention.output.dense
        var attentionOutputBias: [Float]
        var attentionNormWeight, attentionNormBias: [Float]   // attention.output.LayerNorm
        var intermediate: LinearWeight             // intermediate.dense [ff, d]
        var intermediateBias: [Float]
        var output: LinearWeight                   // output.dense [d, ff]
        var outputBias: [Float]
        var outputNormWeight, outputNormBias: [Float]         // output.LayerNorm
        /// AWQ's scales where the op before a linear layer cannot absorb them (BERTCalibration.swift):
        /// the input of query/key/value and of intermediate.dense divided by these (the LayerNorm
        /// before them also feeds the residual), and gelu's output (a scaled activation).
        var attentionInputScales: [Float]? = nil
        var intermediateInputScales: [Float]? = nil
        var activationScales: [Float]? = nil
    }

    public let config: BertConfig
    /// What each tensor is stored as (a calibrated method replaces the linear layers after loading).
    public internal(set) var weights: [WeightInfo]
    public let pool: ThreadPool

    let wordEmbeddings: LinearWeight               // [vocab, d]: rows looked up
    let positionEmbeddings: LinearWeight           // [max_positions, d]
    let tokenTypeEmbedding: [Float]                // row 0 of token_type_embeddings
    let embeddingNormWeight, embeddingNormBias: [Float]
    var layers: [Layer]
    /// Scratch space of the last batch, kept for the next: fresh pages for every batch cost 6% of
    /// the time (the kernel zeroing them).
    private let workspace = Workspace()

    final class Workspace {
        private var buffer: UnsafeMutablePointer<Float>?
        private var capacity = 0
        func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
            if count > capacity {
                buffer?.deallocate()
                buffer = .allocate(capacity: count)
                capacity = count
            }
            return buffer!
        }
        deinit { buffer?.deallocate() }
    }

    /// Where weights come from: `name` as in a BertModel checkpoint (`encoder.layer.0.attention.self.query.weight`),
    /// `shape` the expected stored shape (a vector is one row).
    public typealias WeightSource = (_ name: String, _ shape: [Int]) throws -> WeightRows

    /// Builds the model from `source`, storing each weight as `quantization` says: the linear layers
    /// by the method's rule for linear weights, the word embeddings by its rule for embeddings; the
    /// position and token-type tables as embeddings too, except that llama.cpp's block types leave
    /// them in F32 (llama-quantize never quantizes them); biases and LayerNorms always F32.
    public init(config: BertConfig, source: WeightSource, quantization: QuantizationConfig = .fp32, threads: Int = 1) throws {
        self.config = config
        pool = ThreadPool(threads: threads)
        let d = config.hiddenSize, f = config.intermediateSize
        var infos: [WeightInfo] = []

        func vector(_ name: String, _ n: Int) throws -> [Float] {
            let x = try source(name, [n]).all()
            infos.append(WeightInfo(name: name, format: "fp32", shape: [n], storedBytes: 4 * n, parameters: n))
            return x
        }
        // A K-quant mix gives each matrix the type llama-quantize would (Quant/KQuantMix.swift).
        let mix = Self.mixTypes(quantization, config)
        func matrix(_ name: String, out: Int, in inF: Int, role: WeightRole, keepF32: Bool = false) throws -> LinearWeight {
            let rows = try source(name + ".weight", [out, inF])
            let quantized = !keepF32 && Quantization.applies(to: name, role: role, config: quantization)
            let w = try Quantization.quantize(rows, config: mix.map { $0[name + ".weight"] ?? .fp32 } ?? (quantized ? quantization : .fp32))
            infos.append(WeightInfo(name: name + ".weight", format: w.format, shape: [out, inF], storedBytes: w.storedBytes,
                                    parameters: out * inF, note: w.note))
            return w
        }
        let blockType: Bool
        switch GGMLTarget(name: quantization.method) {
        case .mix?: blockType = true
        case let .pure(format)?: blockType = format.blockSize > 1
        case nil: blockType = false
        }

        wordEmbeddings = try matrix("embeddings.word_embeddings", out: config.vocabSize, in: d, role: .embedding)
        positionEmbeddings = try matrix("embeddings.position_embeddings", out: config.maxPositions, in: d, role: .embedding, keepF32: blockType)
        let types = try source("embeddings.token_type_embeddings.weight", [config.typeVocabSize, d]).all()
        infos.append(WeightInfo(name: "embeddings.token_type_embeddings.weight", format: "fp32", shape: [config.typeVocabSize, d],
                                storedBytes: 4 * types.count, parameters: types.count))
        tokenTypeEmbedding = Array(types[0..<d])
        embeddingNormWeight = try vector("embeddings.LayerNorm.weight", d)
        embeddingNormBias = try vector("embeddings.LayerNorm.bias", d)
        var layers: [Layer] = []
        for i in 0..<config.layerCount {
            let p = "encoder.layer.\(i)."
            layers.append(Layer(
                query: try matrix(p + "attention.self.query", out: d, in: d, role: .linear),
                key: try matrix(p + "attention.self.key", out: d, in: d, role: .linear),
                value: try matrix(p + "attention.self.value", out: d, in: d, role: .linear),
                queryBias: try vector(p + "attention.self.query.bias", d),
                keyBias: try vector(p + "attention.self.key.bias", d),
                valueBias: try vector(p + "attention.self.value.bias", d),
                attentionOutput: try matrix(p + "attention.output.dense", out: d, in: d, role: .linear),
                attentionOutputBias: try vector(p + "attention.output.dense.bias", d),
                attentionNormWeight: try vector(p + "attention.output.LayerNorm.weight", d),
                attentionNormBias: try vector(p + "attention.output.LayerNorm.bias", d),
                intermediate: try matrix(p + "intermediate.dense", out: f, in: d, role: .linear),
                intermediateBias: try vector(p + "intermediate.dense.bias", f),
                output: try matrix(p + "output.dense", out: d, in: f, role: .linear),
                outputBias: try vector(p + "output.dense.bias", d),
                outputNormWeight: try vector(p + "output.LayerNorm.weight", d),
                outputNormBias: try vector(p + "output.LayerNorm.bias", d)))
        }
        self.layers = layers
        weights = infos
    }

    /// llama.cpp's name (convert_hf_to_gguf.py's) of each BertModel tensor.
    static func ggufNames(layers: Int) -> [String: String] {
        var names: [String: String] = [
            "embeddings.word_embeddings.weight": "token_embd.weight", "embeddings.position_embeddings.weight": "position_embd.weight",
            "embeddings.token_type_embeddings.weight": "token_types.weight",
            "embeddings.LayerNorm.weight": "token_embd_norm.weight", "embeddings.LayerNorm.bias": "token_embd_norm.bias",
        ]
        for i in 0..<layers {
            for (hf, gguf) in [("attention.self.query", "attn_q"), ("attention.self.key", "attn_k"), ("attention.self.value", "attn_v"),
                               ("attention.output.dense", "attn_output"), ("attention.output.LayerNorm", "attn_output_norm"),
                               ("intermediate.dense", "ffn_up"), ("output.dense", "ffn_down"), ("output.LayerNorm", "layer_output_norm")] {
                for part in ["weight", "bias"] { names["encoder.layer.\(i).\(hf).\(part)"] = "blk.\(i).\(gguf).\(part)" }
            }
        }
        return names
    }

    /// The type llama-quantize gives each matrix of this model under a K-quant mix (nil for any
    /// other method), by BertModel name; matrices the mix leaves alone have no entry.
    static func mixTypes(_ quantization: QuantizationConfig, _ c: BertConfig) -> [String: QuantizationConfig]? {
        let d = c.hiddenSize, f = c.intermediateSize
        var shapes = ["embeddings.word_embeddings.weight": [d, c.vocabSize], "embeddings.position_embeddings.weight": [d, c.maxPositions],
                      "embeddings.token_type_embeddings.weight": [d, c.typeVocabSize]]
        for i in 0..<c.layerCount {
            let p = "encoder.layer.\(i)."
            for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] { shapes[p + m + ".weight"] = [d, d] }
            shapes[p + "intermediate.dense.weight"] = [d, f]
            shapes[p + "output.dense.weight"] = [f, d]
        }
        let names = ggufNames(layers: c.layerCount)
        let tensors = shapes.map { KQuantMix.Tensor(name: names[$0.key]!, dims: $0.value) }
        guard let types = Quantization.perTensor(quantization, tensors: tensors, model: KQuantMix.Model(architecture: "bert", layers: c.layerCount, gqa: 1)) else {
            return nil
        }
        return Dictionary(uniqueKeysWithValues: shapes.keys.compactMap { name in types[names[name]!].map { (name, $0) } })
    }

    /// Names a BertModel checkpoint holds that the model does not use.
    public static func isUnused(_ name: String) -> Bool {
        name == "embeddings.position_ids" || name.hasPrefix("pooler.")
    }

    /// The last hidden state of each sequence, run alone (no padding, attention within the sequence):
    /// `[Σ nᵢ, hidden]`, the sequences' rows one after another. `layerOutput(k, rows)` sees the
    /// embedding output (k = 0) and each layer's output (k = 1 ... layers), all sequences' rows.
    public func forward(_ sequences: [[Int]], layerOutput: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil) throws -> [Float] {
        let d = config.hiddenSize, f = config.intermediateSize, v = config.vocabSize
        for s in sequences {
            guard !s.isEmpty else { throw CoreError.invalid("BERT needs at least one token per sequence ([CLS] [SEP] for an empty text)") }
            guard s.count <= config.maxPositions else {
                throw CoreError.invalid("sequence of \(s.count) tokens exceeds max_position_embeddings (\(config.maxPositions)); truncate it first")
            }
            for t in s where t < 0 || t >= v {
                throw CoreError.invalid("token id \(t) is out of range: the vocabulary has \(v) tokens (0 ..< \(v))")
            }
        }
        let T = sequences.reduce(0) { $0 + $1.count }
        guard T > 0 else { return [] }
        var starts: [Int] = [], offset = 0
        for s in sequences { starts.append(offset); offset += s.count }

        var x = [Float](repeating: 0, count: T * d)                   // the hidden states
        let work = workspace.reserve(T * (4 * d + f))
        let h = work, q = work + T * d, k = work + 2 * T * d, val = work + 3 * T * d   // a sublayer's output; q, k, v
        let hidden = work + 4 * T * d

        x.withUnsafeMutableBufferPointer { xb in
            let x = xb.baseAddress!
            let position = UnsafeMutablePointer<Float>.allocate(capacity: d)
            defer { position.deallocate() }
            for (s, tokens) in sequences.enumerated() {
                for (t, token) in tokens.enumerated() {
                    let row = x + (starts[s] + t) * d
                    wordEmbeddings.dequantizeRow(token, into: row)
                    positionEmbeddings.dequantizeRow(t, into: position)
                    for i in 0..<d { row[i] = (row[i] + position[i]) + tokenTypeEmbedding[i] }
                }
            }
            Self.layerNorm(x, rows: T, d: d, weight: embeddingNormWeight, bias: embeddingNormBias, eps: config.layerNormEpsilon, into: x)
            layerOutput?(0, UnsafeBufferPointer(xb))

            for (l, layer) in layers.enumerated() {
                // h is free until attention.output.dense writes it: it holds AWQ's scaled inputs.
                let attentionInput = divided(x, by: layer.attentionInputScales, rows: T, into: h)
                linear(layer.query, attentionInput, rows: T, bias: layer.queryBias, into: q)
                linear(layer.key, attentionInput, rows: T, bias: layer.keyBias, into: k)
                linear(layer.value, attentionInput, rows: T, bias: layer.valueBias, into: val)
                attention(q, k, val, sequences: sequences, starts: starts, into: hidden)
                linear(layer.attentionOutput, hidden, rows: T, bias: layer.attentionOutputBias, into: h)
                addAndNorm(h, x, rows: T, weight: layer.attentionNormWeight, bias: layer.attentionNormBias)

                linear(layer.intermediate, divided(x, by: layer.intermediateInputScales, rows: T, into: h), rows: T,
                       bias: layer.intermediateBias, into: hidden)
                gelu(hidden, rows: T, scales: layer.activationScales)
                linear(layer.output, hidden, rows: T, bias: layer.outputBias, into: h)
                addAndNorm(h, x, rows: T, weight: layer.outputNormWeight, bias: layer.outputNormBias)
                layerOutput?(l + 1, UnsafeBufferPointer(xb))
            }
        }
        return x
    }

    /// Multi-head attention of every sequence over its own positions, one (sequence, head) pair per
    /// job. The pair's keys are first transposed to `[head_size, n]`, so that scores come sixteen
    /// keys at a time from broadcast multiply-adds (a 32-wide head would otherwise spend more on
    /// each score's horizontal sum than on its products); queries go four at a time, so every key
    /// and value vector loaded serves four independent multiply-add chains.
    func attention(_ q: UnsafeMutablePointer<Float>, _ k: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                           sequences: [[Int]], starts: [Int], into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let d = config.hiddenSize, hs = config.headSize, heads = config.headCount
        let scale = 1 / Float(hs).squareRoot()
        let longest = ((sequences.map(\.count).max() ?? 0) + 15) / 16 * 16
        pool.parallelFor(sequences.count * heads) { range in
            let keys = UnsafeMutablePointer<Float>.allocate(capacity: hs * longest)   // [hs, n rounded up to 16]
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: 4 * longest)  // four queries' rows
            defer { keys.deallocate(); scores.deallocate() }
            for job in range {
                let s = job / heads, head = job % heads, start = starts[s], n = sequences[s].count
                let width = (n + 15) / 16 * 16
                for j in 0..<n {
                    let kj = k + (start + j) * d + head * hs
                    for i in 0..<hs { keys[i * width + j] = kj[i] }
                }
                for i in 0..<hs { for j in n..<width { keys[i * width + j] = 0 } }
                for t0 in stride(from: 0, to: n, by: 4) {
                    // Past the last query the block repeats it; those rows are not stored.
                    let q0 = q + (start + t0) * d + head * hs
                    let q1 = q + (start + min(t0 + 1, n - 1)) * d + head * hs
                    let q2 = q + (start + min(t0 + 2, n - 1)) * d + head * hs
                    let q3 = q + (start + min(t0 + 3, n - 1)) * d + head * hs
                    for c in stride(from: 0, to: width, by: 16) {
                        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                        for i in 0..<hs {
                            let row = UnsafeRawPointer(keys + i * width + c).loadUnaligned(as: V.self)
                            a0.addProduct(V(repeating: q0[i]), row)
                            a1.addProduct(V(repeating: q1[i]), row)
                            a2.addProduct(V(repeating: q2[i]), row)
                            a3.addProduct(V(repeating: q3[i]), row)
                        }
                        UnsafeMutableRawPointer(scores + c).storeBytes(of: a0 * scale, as: V.self)
                        UnsafeMutableRawPointer(scores + longest + c).storeBytes(of: a1 * scale, as: V.self)
                        UnsafeMutableRawPointer(scores + 2 * longest + c).storeBytes(of: a2 * scale, as: V.self)
                        UnsafeMutableRawPointer(scores + 3 * longest + c).storeBytes(of: a3 * scale, as: V.self)
                    }
                    var inv = SIMD4<Float>()
                    for r in 0..<4 {
                        let row = scores + r * longest
                        // Compare-and-blend maxima: the standard library's pointwiseMax / max() go
                        // lane by lane (with NaN rules), which took a fifth of attention's time.
                        var m = V(repeating: -.infinity), j = 0
                        while j + 16 <= n {
                            let x = UnsafeRawPointer(row + j).loadUnaligned(as: V.self)
                            m = m.replacing(with: x, where: x .> m)
                            j += 16
                        }
                        let m8 = m.lowHalf.replacing(with: m.highHalf, where: m.highHalf .> m.lowHalf)
                        let m4 = m8.lowHalf.replacing(with: m8.highHalf, where: m8.highHalf .> m8.lowHalf)
                        var mx = Swift.max(Swift.max(m4[0], m4[1]), Swift.max(m4[2], m4[3]))
                        while j < n { mx = Swift.max(mx, row[j]); j += 1 }
                        inv[r] = 1 / Activation.softmaxNumerators(row, count: n, max: mx)
                    }
                    if hs % 16 != 0 {           // narrow heads (small test models): plain loops
                        for r in 0..<4 where t0 + r < n {
                            let o = out + (start + t0 + r) * d + head * hs
                            o.initialize(repeating: 0, count: hs)
                            for j in 0..<n {
                                let w = scores[r * longest + j] * inv[r], vj = v + (start + j) * d + head * hs
                                for i in 0..<hs { o[i] += w * vj[i] }
                            }
                        }
                        continue
                    }
                    for c in stride(from: 0, to: hs, by: 16) {
                        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                        let column = UnsafeRawPointer(v + start * d + head * hs + c)
                        for j in 0..<n {
                            let value = column.loadUnaligned(fromByteOffset: j * d * 4, as: V.self)
                            a0.addProduct(V(repeating: scores[j]), value)
                            a1.addProduct(V(repeating: scores[longest + j]), value)
                            a2.addProduct(V(repeating: scores[2 * longest + j]), value)
                            a3.addProduct(V(repeating: scores[3 * longest + j]), value)
                        }
                        let o = UnsafeMutableRawPointer(out + (start + t0) * d + head * hs + c)
                        o.storeBytes(of: a0 * inv[0], as: V.self)
                        if t0 + 1 < n { o.storeBytes(of: a1 * inv[1], toByteOffset: d * 4, as: V.self) }
                        if t0 + 2 < n { o.storeBytes(of: a2 * inv[2], toByteOffset: 2 * d * 4, as: V.self) }
                        if t0 + 3 < n { o.storeBytes(of: a3 * inv[3], toByteOffset: 3 * d * 4, as: V.self) }
                    }
                }
            }
        }
    }

    /// `y = x·Wᵀ + b` a slab of rows at a time: a batch of 32 texts is thousands of rows, and a
    /// kernel that streams every row past each tile of weights then streams them from memory (it
    /// cost a third more time at batch 32 than at batch 1); a slab of about 256 KB stays in L2.
    /// Rows are independent in every format but bnb-int8, whose outlier columns are those of the
    /// slab's rows (bitsandbytes takes a padded batch's, padding included: no packing matches it).
    func linear(_ w: LinearWeight, _ x: UnsafePointer<Float>, rows: Int, bias: [Float], into y: UnsafeMutablePointer<Float>) {
        let slab = max(16, (1 << 16) / w.inFeatures / 16 * 16)
        for r0 in stride(from: 0, to: rows, by: slab) {
            w.forward(x + r0 * w.inFeatures, rows: min(slab, rows - r0), bias: bias, into: y + r0 * w.outFeatures, pool: pool)
        }
    }

    /// `x` with each row divided by `scales` (AWQ's input scales), written to `y`; `x` itself without them.
    func divided(_ x: UnsafeMutablePointer<Float>, by scales: [Float]?, rows: Int, into y: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        guard let scales else { return x }
        let n = scales.count
        pool.parallelFor(rows, granule: 16) { range in
            for r in range { for i in 0..<n { y[r * n + i] = x[r * n + i] / scales[i] } }
        }
        return y
    }

    /// gelu (the erf form) in place over `rows` rows of intermediate_size, then divided by AWQ's
    /// activation scales where a calibration set them.
    func gelu(_ h: UnsafeMutablePointer<Float>, rows: Int, scales: [Float]?) {
        let f = config.intermediateSize
        pool.parallelFor(rows * f, granule: 4096) { r in Activation.geluErf(h + r.lowerBound, count: r.count) }
        if let scales { _ = divided(h, by: scales, rows: rows, into: h) }
    }

    /// x ← LayerNorm(sublayer + x), rows split over the pool.
    func addAndNorm(_ sublayer: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, rows: Int, weight: [Float], bias: [Float]) {
        let d = config.hiddenSize, eps = config.layerNormEpsilon
        pool.parallelFor(rows, granule: 16) { range in
            let h = sublayer + range.lowerBound * d, xr = x + range.lowerBound * d
            for i in 0..<range.count * d { h[i] += xr[i] }
            BERT.layerNorm(h, rows: range.count, d: d, weight: weight, bias: bias, eps: eps, into: xr)
        }
    }

    /// y = (x − mean) / √(var + eps) · weight + bias per row (y may be x).
    static func layerNorm(_ x: UnsafePointer<Float>, rows: Int, d: Int, weight: [Float], bias: [Float], eps: Float,
                          into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * d, yr = y + r * d
            var mean: Float = 0
            for i in 0..<d { mean += xr[i] }
            mean /= Float(d)
            var variance: Float = 0
            for i in 0..<d { let c = xr[i] - mean; variance += c * c }
            variance /= Float(d)
            let inv = 1 / (variance + eps).squareRoot()
            for i in 0..<d { yr[i] = (xr[i] - mean) * inv * weight[i] + bias[i] }
        }
    }
}
