// Dot products of one quantized weight row with one quantized activation row, per ggml type.
// q8_0, q4_0 and q4_K run in C (Sources/GGMLSIMD: `vpmaddubsw` / `vpdpbusd` byte products, which
// Swift's SIMD types do not emit; measured 2.2-3x faster per block than the Int16-lane Swift
// kernels they replaced). q5_0 and q6_K are plain Int32 `&+`/`&*` loops here, which LLVM
// vectorizes (a split-lane q5_0 with per-lane shifts for its fifth bit measured slower).
// Offsets (q4_0's −8, q5_0's −16, q6_K's −32, q4_K's minimums) are folded in through the block
// sums of the activations, never per weight in float.
// The `reference` versions say the same thing plainly: dequantize both rows to floats with the
// formats' own decoders and sum in Double. Tests compare the two on random shapes.
import Foundation

enum GGMLDot {
    /// q5_0 weight · q8_0 activations: Σ (q−16)·x = Σ q·x − 16·Σx. (Plain Int32 loops: the
    /// split-lane form of q4_0 with the fifth bits from per-lane shifts measured slower.)
    @inline(__always)
    static func q5_0(_ w: UnsafeRawPointer, _ a: Row, _ nb: Int) -> Float {
        var acc: Float = 0
        for b in 0..<nb {
            let wb = w + b * 22
            let qh = UInt32(littleEndian: wb.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let q = (wb + 6).assumingMemoryBound(to: UInt8.self), x = a.q + b * 32
            var s: Int32 = 0
            for j in 0..<16 {
                let lo = Int32(q[j] & 15) | Int32(bitPattern: (qh >> UInt32(j)) & 1) << 4
                let hi = Int32(q[j] >> 4) | Int32(bitPattern: (qh >> UInt32(j + 16)) & 1) << 4
                s &+= lo &* Int32(x[j]) &+ hi &* Int32(x[j + 16])
            }
            acc += Float(s &- 16 &* a.sums[b]) * (fp16Value(loadU16(wb, 0)) * a.d[b])
        }
        return acc
    }

    /// q6_K weight · q8_K activations: Σ d·sc·(q−32)·x = d·Σ sc·(Σq·x − 32·Σx).
    @inline(__always)
    static func q6_K(_ w: UnsafeRawPointer, _ a: Row, _ nb: Int) -> Float {
        var acc: Float = 0
        for b in 0..<nb {
            let wb = w + b * 210
            let sc = (wb + 192).assumingMemoryBound(to: Int8.self)
            let x = a.q + b * 256, bs = a.sums + b * 16
            var sumi: Int32 = 0
            for h in 0..<2 {
                let ql = (wb + 64 * h).assumingMemoryBound(to: UInt8.self)
                let qh = (wb + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
                let xh = x + 128 * h
                for half in 0..<2 {
                    var s0: Int32 = 0, s1: Int32 = 0, s2: Int32 = 0, s3: Int32 = 0
                    for i in 0..<16 {
                        let l = 16 * half + i
                        let q1 = Int32((ql[l] & 0xF) | ((qh[l] & 3) << 4))
                        let q2 = Int32((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4))
                        let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4))
                        let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4))
                        s0 &+= q1 &* Int32(xh[l]); s1 &+= q2 &* Int32(xh[l + 32])
                        s2 &+= q3 &* Int32(xh[l + 64]); s3 &+= q4 &* Int32(xh[l + 96])
                    }
                    let j = 8 * h + half
                    sumi &+= s0 &* Int32(sc[j]) &+ s1 &* Int32(sc[j + 2]) &+ s2 &* Int32(sc[j + 4]) &+ s3 &* Int32(sc[j + 6])
                }
            }
            var offs: Int32 = 0
            for j in 0..<16 { offs &+= Int32(sc[j]) &* bs[j] }
            acc += fp16Value(loadU16(wb, 208)) * a.d[b] * Float(sumi &- 32 &* offs)
        }
        return acc
    }

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
