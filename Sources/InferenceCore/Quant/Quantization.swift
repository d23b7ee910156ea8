// The catalogue of quantization methods, as experiment files name them, and the one entry point
// that turns an F32 weight into a stored LinearWeight of a method. Each format lives in its own
// file beside this one; this file only lists and dispatches.
import Foundation

/// A configuration as an experiment file gives it: `q4_k`, or `{method: bnb-int8, threshold: 0}`.
public struct QuantizationConfig: Sendable, Hashable, Codable, CustomStringConvertible {
    public var method: String
    public var parameters: [String: Double]
    /// Tensor names (or suffixes such as `lm_head`, `wte`) left unquantized; nil = the method's default.
    public var skip: [String]?
    /// Calibration text or token ids, for methods that calibrate (gptq, awq); nil = the method's default.
    public var calibration: CalibrationConfig?

    public init(method: String, parameters: [String: Double] = [:], skip: [String]? = nil, calibration: CalibrationConfig? = nil) {
        self.method = method; self.parameters = parameters; self.skip = skip; self.calibration = calibration
    }
    public static let fp32 = QuantizationConfig(method: "fp32")

    /// Short stable label: `q4_k`, `bnb-int8(threshold=0)`.
    public var description: String {
        var s = method
        if !parameters.isEmpty {
            s += "(" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.format($0.value))" }.joined(separator: ",") + ")"
        }
        if let skip, !skip.isEmpty { s += "[skip:" + skip.joined(separator: ",") + "]" }
        if let calibration { s += "[calibration=" + calibration.description + "]" }
        return s
    }
    static func format(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
}

/// What a tensor is to the model, which decides a method's default for it.
public enum WeightRole: Sendable { case linear, embedding, outputHead }

public struct QuantizationMethod: Sendable {
    public let name: String
    public let summary: String
    /// Parameter name → what it means (for validation messages).
    public let parameters: [String: String]
    /// False for methods that are known but not implemented yet: validation names them as such.
    public let available: Bool
    /// Roles this method quantizes when the configuration gives no `skip` list.
    public let defaultRoles: Set<WeightRoleKey>
    /// Whether the method runs the model on calibration text (gptq, awq): it quantizes a whole
    /// loaded model (Calibration/Calibrate.swift), not one weight at a time.
    public var calibrated = false
    let make: @Sendable (_ rows: WeightRows, _ config: QuantizationConfig) throws -> LinearWeight
}

public enum WeightRoleKey: String, Sendable { case linear, embedding, outputHead }

