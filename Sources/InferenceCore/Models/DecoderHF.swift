// Decoder-only models from a Hugging Face directory (config.json + safetensors) as transformers
// saves them: `model_type` llama (and mistral), qwen2, qwen3. Their tensors map onto DecoderModel,
// which keeps llama.cpp's names inside (WeightInfo, calibration):
//
//   transformers                                      DecoderModel (llama.cpp)
//   model.embed_tokens.weight                         token_embd
//   model.layers.L.input_layernorm.weight             blk.L.attn_norm
//   model.layers.L.self_attn.{q,k,v,o}_proj           blk.L.attn_{q,k,v,output}   (.weight and .bias)
//   model.layers.L.self_attn.{q,k}_norm.weight        blk.L.attn_{q,k}_norm       (Qwen 3)
//   model.layers.L.post_attention_layernorm.weight    blk.L.ffn_norm
//   model.layers.L.mlp.{gate,up,down}_proj            blk.L.ffn_{gate,up,down}
//   model.norm.weight                                 output_norm
//   lm_head.weight                                    output (absent when tied to the embedding)
//
// A linear layer is `P.weight` (F32/F16/BF16), or, in a GPTQ / AWQ checkpoint (config.json's
// quantization_config), `P.qweight`, `P.qzeros`, `P.scales` (+ `P.g_idx`): Formats/GPTQCheckpoint.swift.
// transformers rotates the halves of each head (rotate_half); llama.cpp's converter permutes Llama's
// q/k rows so that adjacent pairs rotate instead. Here the rows stay in transformers' order and every
// architecture rotates halves, which computes the same; `hfRowOrder` undoes the permutation when a
// GGUF Llama is written in this layout.
import Foundation

enum DecoderHF {
    /// transformers' `model_type` → the architecture whose layer graph runs it.
    static let architectures: [String: DecoderArchitecture] = ["llama": .llama, "mistral": .llama, "qwen2": .qwen2, "qwen3": .qwen3]

    /// llama.cpp's name of a layer tensor → transformers' (without `.weight` / `.bias`).
    static let layerNames: [(gguf: String, hf: String)] = [
        ("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"), ("attn_q_norm", "self_attn.q_norm"),
        ("attn_k_norm", "self_attn.k_norm"), ("ffn_norm", "post_attention_layernorm"), ("ffn_gate", "mlp.gate_proj"),
        ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
    ]

    /// `blk.L.attn_q` → `model.layers.L.self_attn.q_proj`.
    static func hfName(_ gguf: String) -> String {
        let parts = gguf.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let hf = layerNames.first(where: { $0.gguf == parts[2] })?.hf else {
            return ["token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"][gguf] ?? gguf
        }
        return "model.layers.\(parts[1]).\(hf)"
    }

