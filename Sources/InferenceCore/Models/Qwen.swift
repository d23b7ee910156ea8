// Qwen 2 / 2.5 (Qwen Team 2024) and Qwen 3 (2025), as llama.cpp's graphs build them
// (src/models/qwen2.cpp, qwen3.cpp): Llama's layer with the rotation over halves (NEOX), biases on
// the Q/K/V projections (Qwen 2), and an RMSNorm of each query and key head before the rotation
// instead (Qwen 3):
//
//   h = rmsnorm(x) · attn_norm
//   q, k, v = h·Wqᵀ + bq, h·Wkᵀ + bk, h·Wvᵀ + bv                 (Qwen 3: no biases)
//   q, k = rmsnorm_per_head(q) · q_norm, rmsnorm_per_head(k) · k_norm   (Qwen 3)
//   q, k = rope(q), rope(k)
//   x = x + softmax(q·kᵀ / √head_size, causal) · v · Woᵀ
//   x = x + (silu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ  with h = rmsnorm(x) · ffn_norm
import Foundation

extension DecoderArchitecture {
    static let qwen2 = DecoderArchitecture(name: "qwen2", ropeStyle: .halves, graph: QwenGraph(), tensors: [.queryKeyBiases, .outputBias])
    static let qwen3 = DecoderArchitecture(name: "qwen3", ropeStyle: .halves, graph: QwenGraph(), tensors: [.queryKeyNorms])
}

struct QwenGraph: DecoderGraph {
    func layer(_ l: Int, _ p: DecoderPass) {
        let w = p.weights(l)
        p.norm(p.x, w.attentionNorm, into: p.h)                         // attn_norm
        p.qkv(w)                                                        // build_qkv (Qwen 2's biases)
        p.normalizeHeads(w)                                             // attn_q_norm, attn_k_norm (Qwen 3)
        p.rope(l)                                                       // ggml_rope_ext, NEOX
        p.attention(l, scale: p.c.attentionScale)                       // build_attn, kq_scale 1/√head
        p.project(w.o, p.att, into: p.h)                                // wo
        p.addToResidual()                                               // ffn_inp
        p.norm(p.x, w.feedForwardNorm, into: p.h)                       // ffn_norm
        p.feedForward(w)                                                // build_ffn, SILU, PAR
        p.addToResidual()                                               // l_out
    }
}
