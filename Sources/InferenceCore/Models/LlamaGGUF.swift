// Llama-family models from GGUF files: the configuration from the metadata (`<arch>.*` keys, as
// llama.cpp's llama-model.cpp reads them), the weights from the tensors (llama.cpp's names:
// `token_embd`, `blk.N.attn_q`, ..., `output_norm`, `output`).
//
// Where the metadata is silent, llama.cpp's choices for the architecture are followed:
//   gemma3: layer l is a sliding-window (local) layer unless l % 6 == 5 (`set_swa_pattern(6)`,
//           overridable by `attention.sliding_window_pattern`, an integer or one bool per layer);
//           local layers' rotary base is `rope.freq_base_swa`, default 10000; q is scaled by
//           1/√key_length (1/√(n_embd/n_head) for the 62-layer 27B, as gemma_pytorch does).
//   llama:  rotary over adjacent pairs; qwen2/qwen3/gemma3: over halves (NEOX).
//
// Quantization: `as-stored` keeps every tensor as the file stores it, memory-mapped (quantized
// blocks are computed on directly). Any other method starts from the dequantized F32 values, so
// `fp32` is the dequantized model — the baseline — and `q8_0`, `q4_k`, ... re-quantize it.
import Foundation

extension LlamaConfig {
    /// `general.architecture` values this loader reads.
    public static let ggufArchitectures = ["llama", "qwen2", "qwen3", "gemma3"]

    public init(gguf file: GGUFFile) throws {
        let path = file.path
        guard let arch = try file.string("general.architecture") else {
            throw CoreError.file(path, "no general.architecture in the metadata")
        }
        guard Self.ggufArchitectures.contains(arch) else {
            throw CoreError.unsupported("\(path): general.architecture '\(arch)' is not supported (known: \(Self.ggufArchitectures.joined(separator: ", ")))")
        }
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func required(_ k: String) throws -> Int {
            guard let v = try file.int(key(k)) else { throw CoreError.file(path, "missing metadata '\(key(k))'") }
            return v
        }
        guard let embd = file.tensorInfo("token_embd.weight") else {
            throw CoreError.file(path, "no tensor 'token_embd.weight' (the token embedding)")
        }
        guard embd.shape.count == 2 else { throw CoreError.file(path, "token_embd.weight has shape \(embd.shape); expected [vocab, embedding_length]") }

        architecture = arch
        embeddingSize = try required("embedding_length")
        layerCount = try required("block_count")
        feedForwardSize = try required("feed_forward_length")
        headCount = try required("attention.head_count")
        kvHeadCount = try file.int(key("attention.head_count_kv")) ?? headCount
        contextLength = try required("context_length")
        guard headCount > 0, embeddingSize > 0 else { throw CoreError.file(path, "\(key("attention.head_count")) and \(key("embedding_length")) must be positive") }
        headSize = try file.int(key("attention.key_length")) ?? embeddingSize / headCount
        let valueSize = try file.int(key("attention.value_length")) ?? headSize
        guard valueSize == headSize else {
            throw CoreError.unsupported("\(path): value_length \(valueSize) differs from key_length \(headSize)")
        }
        vocabSize = embd.shape[0]
        guard embd.shape[1] == embeddingSize else {
            throw CoreError.file(path, "token_embd.weight has rows of \(embd.shape[1]) values, but \(key("embedding_length")) is \(embeddingSize)")
        }
        guard let eps = try file.float(key("attention.layer_norm_rms_epsilon")) else {
            throw CoreError.file(path, "missing metadata '\(key("attention.layer_norm_rms_epsilon"))'")
        }
        rmsEpsilon = eps
        ropeBase = try file.float(key("rope.freq_base")) ?? 10000
        ropeDimensions = try file.int(key("rope.dimension_count")) ?? headSize
        ropeStyle = arch == "llama" ? .interleaved : .halves
        switch try file.string(key("rope.scaling.type")) {
        case nil, "none":
            ropeScale = 1 / (try file.float(key("rope.scale_linear")) ?? 1)
        case "linear":
            ropeScale = 1 / (try file.float(key("rope.scaling.factor")) ?? 1)
        case let other?:
            throw CoreError.unsupported("\(path): \(key("rope.scaling.type")) '\(other)' (only linear scaling is implemented)")
        }
        if let info = file.tensorInfo("rope_freqs.weight") {
            ropeFrequencyFactors = try LlamaGGUF.floats(file, info, count: info.elementCount)
        } else {
            ropeFrequencyFactors = nil
        }

        isLocal = [Bool](repeating: false, count: layerCount)
        slidingWindow = nil
        localRopeBase = ropeBase
        if arch == "gemma3", let window = try file.int(key("attention.sliding_window")), window > 0 {
            slidingWindow = window
            localRopeBase = try file.float(key("rope.freq_base_swa")) ?? 10000
            let patternKey = key("attention.sliding_window_pattern")
            if let value = file.metadata[patternKey], let flags = value.array {
                let bools = flags.compactMap(\.bool)
                guard bools.count == flags.count, bools.count == layerCount else {
                    throw CoreError.file(path, "\(patternKey) should hold one bool per layer (\(layerCount))")
                }
                isLocal = bools
            } else {
                let n = try file.int(patternKey) ?? 6
                isLocal = (0..<layerCount).map { n == 0 || $0 % n < n - 1 }
            }
        }

        let gemma = arch == "gemma3"
        activation = gemma ? .geluTanh : .silu
        embeddingScale = gemma ? Float(embeddingSize).squareRoot() : 1
        attentionScale = gemma && layerCount == 62 ? 1 / Float(embeddingSize / headCount).squareRoot()
                                                   : 1 / Float(headSize).squareRoot()
        hasQKNorm = gemma || arch == "qwen3"
        hasPostNorms = gemma
        hasQKVBias = file.tensorInfo("blk.0.attn_q.bias") != nil
        let cap = try file.float(key("final_logit_softcapping")) ?? 0
        finalLogitSoftcap = cap != 0 ? cap : nil
        tiedHead = file.tensorInfo("output.weight") == nil
        try validate(source: path)
    }
}