    /// Loads a decoder-only model from a Hugging Face directory whose config.json names one of
    /// `architectures`. `as-stored` keeps GPTQ / AWQ layers on their packed codes and plain
    /// matrices in F32; any other method starts from the dequantized values. `deferringBlocks`: the
    /// plain block matrices stay in the mapped safetensors until calibration reaches them
    /// (Calibration/DeferredLinear.swift), so calibrating never holds the whole model in F32.
    static func load(directory: String, config hf: HFConfig, quantization: QuantizationConfig, threads: Int,
                     deferringBlocks: Bool = false) throws -> DecoderModel {
        let type = try hf.string("model_type") ?? ""
        guard let arch = architectures[type] else {
            throw CoreError.file(hf.source, "model_type \(quoted: type) is not a decoder exprun reads (known: \(architectures.keys.sorted().joined(separator: ", ")), gpt2)")
        }
        let ckpt = try SafeTensorsCheckpoint(directory)
        let packed = try QuantizedCheckpointConfig.read(directory: directory)
        var c = try DecoderConfig(hf: hf, architecture: arch)
        c.tiedHead = try hf.bool("tie_word_embeddings") == true || !ckpt.contains("lm_head.weight")
        try c.validate(source: hf.source)
        let file = ckpt.displayName
        let asStored = quantization.method == LlamaGGUF.asStored
        var used: Set<String> = []
        var infos: [WeightInfo] = []

        func entry(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let e = ckpt.entry(name) else { throw CoreError.file(file, "missing tensor \(quoted: name)") }
            guard e.shape == shape else { throw CoreError.file(file, "tensor \(quoted: name) has shape \(e.shape); \(hf.source) implies \(shape)") }
            guard e.dtype.isFloat else { throw CoreError.file(file, "tensor \(quoted: name) is \(e.dtype.rawValue); expected F32, F16 or BF16") }
            used.insert(name)
            return try ckpt.tensor(name)
        }
        func vector(_ gguf: String, _ n: Int) throws -> [Float] {
            let t = try entry(hfName(gguf) + ".weight", [n])
            infos.append(WeightInfo(name: gguf + ".weight", format: "fp32", shape: [n], storedBytes: t.byteCount, parameters: n))
            return try t.toFloatArray()
        }
        func bias(_ gguf: String, _ n: Int) throws -> [Float]? {
            let name = hfName(gguf) + ".bias"
            return ckpt.contains(name) ? try entry(name, [n]).toFloatArray() : nil
        }
        func matrix(_ gguf: String, out: Int, in n: Int, role: WeightRole) throws -> LinearWeight {
            let name = hfName(gguf)
            let w: LinearWeight
            if let packed, role == .linear, !ckpt.contains(name + ".weight") {
                let q = try GPTQCheckpoint.linear(ckpt, prefix: name, out: out, in: n, config: packed)
                for s in ["qweight", "qzeros", "scales", "g_idx"] { used.insert(name + "." + s) }
                w = asStored ? q : try Quantization.quantize(WeightRows(dequantizing: q), config: Quantization.applies(to: gguf, role: role, config: quantization) ? quantization : .fp32)
            } else {
                let rows = WeightRows(tensor: try entry(name + ".weight", [out, n]), transposed: false)
                let config = asStored || !Quantization.applies(to: gguf, role: role, config: quantization) ? .fp32 : quantization
                w = deferringBlocks && role == .linear ? DeferredLinear(rows) : try Quantization.quantize(rows, config: config)
            }
            infos.append(WeightInfo(name: gguf + ".weight", format: w.format, shape: [out, n], storedBytes: w.storedBytes,
                                    parameters: out * n, note: w.note))
            return w
        }

        let d = c.embeddingSize, f = c.feedForwardSize
        let embedding = try matrix("token_embd", out: c.vocabSize, in: d, role: .embedding)
        var layers: [DecoderLayer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            let norms = arch.tensors.contains(.queryKeyNorms)
            layers.append(DecoderLayer(
                attentionNorm: try vector(p + "attn_norm", d),
                qkv: nil,
                q: try matrix(p + "attn_q", out: c.qDim, in: d, role: .linear),
                k: try matrix(p + "attn_k", out: c.kvDim, in: d, role: .linear),
                v: try matrix(p + "attn_v", out: c.kvDim, in: d, role: .linear),
                qkvBias: nil,
                qBias: try bias(p + "attn_q", c.qDim), kBias: try bias(p + "attn_k", c.kvDim), vBias: try bias(p + "attn_v", c.kvDim),
                qNorm: norms ? try vector(p + "attn_q_norm", c.headSize) : nil,
                kNorm: norms ? try vector(p + "attn_k_norm", c.headSize) : nil,
                o: try matrix(p + "attn_output", out: d, in: c.qDim, role: .linear),
                oBias: try bias(p + "attn_output", d),
                postAttentionNorm: nil,
                feedForwardNorm: try vector(p + "ffn_norm", d),
                gate: try matrix(p + "ffn_gate", out: f, in: d, role: .linear),
                up: try matrix(p + "ffn_up", out: f, in: d, role: .linear),
                down: try matrix(p + "ffn_down", out: d, in: f, role: .linear),
                gateBias: try bias(p + "ffn_gate", f), upBias: try bias(p + "ffn_up", f), downBias: try bias(p + "ffn_down", d),
                postFeedForwardNorm: nil))
        }
        let outputNorm = try vector("output_norm", d)
        let head = c.tiedHead ? embedding : try matrix("output", out: c.vocabSize, in: d, role: .outputHead)
        if c.tiedHead, ckpt.contains("lm_head.weight") { used.insert("lm_head.weight") }   // saved tied copies
        // As transformers warns of unused weights and llama.cpp refuses them: every tensor must have a use.
        let unused = ckpt.names.filter { !used.contains($0) && !$0.hasSuffix("rotary_emb.inv_freq") }
        guard unused.isEmpty else {
            throw CoreError.file(file, "\(unused.count) tensor(s) that a \(type) model of this config does not have: \(unused.prefix(5).joined(separator: ", "))\(unused.count > 5 ? ", ..." : "") (do config.json and the weights belong together?)")
        }
        let tokenizer = try ModelLoader.tokenizerIfPresent(directory: directory)
        return DecoderModel(config: c, graph: arch.graph, embedding: embedding, layers: layers, outputNorm: outputNorm,
                            head: head, headBias: nil, weights: infos, tokenizer: tokenizer, threads: threads)
    }

