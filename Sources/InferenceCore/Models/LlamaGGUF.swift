// Decoder-only models from GGUF files — what llama.cpp loads as `llama_model`: the architecture
// named by `general.architecture` chooses the layer graph (Llama.swift, Qwen.swift, Phi3.swift,
// Gemma.swift) and what is read beyond the common hyper-parameters (DecoderConfig.swift); the
// weights are llama.cpp's tensors (`token_embd`, `blk.N.attn_q`, ..., `output_norm`, `output`), each
// checked against the shape the metadata implies, and a file holding tensors the architecture does
// not use is refused, as llama.cpp refuses it.
//
// Quantization: `as-stored` keeps every tensor as the file stores it, memory-mapped (quantized
// blocks are computed on directly). Any other method starts from the dequantized F32 values, so
// `fp32` is the dequantized model — the baseline — and `q8_0`, `q4_k`, ... re-quantize it.
import Foundation

/// What an architecture is beyond the common decoder: its rotary pairing, its layer graph, the
/// optional tensors it may hold, and its own hyper-parameters (llama.cpp's `load_arch_hparams`).
struct DecoderArchitecture: Sendable {
    struct Tensors: OptionSet, Sendable {
        let rawValue: Int
        static let attentionBiases = Tensors(rawValue: 1 << 0)     // may have attn_q/k/v.bias, attn_qkv.bias, attn_output.bias
        static let queryKeyBiases = Tensors(rawValue: 1 << 1)      // may have attn_q/k/v.bias, attn_qkv.bias
        static let feedForwardBiases = Tensors(rawValue: 1 << 2)   // may have ffn_gate/up/down.bias
        static let queryKeyNorms = Tensors(rawValue: 1 << 3)       // has attn_q_norm, attn_k_norm
        static let postNorms = Tensors(rawValue: 1 << 4)           // has post_attention_norm, post_ffw_norm
        static let fusedGateUp = Tensors(rawValue: 1 << 5)         // has ffn_up of 2 × n_ff rows, no ffn_gate
        static let outputBias = Tensors(rawValue: 1 << 6)          // may have output.bias
        static let embeddingAsHead = Tensors(rawValue: 1 << 7)     // the head is the embedding, always
    }

    let name: String
    let ropeStyle: RopeStyle
    let graph: DecoderGraph
    /// What its layers have beyond the common tensors: biases it may have, norms it must have.
    var tensors: Tensors = []
    let hyperparameters: @Sendable (inout DecoderConfig, GGUFFile) throws -> Void

    init(name: String, ropeStyle: RopeStyle, graph: DecoderGraph, tensors: Tensors = [],
         hyperparameters: @escaping @Sendable (inout DecoderConfig, GGUFFile) throws -> Void = { _, _ in }) {
        self.name = name; self.ropeStyle = ropeStyle; self.graph = graph; self.tensors = tensors
        self.hyperparameters = hyperparameters
    }

    static let all: [DecoderArchitecture] = [.llama, .qwen2, .qwen3, .phi3, .gemma, .gemma2, .gemma3]

    /// Every `general.architecture` exprun runs, GPT-2 included (GPT2GGUF.swift).
    static var supportedNames: [String] { all.map(\.name) + ["gpt2"] }

    static func named(_ name: String, path: String) throws -> DecoderArchitecture {
        guard let a = all.first(where: { $0.name == name }) else {
            throw CoreError.unsupported("\(path): general.architecture \(quoted: name) is not supported (supported: \(supportedNames.joined(separator: ", ")))")
        }
        return a
    }
}

extension DecoderConfig {
    /// `general.architecture` values this loader reads.
    public static var ggufArchitectures: [String] { DecoderArchitecture.all.map(\.name) }

    /// The whole configuration of a GGUF: common hyper-parameters, then the architecture's own.
    public init(gguf file: GGUFFile) throws {
        try self.init(gguf: file, architecture: try LlamaGGUF.architecture(of: file))
    }

    init(gguf file: GGUFFile, architecture a: DecoderArchitecture) throws {
        self = try DecoderConfig(gguf: file, architecture: a.name, ropeStyle: a.ropeStyle)
        try a.hyperparameters(&self, file)
        if a.tensors.contains(.embeddingAsHead) { tiedHead = true }
        try validate(source: file.path)
    }
}

