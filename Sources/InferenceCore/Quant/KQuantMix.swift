// llama.cpp's K-quant file types ("mixes"): `llama-quantize model Q4_K_M` does not store every
// matrix in Q4_K; `llama_tensor_get_type` (src/llama-quant.cpp) gives some tensors more bits by
// their role and layer — attn_v and ffn_down in the first and last eighth of the layers and every
// third one between (`use_more_bits`), the output head (or the token embedding a head is tied to)
// in Q6_K — then `tensor_type_fallback` handles rows the super-block does not divide. This is that
// choice, transcribed for dense models (no experts, no Falcon / 70B special cases beyond those
// named below), so that exprun's Q4_K_M file has the tensor types llama-quantize's has.
//
// Which tensors are quantized at all follows `tensor_allows_quantization`: matrices whose name ends
// in "weight", but not norms, position embeddings, token types or a few small special tensors.
// The rules run over the tensors in llama.cpp's order (layer by layer, names sorted within a
// layer), because attn_v's rule counts the attn_v tensors seen so far.
import Foundation

public enum KQuantMix: String, Sendable, CaseIterable {
    case q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k

    /// The type most matrices get (`llama_ftype_get_default_type`).
    public var defaultType: GGMLFormat {
        switch self {
        case .q2_k: .q2_k
        case .q3_k_s, .q3_k_m, .q3_k_l: .q3_k
        case .q4_k_s, .q4_k_m: .q4_k
        case .q5_k_s, .q5_k_m: .q5_k
        case .q6_k: .q6_k
        }
    }

    /// `general.file_type` (enum llama_ftype).
    public var llamaFileType: UInt32 {
        switch self {
        case .q2_k: 10
        case .q3_k_s: 11
        case .q3_k_m: 12
        case .q3_k_l: 13
        case .q4_k_s: 14
        case .q4_k_m: 15
        case .q5_k_s: 16
        case .q5_k_m: 17
        case .q6_k: 18
        }
    }

    /// What the rules need to know of the model: its `general.architecture`, layer count
    /// (`block_count`) and query heads per key/value head (`n_gqa`).
    public struct Model: Sendable {
        public var architecture: String
        public var layers: Int
        public var gqa: Int
        public init(architecture: String, layers: Int, gqa: Int) {
            self.architecture = architecture; self.layers = layers; self.gqa = gqa
        }
    }

    /// A tensor by its llama.cpp name and ggml dimensions (innermost, the row length, first).
    public struct Tensor: Sendable {
        public var name: String
        public var dims: [Int]
        public init(name: String, dims: [Int]) { self.name = name; self.dims = dims }
    }

    /// `tensor_allows_quantization` for the tensors of dense language models.
    public static func allowsQuantization(_ t: Tensor) -> Bool {
        let name = t.name
        guard t.dims.count >= 2, name.hasSuffix("weight") else { return false }
        let never = ["_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
                     "shortconv.conv.weight", "attn_rel_b.weight", ".position_embd", "time_mix_"]
        if never.contains(where: { name.contains($0) }) { return false }
        return name != "position_embd.weight" && name != "token_types.weight"
    }

    enum Category { case tokenEmbedding, attentionQ, attentionV, attentionK, attentionQKV, attentionKVB, attentionOutput, ffnUp, ffnGate, ffnDown, output, other }

    /// `tensor_get_category`.
    static func category(_ name: String) -> Category {
        if name == "output.weight" { return .output }
        if name == "token_embd.weight" || name == "per_layer_token_embd.weight" { return .tokenEmbedding }
        for (part, c) in [("attn_qkv.weight", Category.attentionQKV), ("attn_kv_b.weight", .attentionKVB), ("attn_v.weight", .attentionV),
                          ("attn_k.weight", .attentionK), ("attn_q.weight", .attentionQ), ("attn_output.weight", .attentionOutput),
                          ("ffn_up", .ffnUp), ("ffn_gate", .ffnGate), ("ffn_down", .ffnDown)] where name.contains(part) {
            return c
        }
        return .other
    }

    /// The layer number of a `blk.N.` name (−1 for the others), as llama.cpp's loader sorts by it.
    static func layer(_ name: String) -> Int {
        guard name.hasPrefix("blk.") else { return -1 }
        return Int(name.dropFirst(4).prefix { $0.isNumber }) ?? -1
    }

