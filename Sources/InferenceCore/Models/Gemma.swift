// Gemma (Gemma Team 2024), Gemma 2 (2024) and Gemma 3 (2025), as llama.cpp's graphs build them
// (src/models/gemma.cpp, gemma2.cpp, gemma3.cpp). All three scale the embedding by √d, rotate over
// halves, scale Q before the scores and gate with GELU (GeGLU):
//
//   x = embed[token] · √d
//   h = rmsnorm(x) · attn_norm
//   q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ
//   q, k = rmsnorm_per_head(q) · q_norm, rmsnorm_per_head(k) · k_norm   (Gemma 3)
//   q, k = rope(q), rope(k)                      (local layers: their own base, Gemma 2 and 3)
//   q = q · attention_scale                      (1/√head_size; 1/√(d/heads) for the 27B models)
//   a = softmax(cap · tanh(q·kᵀ / cap), causal, window on local layers) · v · Woᵀ
//                                                (soft-cap: Gemma 2; window: Gemma 2 and 3)
//   x = x + rmsnorm(a) · post_attention_norm     (the norm: Gemma 2 and 3)
//   f = (gelu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ  with h = rmsnorm(x) · ffn_norm
//   x = x + rmsnorm(f) · post_ffw_norm           (the norm: Gemma 2 and 3)
//   logits = cap · tanh(head(x) / cap)           (Gemma 2 always; Gemma 3 when the metadata sets it)
//
// Gemma 2 alternates local and global layers (sliding window 4096 by default), Gemma 3 has five
// local layers to each global one, the local ones with rotary base 10000. Gemma's RMSNorm
// multiplies by (1 + w); llama.cpp's converter adds the 1 to the stored weights, so a GGUF's norms
// are used as they are.
import Foundation

extension DecoderArchitecture {
    static let gemma = DecoderArchitecture(name: "gemma", ropeStyle: .halves, graph: GemmaGraph(), tensors: [.embeddingAsHead]) { c, _ in
        c.gemmaCommon(twentySevenBLayers: nil)
    }

    static let gemma2 = DecoderArchitecture(name: "gemma2", ropeStyle: .halves, graph: GemmaGraph(),
                                            tensors: [.postNorms, .embeddingAsHead]) { c, file in
        c.gemmaCommon(twentySevenBLayers: 46)
        c.slidingWindow = try file.int("gemma2.attention.sliding_window") ?? 4096
        try c.loadSlidingWindowPattern(file, defaultPattern: 2)
        c.localRopeBase = try file.float("gemma2.rope.freq_base_swa") ?? c.rope.base
        c.localRopeScale = c.rope.freqScale
        c.attentionSoftcap = try file.float("gemma2.attn_logit_softcapping") ?? 50
        c.finalLogitSoftcap = try file.float("gemma2.final_logit_softcapping") ?? 30
    }

    static let gemma3 = DecoderArchitecture(name: "gemma3", ropeStyle: .halves, graph: GemmaGraph(),
                                            tensors: [.queryKeyNorms, .postNorms]) { c, file in
        c.gemmaCommon(twentySevenBLayers: 62)
        if let window = try file.int("gemma3.attention.sliding_window"), window > 0 {
            c.slidingWindow = window
            try c.loadSlidingWindowPattern(file, defaultPattern: 6)
            c.localRopeBase = try file.float("gemma3.rope.freq_base_swa") ?? 10000
        }
        let cap = try file.float("gemma3.final_logit_softcapping") ?? 0
        c.finalLogitSoftcap = cap != 0 ? cap : nil
    }
}

extension DecoderConfig {
    /// What every Gemma has: √d embedding scale, GeGLU, and gemma_pytorch's query scale (1/√(d/heads)
    /// for the 27B model, recognised by its layer count, 1/√head_size otherwise).
    mutating func gemmaCommon(twentySevenBLayers: Int?) {
        embeddingScale = Float(embeddingSize).squareRoot()
        activation = .geluTanh
        attentionScale = layerCount == twentySevenBLayers ? 1 / Float(embeddingSize / headCount).squareRoot()
                                                          : 1 / Float(headSize).squareRoot()
    }
}

struct GemmaGraph: DecoderGraph {
    func layer(_ l: Int, _ p: DecoderPass) {
        let w = p.weights(l)
        p.norm(p.x, w.attentionNorm, into: p.h)                         // attn_norm
        p.qkv(w)                                                        // build_qkv
        p.normalizeHeads(w)                                             // attn_q_norm, attn_k_norm (Gemma 3)
        p.rope(l)                                                       // ggml_rope_ext, NEOX, base per layer
        p.scaleQueries(p.c.attentionScale)                              // Qcur = ggml_scale(Qcur, f_attention_scale)
        p.attention(l, scale: 1, softcap: p.c.attentionSoftcap)         // build_attn, kq_scale 1
        p.project(w.o, p.att, into: p.h)                                // wo
        if let n = w.postAttentionNorm { p.norm(p.h, n, into: p.h) }    // attn_post_norm
        p.addToResidual()                                               // sa_out
        p.norm(p.x, w.feedForwardNorm, into: p.h)                       // ffn_norm
        p.feedForward(w)                                                // build_ffn, GELU, PAR
        if let n = w.postFeedForwardNorm { p.norm(p.h, n, into: p.h) }  // ffn_post_norm
        p.addToResidual()                                               // l_out
    }
}