public enum LlamaGGUF {
    /// The quantization name that keeps a GGUF's own tensor types.
    public static let asStored = "as-stored"

    /// Loads a Llama-family model from a GGUF file.
    public static func load(_ file: GGUFFile, quantization: QuantizationConfig, threads: Int) throws -> Llama {
        let config = try LlamaConfig(gguf: file)
        let tokenizer = try Tokenizers.load(gguf: file)
        file.dropArrays()     // the parsed vocabulary is not held beside the weights while they load
        var loader = WeightLoader(file: file, quantization: quantization)
        let c = config, d = c.embeddingSize
        let embedding = try loader.matrix("token_embd.weight", out: c.vocabSize, in: d, role: .embedding)
        var layers: [LlamaLayer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            func optionalVector(_ name: String, _ n: Int, present: Bool) throws -> [Float]? {
                present ? try loader.vector(p + name, n) : nil
            }
            layers.append(LlamaLayer(
                attentionNorm: try loader.vector(p + "attn_norm.weight", d),
                q: try loader.matrix(p + "attn_q.weight", out: c.qDim, in: d, role: .linear),
                k: try loader.matrix(p + "attn_k.weight", out: c.kvDim, in: d, role: .linear),
                v: try loader.matrix(p + "attn_v.weight", out: c.kvDim, in: d, role: .linear),
                o: try loader.matrix(p + "attn_output.weight", out: d, in: c.qDim, role: .linear),
                qBias: try optionalVector("attn_q.bias", c.qDim, present: c.hasQKVBias),
                kBias: try optionalVector("attn_k.bias", c.kvDim, present: c.hasQKVBias),
                vBias: try optionalVector("attn_v.bias", c.kvDim, present: c.hasQKVBias),
                qNorm: try optionalVector("attn_q_norm.weight", c.headSize, present: c.hasQKNorm),
                kNorm: try optionalVector("attn_k_norm.weight", c.headSize, present: c.hasQKNorm),
                postAttentionNorm: try optionalVector("post_attention_norm.weight", d, present: c.hasPostNorms),
                feedForwardNorm: try loader.vector(p + "ffn_norm.weight", d),
                gate: try loader.matrix(p + "ffn_gate.weight", out: c.feedForwardSize, in: d, role: .linear),
                up: try loader.matrix(p + "ffn_up.weight", out: c.feedForwardSize, in: d, role: .linear),
                down: try loader.matrix(p + "ffn_down.weight", out: d, in: c.feedForwardSize, role: .linear),
                postFeedForwardNorm: try optionalVector("post_ffw_norm.weight", d, present: c.hasPostNorms)))
        }
        let outputNorm = try loader.vector("output_norm.weight", d)
        let head = c.tiedHead ? embedding : try loader.matrix("output.weight", out: c.vocabSize, in: d, role: .outputHead)
        return Llama(config: config, embedding: embedding, layers: layers, outputNorm: outputNorm, head: head,
                     weights: loader.infos, tokenizer: tokenizer, threads: threads)
    }

