// Llama (Touvron et al. 2023) and the models that share its architecture in GGUF files: Llama 2 and
// 3, Mistral, SmolLM, TinyLlama, DeepSeek's and others' `general.architecture = llama`. One layer as
// llama.cpp's graph builds it (src/models/llama.cpp):
//
//   h = rmsnorm(x) · attn_norm
//   q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)              (grouped-query: fewer k/v heads)
//   q, k = rope(q), rope(k)                                      (adjacent pairs; Llama 3.1's rope_freqs)
//   x = x + softmax(q·kᵀ / √head_size, causal) · v · Woᵀ (+bo)
//   x = x + (silu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ  with h = rmsnorm(x) · ffn_norm
//
// Llama's converter permutes q and k so that adjacent pairs rotate together (LLAMA_ROPE_TYPE_NORM).
import Foundation

extension DecoderArchitecture {
    static let llama = DecoderArchitecture(name: "llama", ropeStyle: .interleaved, graph: LlamaGraph(),
                                           tensors: [.attentionBiases, .feedForwardBiases]) { c, file in
        // llama.cpp: "invalid n_rot" unless every dimension of a head rotates.
        guard c.rope.dimensions == c.headSize else {
            throw CoreError.file(file.path, "llama.rope.dimension_count is \(c.rope.dimensions); llama.cpp requires the head size \(c.headSize)")
        }
    }
}

struct LlamaGraph: DecoderGraph {
    func layer(_ l: Int, _ p: DecoderPass) {
        let w = p.weights(l)
        p.norm(p.x, w.attentionNorm, into: p.h)                         // attn_norm
        p.qkv(w)                                                        // build_qkv
        p.rope(l)                                                       // ggml_rope_ext
        p.attention(l, scale: p.c.attentionScale)                       // build_attn, kq_scale 1/√head
        p.project(w.o, p.att, into: p.h, bias: w.oBias)                 // wo
        p.addToResidual()                                               // ffn_inp
        p.norm(p.x, w.feedForwardNorm, into: p.h)                       // ffn_norm
        p.feedForward(w)                                                // build_ffn, SILU, PAR
        p.addToResidual()                                               // l_out
    }
}