public enum LlamaGGUF {
    /// The quantization name that keeps a GGUF's own tensor types.
    public static let asStored = "as-stored"

    static func architecture(of file: GGUFFile) throws -> DecoderArchitecture {
        guard let arch = try file.string("general.architecture") else {
            throw CoreError.file(file.path, "no general.architecture in the metadata")
        }
        return try DecoderArchitecture.named(arch, path: file.path)
    }

    /// Loads a decoder-only model from a GGUF file.
    /// `deferringBlocks`: the block matrices stay in the file, dequantized when calibration reaches
    /// them (Calibration/DeferredLinear.swift), so a calibrated load never holds the whole model
    /// in F32.
    public static func load(_ file: GGUFFile, quantization: QuantizationConfig, threads: Int, deferringBlocks: Bool = false) throws -> DecoderModel {
        let arch = try architecture(of: file)
        let config = try DecoderConfig(gguf: file, architecture: arch)
        let tokenizer = try Tokenizers.load(gguf: file)
        file.dropArrays()     // the parsed vocabulary is not held beside the weights while they load
        var loader = WeightLoader(file: file, quantization: quantization, deferringBlocks: deferringBlocks)
        let c = config, d = c.embeddingSize, f = c.feedForwardSize
        let embedding = try loader.matrix("token_embd.weight", out: c.vocabSize, in: d, role: .embedding)
        var layers: [DecoderLayer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            // Biases where the architecture allows them and the file has them; norms it requires.
            func vector(_ name: String, _ n: Int, _ kind: DecoderArchitecture.Tensors) throws -> [Float]? {
                arch.tensors.contains(kind) && file.tensorInfo(p + name) != nil ? try loader.vector(p + name, n) : nil
            }
            func required(_ name: String, _ n: Int, _ kind: DecoderArchitecture.Tensors) throws -> [Float]? {
                arch.tensors.contains(kind) ? try loader.vector(p + name, n) : nil
            }
            func matrix(_ name: String, out: Int, in n: Int) throws -> LinearWeight {
                try loader.matrix(p + name, out: out, in: n, role: .linear)
            }
            let fusedQKV = file.tensorInfo(p + "attn_qkv.weight") != nil
            let fusedFFN = arch.tensors.contains(.fusedGateUp)
            let biases: DecoderArchitecture.Tensors = arch.tensors.contains(.attentionBiases) ? .attentionBiases : .queryKeyBiases
            let ffnBiases = DecoderArchitecture.Tensors.feedForwardBiases
            layers.append(DecoderLayer(
                attentionNorm: try loader.vector(p + "attn_norm.weight", d),
                qkv: fusedQKV ? try matrix("attn_qkv.weight", out: c.qDim + 2 * c.kvDim, in: d) : nil,
                q: fusedQKV ? nil : try matrix("attn_q.weight", out: c.qDim, in: d),
                k: fusedQKV ? nil : try matrix("attn_k.weight", out: c.kvDim, in: d),
                v: fusedQKV ? nil : try matrix("attn_v.weight", out: c.kvDim, in: d),
                qkvBias: try vector("attn_qkv.bias", c.qDim + 2 * c.kvDim, biases),
                qBias: try vector("attn_q.bias", c.qDim, biases),
                kBias: try vector("attn_k.bias", c.kvDim, biases),
                vBias: try vector("attn_v.bias", c.kvDim, biases),
                qNorm: try required("attn_q_norm.weight", c.headSize, .queryKeyNorms),
                kNorm: try required("attn_k_norm.weight", c.headSize, .queryKeyNorms),
                o: try matrix("attn_output.weight", out: d, in: c.qDim),
                oBias: try vector("attn_output.bias", d, .attentionBiases),
                postAttentionNorm: try required("post_attention_norm.weight", d, .postNorms),
                feedForwardNorm: try loader.vector(p + "ffn_norm.weight", d),
                gate: fusedFFN ? nil : try matrix("ffn_gate.weight", out: f, in: d),
                up: try matrix("ffn_up.weight", out: fusedFFN ? 2 * f : f, in: d),
                down: try matrix("ffn_down.weight", out: d, in: f),
                gateBias: try vector("ffn_gate.bias", f, ffnBiases),
                upBias: try vector("ffn_up.bias", f, ffnBiases),
                downBias: try vector("ffn_down.bias", d, ffnBiases),
                postFeedForwardNorm: try required("post_ffw_norm.weight", d, .postNorms)))
        }
        let outputNorm = try loader.vector("output_norm.weight", d)
        let head = c.tiedHead ? embedding : try loader.matrix("output.weight", out: c.vocabSize, in: d, role: .outputHead)
        let headBias = arch.tensors.contains(.outputBias) && file.tensorInfo("output.bias") != nil
            ? try loader.vector("output.bias", c.vocabSize) : nil
        // llama.cpp's "wrong number of tensors": every tensor in the file must have a use.
        let used = Set(loader.infos.map(\.name) + ["rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"]
            + (arch.tensors.contains(.embeddingAsHead) ? ["output.weight"] : []))
        let unused = file.tensors.map(\.name).filter { !used.contains($0) }
        guard unused.isEmpty else {
            throw CoreError.file(file.path, "\(unused.count) tensor(s) that a \(arch.name) model does not have: \(unused.prefix(5).joined(separator: ", "))\(unused.count > 5 ? ", ..." : "") (is general.architecture right?)")
        }
        return DecoderModel(config: config, graph: arch.graph, embedding: embedding, layers: layers, outputNorm: outputNorm,
                            head: head, headBias: headBias, weights: loader.infos, tokenizer: tokenizer, threads: threads)
    }