    /// A plain-typed (F32 / F16 / BF16) tensor's values.
    static func floats(_ file: GGUFFile, _ info: GGUFTensorInfo, count: Int) throws -> [Float] {
        guard info.elementCount == count else {
            throw CoreError.file(file.path, "tensor '\(info.name)' has \(info.elementCount) values; the metadata implies \(count)")
        }
        return try file.tensor(info.name).toFloatArray()
    }

    struct WeightLoader {
        let file: GGUFFile
        let quantization: QuantizationConfig
        var infos: [WeightInfo] = []

        var keepsStoredTypes: Bool { quantization.method == LlamaGGUF.asStored }
        /// Per-tensor types when the configuration is a K-quant mix (Quant/KQuantMix.swift).
        lazy var mix: [String: QuantizationConfig]? = (try? file.mixModel()).flatMap {
            Quantization.perTensor(quantization, tensors: file.mixTensors, model: $0)
        }

        mutating func vector(_ name: String, _ n: Int) throws -> [Float] {
            guard let info = file.tensorInfo(name) else { throw CoreError.file(file.path, "missing tensor '\(name)'") }
            let values = try LlamaGGUF.floats(file, info, count: n)
            infos.append(WeightInfo(name: name, format: info.type == .f32 ? "fp32" : info.type.name.lowercased(),
                                    shape: [n], storedBytes: info.byteCount, parameters: n))
            return values
        }

        mutating func matrix(_ name: String, out: Int, in n: Int, role: WeightRole) throws -> LinearWeight {
            guard let info = file.tensorInfo(name) else { throw CoreError.file(file.path, "missing tensor '\(name)'") }
            guard info.shape == [out, n] else {
                throw CoreError.file(file.path, "tensor '\(name)' has shape \(info.shape); the metadata implies [\(out), \(n)]")
            }
            let weight: LinearWeight
            if keepsStoredTypes {
                // the embedding table (also the head when tied) keeps its mapping: repacking it
                // would add its whole size as anonymous memory for one row per token
                weight = try stored(info, out: out, in: n, repack: role != .embedding)
            } else {
                let config = Quantization.applies(to: name, role: role, config: quantization) ? mix?[name] ?? quantization : .fp32
                weight = try Quantization.quantize(try rows(info, out: out, in: n), config: config)
            }
            infos.append(WeightInfo(name: name, format: weight.format, shape: [out, n], storedBytes: weight.storedBytes,
                                    parameters: out * n, note: weight.note))
            return weight
        }

        /// The tensor's rows dequantized to F32, a chunk at a time, its file pages given back as
        /// they are read (the F32 or re-quantized copy is what the model keeps).
        func rows(_ info: GGUFTensorInfo, out: Int, in n: Int) throws -> WeightRows {
            let rowBytes = info.byteCount / max(out, 1), storage = file.storage, offset = info.fileOffset
            return WeightRows(dequantizing: try stored(info, out: out, in: n)) { rows in
                storage.dropPages(byteOffset: offset + rows.lowerBound * rowBytes, count: rows.count * rowBytes)
            }
        }

        /// The tensor as the file stores it, viewing the mapping (`repack`: rows repacked for the
        /// 8-row kernels where the type has them, GGMLLinear.fromFile).
        func stored(_ info: GGUFTensorInfo, out: Int, in n: Int, repack: Bool = false) throws -> LinearWeight {
            switch info.type {
            case .f32:
                return F32Linear(Tensor(dtype: .f32, shape: [out, n], storage: file.storage, byteOffset: info.fileOffset))
            case .bf16:
                return F32Linear(values: try file.tensor(info.name).toFloatArray(), out: out, in: n)
            default:
                guard let format = GGMLFormat(ggmlTypeID: info.type.rawValue) else {
                    let known = GGMLFormat.allCases.filter { $0 != .q8_k }.map(\.ggmlName).joined(separator: ", ")
                    throw CoreError.unsupported("\(file.path): tensor '\(info.name)' is stored as \(info.type.name); exprun computes on \(known)")
                }
                return try GGMLLinear.fromFile(type: format, out: out, in: n, storage: file.storage, byteOffset: info.fileOffset, repack: repack)
            }
        }
    }
}
