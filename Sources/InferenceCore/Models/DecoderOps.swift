// The operations of a decoder block, computed as ggml's CPU backend computes them so that logits
// agree with llama.cpp's to the last few bits where that is cheap: RMSNorm summed in double,
// rotary embeddings with ggml's angle recurrence and YaRN, keys and values rounded to F16 (llama.cpp's
// default cache type), GELU through an F16 table. Each has a plain reference in DecoderOpsTests.
import Foundation

enum DecoderOps {
    /// `y = x / √(mean(x²) + eps) · w` per row of `dim` values; `y` may be `x`. The squares are
    /// summed in double and the mean taken in float, as ggml's `rms_norm` does.
    static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: [Float], eps: Float,
                        into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                let xr = x + r * dim, yr = y + r * dim
                var s: Double = 0
                for i in 0..<dim { s += Double(xr[i] * xr[i]) }
                let scale = 1 / (Float(s / Double(dim)) + eps).squareRoot()
                for i in 0..<dim { yr[i] = xr[i] * scale * w[i] }
            }
        }
    }

    /// Rotary position embedding of `heads` consecutive heads at `position`, in place, as ggml's
    /// `rope_ext` (ggml-cpu/ops.cpp, `ggml_rope_cache_init` and `rope_yarn`): θ starts at the
    /// position and is multiplied by base^(−2/dims) from pair to pair, in float; pair i turns by
    /// freqScale · θ / factor[i], which YaRN mixes with the unscaled θ / factor[i] by a ramp over
    /// the pairs between its correction dimensions.
    static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int, position: Int,
                     _ r: RopeParameters, base: Float, freqScale: Float, factors: [Float]?) {
        let dims = r.dimensions, half = dims / 2
        let thetaScale = Foundation.pow(base, -2 / Float(dims))
        var low: Float = 0, high: Float = 0
        var mscale = r.attnFactor
        if r.extFactor != 0 {
            // ggml_rope_yarn_corr_dims
            func corrDim(_ rotations: Float) -> Float {
                Float(dims) * Foundation.log(Float(r.originalContext) / (rotations * 2 * Float.pi)) / (2 * Foundation.log(base))
            }
            low = max(0, Foundation.floor(corrDim(r.betaFast)))
            high = min(Float(dims - 1), Foundation.ceil(corrDim(r.betaSlow)))
            mscale *= 1 + 0.1 * Foundation.log(1 / freqScale)
        }
        var theta = Float(position)
        var cosines = [Float](repeating: 0, count: half), sines = [Float](repeating: 0, count: half)
        for i in 0..<half {
            let extrapolated = theta / (factors?[i] ?? 1)
            let interpolated = freqScale * extrapolated
            var angle = interpolated
            if r.extFactor != 0 {
                let y = (Float(i) - low) / max(0.001, high - low)
                let mix = (1 - min(1, max(0, y))) * r.extFactor
                angle = interpolated * (1 - mix) + extrapolated * mix
            }
            cosines[i] = Foundation.cos(angle) * mscale
            sines[i] = Foundation.sin(angle) * mscale
            theta *= thetaScale
        }
        for hd in 0..<heads {
            let p = x + hd * headSize
            for i in 0..<half {
                let (a, b) = r.style == .halves ? (i, i + half) : (2 * i, 2 * i + 1)
                let x0 = p[a], x1 = p[b]
                p[a] = x0 * cosines[i] - x1 * sines[i]
                p[b] = x0 * sines[i] + x1 * cosines[i]
            }
        }
    }

    /// Causal grouped-query attention of `rows` new positions (`start ..< start + rows`) over the
    /// cached keys and values (`kvHeads × headSize` per position, F16 values). Query head `h` reads
    /// key/value head `h / (heads / kvHeads)`. As llama.cpp's `build_attn_mha` without flash
    /// attention: scores q·k with q rounded to F16 (ggml multiplies an F16 cache by F16 rows),
    /// soft-capped (cap · tanh(s / cap)) when `softcap` is set, multiplied by `scale` inside the
    /// softmax; the softmax weights rounded to F16 before they weight the values. Those roundings
    /// matter beyond their size: a quantized projection downstream rounds activations to 8 bits,
    /// and a last-bit difference here flips some of those roundings. With a `window`, position p
    /// sees only p − window + 1 ... p (llama.cpp's standard sliding window: masked when
    /// p − p₀ ≥ window).
    static func attention(queries q: UnsafePointer<Float>, rows T: Int, start: Int,
                          keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                          heads: Int, kvHeads: Int, headSize hs: Int, scale: Float, softcap: Float? = nil, window: Int?,
                          into out: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let group = heads / kvHeads, qd = heads * hs, kvd = kvHeads * hs
        pool.parallelFor(heads * T) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: start + T)
            let query = UnsafeMutablePointer<Float>.allocate(capacity: hs)
            defer { scores.deallocate(); query.deallocate() }
            for job in range {
                let head = job % heads, t = job / heads
                let kvHead = head / group
                let qv = q + t * qd + head * hs
                for i in 0..<hs { query[i] = Float(Float16(qv[i])) }
                let p = start + t
                let lo = window.map { max(0, p - $0 + 1) } ?? 0
                var m = -Float.infinity
                for j in lo...p {
                    var s = F32Linear.dot(query, keys + j * kvd + kvHead * hs, hs)
                    if let cap = softcap { s = cap * Foundation.tanh(s / cap) }
                    s *= scale
                    scores[j] = s
                    m = max(m, s)
                }
                let sum = Activation.softmaxNumerators(scores + lo, count: p - lo + 1, max: m)
                let o = out + t * qd + head * hs
                o.initialize(repeating: 0, count: hs)
                let inv = 1 / sum
                for j in lo...p {
                    let w = Float(Float16(scores[j] * inv)), vj = values + j * kvd + kvHead * hs
                    for i in 0..<hs { o[i] += w * vj[i] }
                }
            }
        }
    }

    /// `gate[i] = act(gate[i]) · up[i]`, split over the pool (ggml's `swiglu` / `geglu`).
    static func gatedActivation(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                                _ act: FeedForwardActivation, pool: ThreadPool) {
        pool.parallelFor(count, granule: 1024) { range in
            switch act {
            case .silu: for i in range { let g = gate[i]; gate[i] = g / (1 + Foundation.exp(-g)) * up[i] }
            case .geluTanh:
                geluF16Table.withUnsafeBufferPointer { t in
                    for i in range {
                        let g = gate[i]
                        gate[i] = (g <= -10 ? 0 : g >= 10 ? g : t[Int(Float16(g).bitPattern)]) * up[i]
                    }
                }
            }
        }
    }

    /// GELU as ggml's CPU backend computes it: the input rounded to F16 and looked up in a table of
    /// F16 results (`ggml_vec_geglu_f32` with GGML_GELU_FP16); exact beyond ±10.
    @inline(__always) static func geluTanhF16(_ x: Float) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return Float(Float16(geluTanh(Float(Float16(x)))))
    }

    /// geluTanhF16 of every fp16 value, by bit pattern (ggml's table, built once: the tanh per
    /// element took a tenth of Gemma's prefill).
    static let geluF16Table: [Float] = (0..<65536).map { geluTanhF16(Float(Float16(bitPattern: UInt16($0)))) }

    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x)))
    }
}
