// Dot products of one quantized weight row with one quantized activation row, per ggml type.
// The integer types run in C (Sources/GGMLSIMD: `vpmaddubsw` / `vpdpbusd` byte products, which
// Swift's SIMD types do not emit; measured 2.2-3x faster per block than Int16-lane Swift kernels,
// and q5_0 / q6_K 2-5x faster than plain Int32 Swift loops). Offsets (q4_0's −8, q5_0's −16,
// q6_K's −32, q4_K's minimums) are folded in through the block sums of the activations, never
// per weight in float. Here: the f16 fallback, and the `reference`, which says the same thing
// plainly: dequantize both rows to floats with the formats' own decoders and sum in Double. Tests
// compare the kernels with it on random shapes.
import Foundation

enum GGMLDot {
    /// f16 weight · f32 activations (the fallback type for rows no block divides).
    @inline(__always)
    static func f16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        let h = w.assumingMemoryBound(to: Float16.self)
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i + 4 <= n {
            s0 += Float(h[i]) * x[i]; s1 += Float(h[i + 1]) * x[i + 1]
            s2 += Float(h[i + 2]) * x[i + 2]; s3 += Float(h[i + 3]) * x[i + 3]
            i += 4
        }
        while i < n { s0 += Float(h[i]) * x[i]; i += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// One activation row's view into `QuantizedActivations`.
    struct Row {
        let q: UnsafePointer<Int8>
        let d: UnsafePointer<Float>
        let sums: UnsafePointer<Int32>
    }

    /// The plain reference: both rows dequantized to floats by the formats' decoders, summed in Double.
    static func reference(_ format: GGMLFormat, _ w: UnsafeRawPointer, _ a: Row, block: Int, n: Int) -> Float {
        var wf = [Float](repeating: 0, count: n)
        wf.withUnsafeMutableBufferPointer { GGMLLinear.dequantize(format, w, count: n, into: $0.baseAddress!) }
        var s: Double = 0
        for i in 0..<n { s += Double(wf[i]) * Double(Float(a.q[i]) * a.d[i / block]) }
        return Float(s)
    }
}
