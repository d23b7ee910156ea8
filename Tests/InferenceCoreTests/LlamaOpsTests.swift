// The Llama family's operations against plain references written from their definitions, in
// double precision: RMSNorm, rotary embeddings (both pairings, with scaling and frequency factors),
// grouped-query causal attention with and without a sliding window, gated activations. Plus
// properties any correct rotary embedding has (norm preserved; q·k depends only on the offset).
import Foundation
import Testing
@testable import InferenceCore

@Suite struct LlamaOpsTests {
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
        Llama.rmsNorm(x, rows: rows, dim: dim, weight: w, eps: 1e-6, into: &y)
        var ref: [Double] = []
        for r in 0..<rows {
            let row = x[r * dim ..< (r + 1) * dim].map(Double.init)
            let rms = (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + 1e-6).squareRoot()
            ref += row.enumerated().map { $0.element / rms * Double(w[$0.offset]) }
        }
        #expect(Self.close(y, ref, tolerance: 1e-5))
        // In place gives the same.
        var z = x
        z.withUnsafeMutableBufferPointer { p in Llama.rmsNorm(p.baseAddress!, rows: rows, dim: dim, weight: w, eps: 1e-6, into: p.baseAddress!) }
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
                Llama.rope(p.baseAddress!, heads: heads, headSize: hs, dims: dims, position: position, base: Float(base),
                           scale: Float(scale), factors: factors, style: style)
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
            r.withUnsafeMutableBufferPointer { Llama.rope($0.baseAddress!, heads: 1, headSize: hs, dims: hs, position: p, base: 10000, scale: 1, factors: nil, style: .halves) }
            return r
        }
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(rotated(q, 9), rotated(q, 9)) - dot(q, q)) < 1e-4)
        #expect(abs(dot(rotated(q, 12), rotated(k, 5)) - dot(rotated(q, 107), rotated(k, 100))) < 1e-3)
    }

    /// Attention written from its definition: every query head against its key/value group.
    static func referenceAttention(q: [Float], keys: [Float], values: [Float], rows: Int, start: Int, heads: Int, kvHeads: Int,
                                   hs: Int, scale: Double, window: Int?) -> [Double] {
        var out = [Double](repeating: 0, count: rows * heads * hs)
        for t in 0..<rows {
            let p = start + t
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let visible = (0...p).filter { j in window.map { p - j < $0 } ?? true }
                let scores = visible.map { j -> Double in
                    var s = 0.0
                    for i in 0..<hs { s += Double(q[t * heads * hs + h * hs + i]) * Double(keys[j * kvHeads * hs + g * hs + i]) }
                    return s * scale
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }, z = e.reduce(0, +)
                for (n, j) in visible.enumerated() {
                    for i in 0..<hs { out[t * heads * hs + h * hs + i] += e[n] / z * Double(values[j * kvHeads * hs + g * hs + i]) }
                }
            }
        }
        return out
    }

    @Test(arguments: [(4, 1, nil), (4, 2, nil), (2, 2, nil), (4, 1, 3), (4, 2, 5)] as [(Int, Int, Int?)])
    func attentionMatchesDefinition(heads: Int, kvHeads: Int, window: Int?) {
        let hs = 8, start = 6, rows = 5, positions = start + rows
        let q = Self.random(rows * heads * hs, seed: 11), keys = Self.random(positions * kvHeads * hs, seed: 12)
        let values = Self.random(positions * kvHeads * hs, seed: 13)
        var out = [Float](repeating: 0, count: rows * heads * hs)
        let scale = 1 / Float(hs).squareRoot()
        for threads in [1, 2] {
            Llama.attention(queries: q, rows: rows, start: start, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                            headSize: hs, scale: scale, window: window, into: &out, pool: ThreadPool(threads: threads))
            let ref = Self.referenceAttention(q: q, keys: keys, values: values, rows: rows, start: start, heads: heads,
                                              kvHeads: kvHeads, hs: hs, scale: Double(scale), window: window)
            #expect(Self.close(out, ref, tolerance: 1e-5))
        }
    }

    @Test func gatedActivations() {
        let g = Self.random(2000, seed: 21, scale: 6), u = Self.random(2000, seed: 22)
        for act in [FeedForwardActivation.silu, .geluTanh] {
            var y = g
            y.withUnsafeMutableBufferPointer { Llama.gatedActivation($0.baseAddress!, u, count: 2000, act, pool: ThreadPool(threads: 2)) }
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