public enum Quantization {
    public static let methods: [QuantizationMethod] = [
        QuantizationMethod(
            name: "fp32", summary: "IEEE single precision, 32 bits per weight (the unquantized baseline)",
            parameters: [:], available: true, defaultRoles: [.linear, .embedding, .outputHead],
            make: { rows, _ in F32Linear(rows: rows) }),
        ggml(.q8_0, "llama.cpp Q8_0: blocks of 32 int8 with an fp16 scale, 8.5 bits per weight"),
        ggml(.q4_0, "llama.cpp Q4_0: blocks of 32 4-bit values with an fp16 scale, 4.5 bits per weight"),
        ggml(.q5_0, "llama.cpp Q5_0: blocks of 32 5-bit values with an fp16 scale, 5.5 bits per weight"),
        ggml(.q4_1, "llama.cpp Q4_1: blocks of 32 4-bit values with an fp16 scale and minimum, 5 bits per weight"),
        ggml(.q5_1, "llama.cpp Q5_1: blocks of 32 5-bit values with an fp16 scale and minimum, 6 bits per weight"),
        mix(.q2_k, "llama.cpp's Q2_K file: Q2_K super-blocks of 256 (4-bit sub-block scales and minimums, 2.625 bits per weight), attn_v / ffn_down / attn_output in Q3_K or Q4_K, the head in Q6_K (pure: 1 for Q2_K throughout)"),
        ggml(.q3_k, "llama.cpp Q3_K: super-blocks of 256, 6-bit sub-block scales, 3.4375 bits per weight"),
        mix(.q3_k_s, "llama.cpp's Q3_K_S file: Q3_K, the head in Q6_K"),
        mix(.q3_k_m, "llama.cpp's Q3_K_M file: Q3_K, attn_v / ffn_down / attn_output in Q4_K or Q5_K, the head in Q6_K"),
        mix(.q3_k_l, "llama.cpp's Q3_K_L file: Q3_K, attn_v / ffn_down / attn_output in Q5_K, the head in Q6_K"),
        mix(.q4_k_s, "llama.cpp's Q4_K_S file: Q4_K, the first attn_v and the first eighth of ffn_down in Q5_K, the head in Q6_K"),
        mix(.q4_k_m, "llama.cpp's Q4_K_M file: Q4_K, attn_v and ffn_down in Q6_K in the first and last eighth of the layers and every third between, the head in Q6_K"),
        mix(.q5_k_s, "llama.cpp's Q5_K_S file: Q5_K, the head in Q6_K"),
        mix(.q5_k_m, "llama.cpp's Q5_K_M file: Q5_K, attn_v and ffn_down in Q6_K as in Q4_K_M, the head in Q6_K"),
        ggml(.q4_k, "llama.cpp Q4_K: super-blocks of 256, 6-bit sub-block scales and minimums, 4.5 bits per weight"),
        ggml(.q5_k, "llama.cpp Q5_K: super-blocks of 256, 6-bit sub-block scales and minimums, 5.5 bits per weight"),
        ggml(.q6_k, "llama.cpp Q6_K: super-blocks of 256, int8 sub-block scales, 6.5625 bits per weight"),
        ggml(.iq4_nl, "llama.cpp IQ4_NL: blocks of 32 4-bit codes into 16 non-linear levels, fp16 scale, 4.5 bits per weight"),
        ggml(.iq4_xs, "llama.cpp IQ4_XS: IQ4_NL's levels in super-blocks of 256 with 6-bit sub-block scales, 4.25 bits per weight"),
        QuantizationMethod(
            name: "fp16", summary: "IEEE half precision, 16 bits per weight (round to nearest even)",
            parameters: [:], available: true, defaultRoles: [.linear, .embedding, .outputHead],
            make: { rows, c in try c.checkParameters(known: []); return F16Linear(rows: rows) }),
        QuantizationMethod(
            name: "bf16", summary: "bfloat16, 16 bits per weight (F32's range, 8 bits of precision; round to nearest even)",
            parameters: [:], available: true, defaultRoles: [.linear, .embedding, .outputHead],
            make: { rows, c in try c.checkParameters(known: []); return BF16Linear(rows: rows) }),
        QuantizationMethod(
            name: "bnb-int8", summary: "bitsandbytes LLM.int8(): per-row absmax int8 weights, int8 activations, outlier columns in 16/32-bit",
            parameters: ["threshold": "activation magnitude from which an input column is computed outside int8 (default 6.0; 0 = off)"],
            available: true, defaultRoles: [.linear],
            make: { rows, c in
                try c.checkParameters(known: ["threshold"])
                let t = c.parameters["threshold"] ?? 6.0
                guard t >= 0, t.isFinite else { throw CoreError.invalid("bnb-int8: threshold must be a number ≥ 0 (0 turns outlier columns off), got \(t)") }
                return BnbInt8Linear(rows: rows, threshold: Float(t))
            }),
        QuantizationMethod(
            name: "bnb-nf4", summary: "bitsandbytes 4-bit NormalFloat: blocks of 64 with an F32 absmax (optionally double-quantized)",
            parameters: Quantization.bnb4BitParameters, available: true, defaultRoles: [.linear],
            make: { rows, c in try Quantization.makeBnb4Bit(rows, c, .nf4) }),
        QuantizationMethod(
            name: "bnb-fp4", summary: "bitsandbytes 4-bit float (1 sign, 2 exponent, 1 mantissa bit): blocks of 64 with an F32 absmax",
            parameters: Quantization.bnb4BitParameters, available: true, defaultRoles: [.linear],
            make: { rows, c in try Quantization.makeBnb4Bit(rows, c, .fp4) }),
        QuantizationMethod(
            name: "as-stored", summary: "every tensor in the type the model file stores it (a GGUF's own block types), memory-mapped",
            parameters: [:], available: true, defaultRoles: [],
            make: { _, _ in throw CoreError.unsupported("as-stored keeps a file's own tensor types; only .gguf models have them (use fp32 for other checkpoints)") }),
        QuantizationMethod(
            name: "gptq", summary: "GPTQ (Frantar et al. 2022): second-order post-training quantization on calibration text, codes in groups with scales and zero points",
            parameters: Calibration.gptqParameters, available: true, defaultRoles: [.linear], calibrated: true,
            make: { _, c in throw CoreError.invalid("\(c.method) quantizes a whole model on calibration text; load the model with it (ModelLoader.load) rather than one weight") }),
        QuantizationMethod(
            name: "awq", summary: "AWQ (Lin et al. 2023): activation-aware scaling and clipping on calibration text, 4-bit codes in groups with zero points",
            parameters: Calibration.awqParameters, available: true, defaultRoles: [.linear], calibrated: true,
            make: { _, c in throw CoreError.invalid("\(c.method) quantizes a whole model on calibration text; load the model with it (ModelLoader.load) rather than one weight") }),
        QuantizationMethod(
            name: "rtn", summary: "round-to-nearest with the GPTQ quantizer: min/max scale and zero per group, no calibration (the baseline of gptq and awq)",
            parameters: Calibration.rtnParameters, available: true, defaultRoles: [.linear],
            make: { rows, c in
                let config = try Calibration.gptqConfiguration(c, known: Set(Calibration.rtnParameters.keys))
                return try GroupQuantizedLinear(try RoundToNearest.quantize(rows, config: config, layer: "rtn"), format: "rtn")
            }),
    ]

    static let bnb4BitParameters = [
        "block_size": "weights per absmax block (32, 64, 128, ..., 4096; default 64)",
        "double_quant": "1 quantizes the absmax values to 8 bits in blocks of 256 (QLoRA's double quantization); default 0",
    ]

