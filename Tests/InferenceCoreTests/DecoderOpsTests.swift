// The decoder's operations against plain references written from their definitions, in double
// precision: RMSNorm, rotary embeddings (both pairings, with linear scaling, frequency factors and
// YaRN as transformers' _compute_yarn_parameters defines it), grouped-query causal attention with
// and without a sliding window and soft-capping, gated activations. Plus properties any correct
// rotary embedding has (norm preserved; q·k depends only on the offset).
import Foundation
import Testing
@testable import InferenceCore

@Suite struct DecoderOpsTests {
    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in Float(rng.nextUnitDouble() * 2 - 1) * scale }
    }

    static func close(_ a: [Float], _ b: [Double], tolerance: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func rmsNormMatchesDefinition() {
        let rows = 3, dim = 70
        let x = Self.random(rows * dim, seed: 1, scale: 5), w = Self.random(dim, seed: 2)
        var y = [Float](repeating: 0, count: rows * dim)
        DecoderOps.rmsNorm(x, rows: rows, dim: dim, weight: w, eps: 1e-6, into: &y)
        var ref: [Double] = []
        for r in 0..<rows {
            let row = x[r * dim ..< (r + 1) * dim].map(Double.init)
            let rms = (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + 1e-6).squareRoot()
            ref += row.enumerated().map { $0.element / rms * Double(w[$0.offset]) }
        }
        #expect(Self.close(y, ref, tolerance: 1e-5))
        // In place gives the same.
        var z = x
        z.withUnsafeMutableBufferPointer { p in DecoderOps.rmsNorm(p.baseAddress!, rows: rows, dim: dim, weight: w, eps: 1e-6, into: p.baseAddress!) }
        #expect(z == y)
    }

    /// Rotation of pair i by angle pos · scale · base^(−2i/dims) / factor_i, written directly.
    static func referenceRope(_ x: [Float], heads: Int, headSize: Int, dims: Int, position: Int, base: Double,
                              scale: Double, factors: [Float]?, style: RopeStyle) -> [Double] {
        var out = x.map(Double.init)
        for h in 0..<heads {
            for i in 0..<dims / 2 {
                let angle = Double(position) * scale * pow(base, -2 * Double(i) / Double(dims)) / Double(factors?[i] ?? 1)
                let (a, b) = style == .halves ? (i, i + dims / 2) : (2 * i, 2 * i + 1)
                let x0 = Double(x[h * headSize + a]), x1 = Double(x[h * headSize + b])
                out[h * headSize + a] = x0 * cos(angle) - x1 * sin(angle)
                out[h * headSize + b] = x0 * sin(angle) + x1 * cos(angle)
            }
        }
        return out
    }

    @Test(arguments: [RopeStyle.halves, .interleaved])
    func ropeMatchesDefinition(style: RopeStyle) {
        let heads = 3, hs = 16
        for (dims, position, base, scale, factors) in [(16, 0, 10000.0, 1.0, nil), (16, 7, 10000.0, 1.0, nil),
                                                       (12, 300, 1_000_000.0, 0.125, nil),
                                                       (16, 41, 500000.0, 1.0, (0..<8).map { Float(1 + $0) })] as [(Int, Int, Double, Double, [Float]?)] {
            let x = Self.random(heads * hs, seed: UInt64(position + dims))
            var y = x
            y.withUnsafeMutableBufferPointer { p in
                DecoderOps.rope(p.baseAddress!, heads: heads, headSize: hs, position: position,
                                RopeParameters(style: style, dimensions: dims, base: Float(base), freqScale: Float(scale), originalContext: 4096),
                                base: Float(base), freqScale: Float(scale), factors: factors)
            }
            let ref = Self.referenceRope(x, heads: heads, headSize: hs, dims: dims, position: position, base: base,
                                         scale: scale, factors: factors, style: style)
            // Float angles at position 300 carry ~1e-4 relative error, as ggml's do.
            #expect(Self.close(y, ref, tolerance: 1e-3), "dims \(dims) position \(position)")
        }
    }

    @Test func ropeKeepsNormsAndDependsOnlyOnOffset() {
        let hs = 32
        let q = Self.random(hs, seed: 5), k = Self.random(hs, seed: 6)
        func rotated(_ v: [Float], _ p: Int) -> [Float] {
            var r = v
            let params = RopeParameters(style: .halves, dimensions: hs, base: 10000, freqScale: 1, originalContext: 4096)
            r.withUnsafeMutableBufferPointer { DecoderOps.rope($0.baseAddress!, heads: 1, headSize: hs, position: p, params, base: 10000, freqScale: 1, factors: nil) }
            return r
        }
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(rotated(q, 9), rotated(q, 9)) - dot(q, q)) < 1e-4)
        #expect(abs(dot(rotated(q, 12), rotated(k, 5)) - dot(rotated(q, 107), rotated(k, 100))) < 1e-3)
    }

    /// YaRN as transformers defines it (modeling_rope_utils._compute_yarn_parameters, Peng et al.
    /// 2023): per pair, the interpolated frequency base^(−2i/d) / factor and the original one mixed by
    /// a linear ramp between the correction dimensions of beta_fast and beta_slow (floored and
    /// ceiled), cos and sin scaled by 0.1·ln(factor) + 1.
    @Test(arguments: [RopeStyle.halves, .interleaved])
    func yarnMatchesDefinition(style: RopeStyle) {
        let heads = 2, hs = 32, dims = 32, factor = 4.0, original = 1024, base = 1_000_000.0
        var params = RopeParameters(style: style, dimensions: dims, base: Float(base), freqScale: Float(1 / factor), originalContext: original)
        params.extFactor = 1
        // What llama.cpp's context makes of attn_factor (mscale / the same correction): 1 up to rounding.
        params.attnFactor = Float(0.1 * log(factor) + 1) * (1 / Float(1 + 0.1 * log(factor)))
        func correctionDim(_ rotations: Double) -> Double {
            Double(dims) * log(Double(original) / (rotations * 2 * Double.pi)) / (2 * log(base))
        }
        let low = max(0, floor(correctionDim(32))), high = min(Double(dims - 1), ceil(correctionDim(1)))
        let mscale = 0.1 * log(factor) + 1
        for position in [0, 5, 700, 3000] {
            let x = Self.random(heads * hs, seed: UInt64(position + 3))
            var y = x
            y.withUnsafeMutableBufferPointer { p in
                DecoderOps.rope(p.baseAddress!, heads: heads, headSize: hs, position: position, params, base: Float(base),
                                freqScale: params.freqScale, factors: nil)
            }
            var ref = x.map(Double.init)
            for h in 0..<heads {
                for i in 0..<dims / 2 {
                    let extrapolation = pow(base, -2 * Double(i) / Double(dims)), interpolation = extrapolation / factor
                    let ramp = min(1, max(0, (Double(i) - low) / max(0.001, high - low)))
                    let inverseFrequency = interpolation * ramp + extrapolation * (1 - ramp)
                    let angle = Double(position) * inverseFrequency
                    let (a, b) = style == .halves ? (i, i + dims / 2) : (2 * i, 2 * i + 1)
                    let x0 = Double(x[h * hs + a]), x1 = Double(x[h * hs + b])
                    ref[h * hs + a] = (x0 * cos(angle) - x1 * sin(angle)) * mscale
                    ref[h * hs + b] = (x0 * sin(angle) + x1 * cos(angle)) * mscale
                }
            }
            #expect(Self.close(y, ref, tolerance: 2e-3), "position \(position)")
        }
        // Without YaRN's mix the high-frequency pairs would turn 4× slower: the test can tell.
        var linear = params
        linear.extFactor = 0
        var y = Self.random(heads * hs, seed: 703), z = y
        y.withUnsafeMutableBufferPointer { DecoderOps.rope($0.baseAddress!, heads: heads, headSize: hs, position: 700, params, base: Float(base), freqScale: 0.25, factors: nil) }
        z.withUnsafeMutableBufferPointer { DecoderOps.rope($0.baseAddress!, heads: heads, headSize: hs, position: 700, linear, base: Float(base), freqScale: 0.25, factors: nil) }
        #expect(zip(y, z).map { abs($0 - $1) }.max()! > 0.1)
    }

    /// Attention written from its definition: every query head against its key/value group, with
    /// llama.cpp's F16 roundings of the query and of the softmax weights.
    static func referenceAttention(q: [Float], keys: [Float], values: [Float], rows: Int, start: Int, heads: Int, kvHeads: Int,
                                   hs: Int, scale: Double, softcap: Double? = nil, window: Int?) -> [Double] {
        var out = [Double](repeating: 0, count: rows * heads * hs)
        for t in 0..<rows {
            let p = start + t
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let visible = (0...p).filter { j in window.map { p - j < $0 } ?? true }
                let scores = visible.map { j -> Double in
                    var s = 0.0
                    for i in 0..<hs { s += Double(Float16(q[t * heads * hs + h * hs + i])) * Double(keys[j * kvHeads * hs + g * hs + i]) }
                    if let cap = softcap { s = cap * tanh(s / cap) }
                    return s * scale
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
                for (n, j) in visible.enumerated() {
                    let weight = Double(Float16(Float(e[n] / z)))
                    for i in 0..<hs { out[t * heads * hs + h * hs + i] += weight * Double(values[j * kvHeads * hs + g * hs + i]) }
                }
            }
        }
        return out
    }

    @Test(arguments: [(4, 1, nil, nil), (4, 2, nil, nil), (2, 2, nil, 1.5), (4, 1, 3, nil), (4, 2, 5, 2.0)] as [(Int, Int, Int?, Float?)])
    func attentionMatchesDefinition(heads: Int, kvHeads: Int, window: Int?, softcap: Float?) {
        let hs = 8, start = 6, rows = 5, positions = start + rows
        let q = Self.random(rows * heads * hs, seed: 11), keys = Self.random(positions * kvHeads * hs, seed: 12)
        let values = Self.random(positions * kvHeads * hs, seed: 13)
        var out = [Float](repeating: 0, count: rows * heads * hs)
        let scale = 1 / Float(hs).squareRoot()
        for threads in [1, 2] {
            DecoderOps.attention(queries: q, rows: rows, start: start, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                                 headSize: hs, scale: scale, softcap: softcap, window: window, into: &out, pool: ThreadPool(threads: threads))
            let ref = Self.referenceAttention(q: q, keys: keys, values: values, rows: rows, start: start, heads: heads,
                                              kvHeads: kvHeads, hs: hs, scale: Double(scale), softcap: softcap.map(Double.init), window: window)
            #expect(Self.close(out, ref, tolerance: 1e-5))
        }
    }

    @Test func gatedActivations() {
        let g = Self.random(2000, seed: 21, scale: 6), u = Self.random(2000, seed: 22)
        for act in [FeedForwardActivation.silu, .geluTanh] {
            var y = g
            y.withUnsafeMutableBufferPointer { DecoderOps.gatedActivation($0.baseAddress!, u, count: 2000, act, pool: ThreadPool(threads: 2)) }
            let ref = (0..<2000).map { i -> Double in
                if act == .silu { let x = Double(g[i]); return x / (1 + exp(-x)) * Double(u[i]) }
                // GELU as ggml's table: input rounded to F16, result stored as F16; exact beyond ±10.
                let x = Double(Float16(g[i]))
                let gelu = 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
                let a = g[i] <= -10 ? 0 : g[i] >= 10 ? Double(g[i]) : Double(Float16(Float(gelu)))
                return a * Double(u[i])
            }
            #expect(Self.close(y, ref, tolerance: act == .silu ? 1e-5 : 1e-3))
        }
    }
}