    /// Row `r` of Llama's q or k in transformers' order (halves of a head rotate together) is row
    /// `hfRowOrder[r]` of the GGUF matrix (llama.cpp's converter: adjacent pairs).
    static func hfRowOrder(heads: Int, headSize hs: Int) -> [Int] {
        (0..<heads * hs).map { r in
            let h = r / hs, k = r % hs, half = hs / 2
            return h * hs + (k % half) * 2 + k / half
        }
    }
}

extension DecoderConfig {
    /// The hyper-parameters of transformers' LlamaConfig / Qwen2Config / Qwen3Config (defaults as
    /// transformers has them). Rotary scaling: none or linear.
    init(hf: HFConfig, architecture arch: DecoderArchitecture) throws {
        let src = hf.source
        architecture = arch.name
        vocabSize = try hf.int("vocab_size", default: 32000)
        embeddingSize = try hf.int("hidden_size", default: 4096)
        layerCount = try hf.int("num_hidden_layers", default: 32)
        headCount = try hf.int("num_attention_heads", default: 32)
        kvHeadCount = try hf.int("num_key_value_heads", default: headCount)
        headSize = try hf.int("head_dim", default: embeddingSize / headCount)
        feedForwardSize = try hf.int("intermediate_size", default: 11008)
        contextLength = try hf.int("max_position_embeddings", default: 2048)
        rmsEpsilon = Float(try hf.double("rms_norm_eps") ?? 1e-6)
        let act = try hf.string("hidden_act") ?? "silu"
        guard act == "silu" else { throw CoreError.unsupported("\(src): hidden_act \(quoted: act) (exprun runs silu for \(arch.name))") }
        // transformers 5 nests the rotary settings in rope_parameters; earlier versions have
        // rope_theta and rope_scaling at the top.
        var rope: [String: ParsedJSON] = [:]
        for key in ["rope_scaling", "rope_parameters"] { if case let .object(o)? = hf.values[key] { rope.merge(o) { $1 } } }
        let nested = HFConfig(values: rope, source: src)
        let base = try nested.double("rope_theta") ?? hf.double("rope_theta") ?? 10000
        let kind = try nested.string("rope_type") ?? nested.string("type") ?? "default"
        var scale: Float = 1
        switch kind {
        case "default": break
        case "linear": scale = 1 / Float(try nested.double("factor") ?? 1)
        default: throw CoreError.unsupported("\(src): rope_type \(quoted: kind) (exprun reads default and linear rotary embeddings from config.json)")
        }
        self.rope = RopeParameters(style: .halves, dimensions: headSize, base: Float(base), freqScale: scale, originalContext: contextLength)
        isLocal = [Bool](repeating: false, count: layerCount)
        slidingWindow = nil
        if try hf.bool("use_sliding_window") == true {
            throw CoreError.unsupported("\(src): use_sliding_window (Qwen 2's sliding window from max_window_layers on)")
        }
        if arch.name == "llama", let w = try hf.int("sliding_window") { slidingWindow = w }     // Mistral: every layer
        if slidingWindow != nil { isLocal = [Bool](repeating: true, count: layerCount) }
        attentionScale = 1 / Float(headSize).squareRoot()
        tiedHead = false
    }
}