    /// The type each quantized tensor is asked for, before the fallback for rows the block does not
    /// divide (GGMLFormat.fitting, applied where the rows are quantized); tensors llama-quantize
    /// leaves as they are have no entry.
    public func types(for tensors: [Tensor], model: Model) -> [String: GGMLFormat] {
        let ordered = tensors.sorted { (Self.layer($0.name), $0.name) < (Self.layer($1.name), $1.name) }
        let nAttentionV = tensors.filter { [.attentionV, .attentionQKV, .attentionKVB].contains(Self.category($0.name)) }.count
        let tied = !tensors.contains { $0.name == "output.weight" }
        let nLayer = model.layers, falcon = model.architecture == "falcon"
        var iAttentionV = 0, iFFNDown = 0
        func useMoreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }
        var result: [String: GGMLFormat] = [:]
        for t in ordered where Self.allowsQuantization(t) {
            var type = defaultType
            let c = Self.category(t.name)
            if c == .output || (tied && c == .tokenEmbedding) {
                if falcon || t.dims[0] % type.blockSize != 0 { type = .q8_0 } else if type != .q8_0 { type = .q6_k }
            } else if c == .attentionV || c == .attentionQKV || c == .attentionKVB {
                switch self {
                case .q2_k: type = model.gqa >= 4 ? .q4_k : .q3_k
                case .q3_k_m: type = iAttentionV < 2 ? .q5_k : .q4_k
                case .q3_k_l: type = .q5_k
                case .q4_k_m, .q5_k_m: if useMoreBits(iAttentionV, nAttentionV) { type = .q6_k }
                case .q4_k_s: if iAttentionV < 4 { type = .q5_k }
                default: break
                }
                iAttentionV += 1
            } else if c == .ffnDown {
                let i = iFFNDown
                switch self {
                case .q2_k: type = .q3_k
                case .q3_k_m: type = i < nLayer / 16 ? .q5_k : (!falcon || useMoreBits(i, nLayer)) ? .q4_k : .q3_k
                case .q3_k_l: type = falcon ? .q4_k : .q5_k
                case .q4_k_m:
                    if falcon { type = i < nLayer / 16 ? .q6_k : useMoreBits(i, nLayer) ? .q5_k : .q4_k } else if useMoreBits(i, nLayer) { type = .q6_k }
                case .q5_k_m: if useMoreBits(i, nLayer) { type = .q6_k }
                case .q4_k_s: if !falcon && i < nLayer / 8 { type = .q5_k }
                default: break
                }
                iFFNDown += 1
            } else if c == .attentionOutput {
                if !falcon {
                    switch self {
                    case .q2_k: type = .q3_k
                    case .q3_k_m: type = .q4_k
                    case .q3_k_l: type = .q5_k
                    default: break
                    }
                } else if self == .q3_k_l { type = .q4_k }
            }
            result[t.name] = type
        }
        return result
    }
}

/// What `exprun quantize --to NAME` and an experiment's quantization name ask of a ggml model: one
/// of llama.cpp's K-quant mixes (q2_k, q3_k_s/m/l, q4_k_s/m, q5_k_s/m, q6_k: each tensor's type
/// as `llama-quantize NAME` chooses it), or every matrix in one type (any other type name, or a
/// mix name with `pure`: as `llama-quantize --pure`). Either way rows the block does not divide
/// fall back as llama-quantize does (GGMLFormat.fitting).
public enum GGMLTarget: Sendable, Equatable, CustomStringConvertible {
    case pure(GGMLFormat)
    case mix(KQuantMix)

    /// `name` as exprun writes types (`q4_k_m`, `q8_0`, `fp16`); nil when it is none.
    public init?(name: String, pure: Bool = false) {
        let lower = name.lowercased()
        if let m = KQuantMix(rawValue: lower) {
            self = pure ? .pure(m.defaultType) : .mix(m)
            return
        }
        let aliases: [String: GGMLFormat] = ["f32": .f32, "fp32": .f32, "f16": .f16, "fp16": .f16]
        guard let f = aliases[lower] ?? GGMLFormat(rawValue: lower), f != .q8_k else { return nil }
        self = .pure(f)
    }

    /// Every name `init(name:)` accepts, for messages.
    public static var names: [String] {
        GGMLFormat.weightTypes.map(\.name) + KQuantMix.allCases.map(\.rawValue).filter { GGMLFormat(rawValue: $0) == nil }
    }

    public var description: String {
        switch self {
        case let .pure(f): f.name
        case let .mix(m): m.rawValue
        }
    }

    /// `general.file_type` (llama_ftype) of a file written for this target.
    public var llamaFileType: UInt32 {
        switch self {
        case let .mix(m): return m.llamaFileType
        case let .pure(f):
            switch f {
            case .f32: return 0
            case .f16: return 1
            case .q4_0: return 2
            case .q4_1: return 3
            case .q8_0: return 7
            case .q5_0: return 8
            case .q5_1: return 9
            case .q2_k: return 10
            case .q3_k: return 11      // Q3_K_S
            case .q4_k: return 14      // Q4_K_S
            case .q5_k: return 16      // Q5_K_S
            case .q6_k: return 18
            case .iq4_nl: return 25
            case .iq4_xs: return 30
            case .q8_k: return 0
            }
        }
    }

    /// The type each tensor that llama-quantize would quantize is asked for (before the fallback).
    public func types(for tensors: [KQuantMix.Tensor], model: KQuantMix.Model) -> [String: GGMLFormat] {
        switch self {
        case let .mix(m): return m.types(for: tensors, model: model)
        case let .pure(f):
            return Dictionary(uniqueKeysWithValues: tensors.filter(KQuantMix.allowsQuantization).map { ($0.name, f) })
        }
    }
}