    static func makeBnb4Bit(_ rows: WeightRows, _ c: QuantizationConfig, _ book: Bnb4BitCodeBook) throws -> LinearWeight {
        try c.checkParameters(known: ["block_size", "double_quant"])
        let bs = c.parameters["block_size"] ?? 64
        guard let size = Int(exactly: bs), Bnb4BitLinear.blockSizes.contains(size) else {
            throw CoreError.invalid("\(c.method): block_size must be one of \(Bnb4BitLinear.blockSizes.map(String.init).joined(separator: ", ")), got \(QuantizationConfig.format(bs))")
        }
        let dq = c.parameters["double_quant"] ?? 0
        guard dq == 0 || dq == 1 else { throw CoreError.invalid("\(c.method): double_quant must be 0 or 1, got \(QuantizationConfig.format(dq))") }
        return Bnb4BitLinear(rows: rows, codeBook: book, blockSize: size, doubleQuant: dq == 1)
    }

    /// A llama.cpp block type: quantizes every role by default (token embeddings and the output head
    /// too, as `llama-quantize` does), and falls back per tensor as llama.cpp does when a row does
    /// not fit the block (the weight's `note` says so).
    static func ggml(_ f: GGMLFormat, _ summary: String) -> QuantizationMethod {
        QuantizationMethod(name: f.name, summary: summary, parameters: [:], available: true,
                           defaultRoles: [.linear, .embedding, .outputHead],
                           make: { rows, _ in try GGMLLinear.quantize(rows, as: f) })
    }

    /// One of llama.cpp's K-quant mixes (Quant/KQuantMix.swift). Each tensor's type depends on its
    /// name and layer, so model loaders resolve the mix tensor by tensor (`perTensor`); a weight
    /// quantized on its own gets the mix's default type.
    static func mix(_ m: KQuantMix, _ summary: String) -> QuantizationMethod {
        QuantizationMethod(name: m.rawValue, summary: summary,
                           parameters: ["pure": "1 stores every matrix in \(m.defaultType.name), as llama-quantize --pure (default 0)"],
                           available: true, defaultRoles: [.linear, .embedding, .outputHead],
                           make: { rows, c in
                               try c.checkParameters(known: ["pure"])
                               return try GGMLLinear.quantize(rows, as: m.defaultType)
                           })
    }

    /// The configuration each tensor (llama.cpp names) gets when `config` is a K-quant mix; nil
    /// when it is not one, and then `config` applies to every tensor as usual.
    public static func perTensor(_ config: QuantizationConfig, tensors: [KQuantMix.Tensor], model: KQuantMix.Model) -> [String: QuantizationConfig]? {
        guard let target = GGMLTarget(name: config.method, pure: config.parameters["pure"] == 1), case .mix = target else { return nil }
        return target.types(for: tensors, model: model).mapValues { QuantizationConfig(method: $0.name) }
    }

    public static func method(named name: String) -> QuantizationMethod? { methods.first { $0.name == name } }

    public static var availableNames: [String] { methods.filter(\.available).map(\.name) }

    /// Whether the tensor `name` with `role` is quantized under `config` (else it stays as loaded).
    public static func applies(to name: String, role: WeightRole, config: QuantizationConfig) -> Bool {
        if let skip = config.skip {
            return !skip.contains { name == $0 || name.hasSuffix("." + $0) || name.hasPrefix($0 + ".") }
        }
        guard let m = method(named: config.method) else { return false }
        switch role {
        case .linear: return m.defaultRoles.contains(.linear)
        case .embedding: return m.defaultRoles.contains(.embedding)
        case .outputHead: return m.defaultRoles.contains(.outputHead)
        }
    }

    /// Quantizes an F32 `[out, in]` weight with `config`.
    public static func quantize(_ values: [Float], out: Int, in inFeatures: Int, config: QuantizationConfig) throws -> LinearWeight {
        precondition(values.count == out * inFeatures)
        return try quantize(WeightRows(values, out: out, in: inFeatures), config: config)
    }

    /// Quantizes a weight read a chunk of rows at a time (no F32 copy of the whole tensor).
    public static func quantize(_ rows: WeightRows, config: QuantizationConfig) throws -> LinearWeight {
        guard let m = method(named: config.method) else {
            throw CoreError.invalid("unknown quantization method '\(config.method)'; known: \(methods.map(\.name).joined(separator: ", "))")
        }
        guard m.available else { throw CoreError.unsupported("quantization method '\(m.name)' is not available yet") }
        return try m.make(rows, config)
    }
}

extension QuantizationConfig {
    /// Rejects parameters the method does not know, naming the ones it does.
    func checkParameters(known: Set<String>) throws {
        for key in parameters.keys.sorted() where !known.contains(key) {
            let hint = known.isEmpty ? "it takes no parameters" : "known: \(known.sorted().joined(separator: ", "))"
            throw CoreError.invalid("\(method): unknown parameter '\(key)'; \(hint)")
        }
    }
}