    /// A plain-typed (F32 / F16 / BF16) tensor's values.
    static func floats(_ file: GGUFFile, _ info: GGUFTensorInfo, count: Int) throws -> [Float] {
        guard info.elementCount == count else {
            throw CoreError.file(file.path, "tensor \(quoted: info.name) has \(info.elementCount) values; the metadata implies \(count)")
        }
        return try file.tensor(info.name).toFloatArray()
    }
    struct WeightLoader {
        let file: GGUFFile
        let quantization: QuantizationConfig
        var deferringBlocks = false
        var infos: [WeightInfo] = []

        var keepsStoredTypes: Bool { quantization.method == LlamaGGUF.asStored }
        /// Per-tensor types when the configuration is a K-quant mix (Quant/KQuantMix.swift).
        lazy var mix: [String: QuantizationConfig]? = (try? file.mixModel()).flatMap {
            Quantization.perTensor(quantization, tensors: file.mixTensors, model: $0)
        }

        mutating func vector(_ name: String, _ n: Int) throws -> [Float] {
            guard let info = file.tensorInfo(name) else { throw CoreError.file(file.path, "missing tensor \(quoted: name)") }
            let values = try LlamaGGUF.floats(file, info, count: n)
            infos.append(WeightInfo(name: name, format: info.type == .f32 ? "fp32" : info.type.name.lowercased(),
                                    shape: [n], storedBytes: info.byteCount, parameters: n))
            return values
        }

        mutating func matrix(_ name: String, out: Int, in n: Int, role: WeightRole) throws -> LinearWeight {
            guard let info = file.tensorInfo(name) else { throw CoreError.file(file.path, "missing tensor \(quoted: name)") }
            guard info.shape == [out, n] else {
                throw CoreError.file(file.path, "tensor \(quoted: name) has shape \(info.shape); the metadata implies [\(out), \(n)]")
            }
            let weight: LinearWeight
            if keepsStoredTypes {
                // the embedding table (also the head when tied) keeps its mapping: repacking it
                // would add its whole size as anonymous memory for one row per token
                weight = try stored(info, out: out, in: n, repack: role != .embedding)
            } else if deferringBlocks && role == .linear {
                weight = DeferredLinear(try rows(info, out: out, in: n))
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
                    throw CoreError.unsupported("\(file.path): tensor \(quoted: info.name) is stored as \(info.type.name); exprun computes on \(known)")
                }
                return try GGMLLinear.fromFile(type: format, out: out, in: n, storage: file.storage, byteOffset: info.fileOffset, repack: repack)
            }
        }
    }
}
