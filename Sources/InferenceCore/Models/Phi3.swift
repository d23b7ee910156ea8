// Phi-3 (Abdin et al. 2024), as llama.cpp's graph builds it (src/models/phi3.cpp): Q, K and V
// from one fused matrix, gate and up from one fused matrix (SwiGLU over its two halves), the
// rotation over halves with LongRoPE's per-pair factors where the file has them (long ones for
// contexts beyond the original length), and Q scaled before the scores:
//
//   h = rmsnorm(x) · attn_norm
//   q | k | v = h·Wqkvᵀ
//   q, k = rope(q), rope(k);  q = q / √head_size
//   x = x + softmax(q·kᵀ, causal) · v · Woᵀ
//   g | u = h·Wupᵀ  with h = rmsnorm(x) · ffn_norm
//   x = x + (silu(g) ⊙ u)·Wdownᵀ
//
// llama.cpp turns Phi-3's sliding window off ("Phi SWA is currently disabled"), and so does exprun.
import Foundation

extension DecoderArchitecture {
    static let phi3 = DecoderArchitecture(name: "phi3", ropeStyle: .halves, graph: Phi3Graph(), tensors: [.fusedGateUp])
}

struct Phi3Graph: DecoderGraph {
    func layer(_ l: Int, _ p: DecoderPass) {
        let w = p.weights(l)
        p.norm(p.x, w.attentionNorm, into: p.h)                         // attn_norm
        p.qkv(w)                                                        // build_qkv (fused attn_qkv)
        p.rope(l)                                                       // ggml_rope_ext, NEOX, rope factors
        p.scaleQueries(1 / Float(p.c.headSize).squareRoot())            // Qcur = ggml_scale(Qcur, 1/√head)
        p.attention(l, scale: 1)                                        // build_attn, kq_scale 1
        p.project(w.o, p.att, into: p.h)                                // wo
        p.addToResidual()                                               // residual
        p.norm(p.x, w.feedForwardNorm, into: p.h)                       // ffn_norm
        p.feedForward(w)                                                // build_ffn, SWIGLU, SEQ
        p.addToResidual()                                               // l_out
    }
}
