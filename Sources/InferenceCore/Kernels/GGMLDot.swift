// Dot products of one quantized weight row with one quantized activation row, per ggml type.
// q8_0, q4_0 and q4_K work on 16-lane Int16 SIMD vectors: the weight bytes are read as 16-bit lanes
// and split into even and odd elements with shifts and masks, multiplied lane by lane with the
// activations kept in the matching split layout (ActivationQuant.swift), adjacent lanes summed into
// Int32 and converted, and each block's float scale applied to a vector accumulator, so there is
// no horizontal sum per block (measured 1.3-1.4x faster than plain loops, which LLVM vectorizes to
// `vpdpwssd` but reduces to a scalar every block). q5_0 and q6_K are plain Int32 `&+`/`&*` loops
// (a split-lane q5_0 with per-lane shifts for its fifth bit measured slower).
// Offsets (q4_0's −8, q5_0's −16, q6_K's −32, q4_K's minimums) are folded in through the block
// sums of the activations or subtracted in the lanes, never per weight in float.
// The `reference` versions say the same thing plainly: dequantize both rows to floats with the
// formats' own decoders and sum in Double. Tests compare the two on random shapes.
import Foundation

enum GGMLDot {
    typealias I16 = SIMD16<Int16>
    typealias I32 = SIMD8<Int32>

    /// Sums adjacent pairs of 16-bit lanes into 32-bit lanes (what `vpmaddwd` does after its
    /// multiply): a 32-bit lane holds the two 16-bit lanes, sign-extend each half and add.
    @inline(__always)
    static func pairSums(_ p: I16) -> I32 {
        let v = unsafeBitCast(p, to: I32.self)
        return ((v &<< 16) &>> 16) &+ (v &>> 16)
    }

    @inline(__always)
    static func splat(_ x: UInt16) -> SIMD8<Int16> { SIMD8<Int16>(repeating: Int16(bitPattern: x)) }

    /// q8_0 weight · q8_0 activations (`nb` blocks of 32). The 32 weight bytes, read as 16 lanes,
    /// hold the even element in the low byte (sign-extended by shifting up and back) and the odd
    /// element in the high byte; products of ≤ 127·127 summed in pairs fit 16 bits.
    @inline(__always)
    static func q8_0(_ w: UnsafeRawPointer, _ a: Row, _ nb: Int) -> Float {
        // Two accumulators, even and odd blocks: one chain of FMAs would wait on its own latency.
        var acc = (SIMD8<Float>(), SIMD8<Float>())
        let x = UnsafeRawPointer(a.split)
        @inline(__always) func block(_ b: Int, _ acc: inout SIMD8<Float>) {
            let v = w.loadUnaligned(fromByteOffset: b * 34 + 2, as: I16.self)
            let e = x.loadUnaligned(fromByteOffset: b * 64, as: I16.self)
            let o = x.loadUnaligned(fromByteOffset: b * 64 + 32, as: I16.self)
            let s = pairSums(((v &<< 8) &>> 8) &* e &+ (v &>> 8) &* o)
            acc.addProduct(SIMD8<Float>(s), SIMD8<Float>(repeating: fp16Value(loadU16(w, b * 34)) * a.d[b]))
        }
        var b = 0
        while b + 2 <= nb { block(b, &acc.0); block(b + 1, &acc.1); b += 2 }
        if b < nb { block(b, &acc.0) }
        return (acc.0 + acc.1).sum()
    }

    /// q4_0 weight · q8_0 activations. The 16 bytes of nibbles, read as 8 lanes, hold elements
    /// 2k (bits 0-3), 2k+16 (4-7), 2k+1 (8-11) and 2k+17 (12-15): two 8-lane halves make the even
    /// and the odd vector of the activations' split layout.
    @inline(__always)
    static func q4_0(_ w: UnsafeRawPointer, _ a: Row, _ nb: Int) -> Float {
        var acc = (SIMD8<Float>(), SIMD8<Float>())
        let x = UnsafeRawPointer(a.split)
        let m = SIMD8<Int16>(repeating: 0xF), eight = I16(repeating: 8)
        @inline(__always) func block(_ b: Int, _ acc: inout SIMD8<Float>) {
            let v = w.loadUnaligned(fromByteOffset: b * 18 + 2, as: SIMD8<Int16>.self)
            let we = I16(lowHalf: v & m, highHalf: (v &>> 4) & m) &- eight
            let wo = I16(lowHalf: (v &>> 8) & m, highHalf: (v &>> 12) & m) &- eight
            let e = x.loadUnaligned(fromByteOffset: b * 64, as: I16.self)
            let o = x.loadUnaligned(fromByteOffset: b * 64 + 32, as: I16.self)
            let s = pairSums(we &* e &+ wo &* o)
            acc.addProduct(SIMD8<Float>(s), SIMD8<Float>(repeating: fp16Value(loadU16(w, b * 18)) * a.d[b]))
        }
        var b = 0
        while b + 2 <= nb { block(b, &acc.0); block(b + 1, &acc.1); b += 2 }
        if b < nb { block(b, &acc.0) }
        return (acc.0 + acc.1).sum()
    }

    /// Four activation rows at once (prefill): each weight block is loaded and unpacked once for
    /// four rows, `a` being the first and `stride` the distance between rows (values, and blocks).
    @inline(__always)
    static func q8_0x4(_ w: UnsafeRawPointer, _ a: Row, _ stride: Int, _ nb: Int) -> SIMD4<Float> {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        let x = UnsafeRawPointer(a.split), xs = 2 * stride, ds = stride / 32
        for b in 0..<nb {
            let v = w.loadUnaligned(fromByteOffset: b * 34 + 2, as: I16.self)
            let we = (v &<< 8) &>> 8, wo = v &>> 8, dw = fp16Value(loadU16(w, b * 34))
            @inline(__always) func step(_ k: Int, _ acc: inout SIMD8<Float>) {
                let e = x.loadUnaligned(fromByteOffset: k * xs + b * 64, as: I16.self)
                let o = x.loadUnaligned(fromByteOffset: k * xs + b * 64 + 32, as: I16.self)
                acc.addProduct(SIMD8<Float>(pairSums(we &* e &+ wo &* o)), SIMD8<Float>(repeating: dw * a.d[k * ds + b]))
            }
            step(0, &acc0); step(1, &acc1); step(2, &acc2); step(3, &acc3)
        }
        return SIMD4(acc0.sum(), acc1.sum(), acc2.sum(), acc3.sum())
    }

    @inline(__always)
    static func q4_0x4(_ w: UnsafeRawPointer, _ a: Row, _ stride: Int, _ nb: Int) -> SIMD4<Float> {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        let x = UnsafeRawPointer(a.split), xs = 2 * stride, ds = stride / 32
        let m = SIMD8<Int16>(repeating: 0xF), eight = I16(repeating: 8)
        for b in 0..<nb {
            let v = w.loadUnaligned(fromByteOffset: b * 18 + 2, as: SIMD8<Int16>.self)
            let we = I16(lowHalf: v & m, highHalf: (v &>> 4) & m) &- eight
            let wo = I16(lowHalf: (v &>> 8) & m, highHalf: (v &>> 12) & m) &- eight
            let dw = fp16Value(loadU16(w, b * 18))
            @inline(__always) func step(_ k: Int, _ acc: inout SIMD8<Float>) {
                let e = x.loadUnaligned(fromByteOffset: k * xs + b * 64, as: I16.self)
                let o = x.loadUnaligned(fromByteOffset: k * xs + b * 64 + 32, as: I16.self)
                acc.addProduct(SIMD8<Float>(pairSums(we &* e &+ wo &* o)), SIMD8<Float>(repeating: dw * a.d[k * ds + b]))
            }
            step(0, &acc0); step(1, &acc1); step(2, &acc2); step(3, &acc3)
        }
        return SIMD4(acc0.sum(), acc1.sum(), acc2.sum(), acc3.sum())
    }

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

    /// q4_K weight · q8_K activations (`nb` super-blocks of 256):
    /// Σ (d·sc·q − dmin·m)·x = d·Σ sc·(Σq·x) − dmin·Σ m·(Σx). A 32-byte chunk of nibbles, read as
    /// 16 lanes, holds sub-block 2c's elements 2k, 2k+1 in bits 0-3 and 8-11 and sub-block 2c+1's
    /// in bits 4-7 and 12-15: each pairs with one group of the split activations.
    @inline(__always)
    static func q4_K(_ w: UnsafeRawPointer, _ a: Row, _ nb: Int) -> Float {
        var acc = SIMD8<Float>()
        var mins: Float = 0
        let m = I16(repeating: 0xF)
        for b in 0..<nb {
            let wb = w + b * 144
            let s = (wb + 4).assumingMemoryBound(to: UInt8.self)
            let x = UnsafeRawPointer(a.split + b * 256), bs = a.sums + b * 16
            var isum = I32()
            var summ: Int32 = 0
            for c in 0..<4 {
                let (sc1, m1) = Q4_K.scaleMin(2 * c, s), (sc2, m2) = Q4_K.scaleMin(2 * c + 1, s)
                let v = wb.loadUnaligned(fromByteOffset: 16 + 32 * c, as: I16.self)
                let eA = x.loadUnaligned(fromByteOffset: 128 * c, as: I16.self)
                let oA = x.loadUnaligned(fromByteOffset: 128 * c + 32, as: I16.self)
                let eB = x.loadUnaligned(fromByteOffset: 128 * c + 64, as: I16.self)
                let oB = x.loadUnaligned(fromByteOffset: 128 * c + 96, as: I16.self)
                let sA = pairSums((v & m) &* eA &+ ((v &>> 8) & m) &* oA)
                let sB = pairSums(((v &>> 4) & m) &* eB &+ ((v &>> 12) & m) &* oB)
                isum &+= sA &* I32(repeating: Int32(sc1)) &+ sB &* I32(repeating: Int32(sc2))
                summ &+= Int32(m1) &* (bs[4 * c] &+ bs[4 * c + 1]) &+ Int32(m2) &* (bs[4 * c + 2] &+ bs[4 * c + 3])
            }
            let dx = a.d[b]
            acc.addProduct(SIMD8<Float>(isum), SIMD8<Float>(repeating: fp16Value(loadU16(wb, 0)) * dx))
            mins += fp16Value(loadU16(wb, 2)) * dx * Float(summ)
        }
        return acc.sum() - mins
    }

    /// q4_K against four activation rows at once (prefill); see `q8_0x4`.
    @inline(__always)
    static func q4_Kx4(_ w: UnsafeRawPointer, _ a: Row, _ stride: Int, _ nb: Int) -> SIMD4<Float> {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        var mins = SIMD4<Float>()
        let m = I16(repeating: 0xF), xs = 2 * stride, ds = stride / 256, ss = stride / 16
        let x = UnsafeRawPointer(a.split)
        for b in 0..<nb {
            let wb = w + b * 144
            let s = (wb + 4).assumingMemoryBound(to: UInt8.self)
            var i0 = I32(), i1 = I32(), i2 = I32(), i3 = I32()
            var summ = SIMD4<Int32>()
            for c in 0..<4 {
                let (sc1, m1) = Q4_K.scaleMin(2 * c, s), (sc2, m2) = Q4_K.scaleMin(2 * c + 1, s)
                let v = wb.loadUnaligned(fromByteOffset: 16 + 32 * c, as: I16.self)
                let wA0 = v & m, wA1 = (v &>> 8) & m, wB0 = (v &>> 4) & m, wB1 = (v &>> 12) & m
                let s1 = I32(repeating: Int32(sc1)), s2 = I32(repeating: Int32(sc2))
                @inline(__always) func step(_ k: Int, _ isum: inout I32) {
                    let xc = x + k * xs + b * 512 + 128 * c
                    let sA = pairSums(wA0 &* xc.loadUnaligned(as: I16.self) &+ wA1 &* xc.loadUnaligned(fromByteOffset: 32, as: I16.self))
                    let sB = pairSums(wB0 &* xc.loadUnaligned(fromByteOffset: 64, as: I16.self) &+ wB1 &* xc.loadUnaligned(fromByteOffset: 96, as: I16.self))
                    isum &+= sA &* s1 &+ sB &* s2
                    let bs = a.sums + k * ss + b * 16 + 4 * c
                    summ[k] &+= Int32(m1) &* (bs[0] &+ bs[1]) &+ Int32(m2) &* (bs[2] &+ bs[3])
                }
                step(0, &i0); step(1, &i1); step(2, &i2); step(3, &i3)
            }
            let d = fp16Value(loadU16(wb, 0)), dmin = fp16Value(loadU16(wb, 2))
            let dx = SIMD4<Float>(a.d[b], a.d[ds + b], a.d[2 * ds + b], a.d[3 * ds + b])
            acc0.addProduct(SIMD8<Float>(i0), SIMD8<Float>(repeating: d * dx[0]))
            acc1.addProduct(SIMD8<Float>(i1), SIMD8<Float>(repeating: d * dx[1]))
            acc2.addProduct(SIMD8<Float>(i2), SIMD8<Float>(repeating: d * dx[2]))
            acc3.addProduct(SIMD8<Float>(i3), SIMD8<Float>(repeating: d * dx[3]))
            mins += SIMD4<Float>(repeating: dmin) * dx * SIMD4<Float>(summ)
        }
        return SIMD4(acc0.sum(), acc1.sum(), acc2.sum(), acc3.sum()) - mins
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
        let split: UnsafePointer<Int16>
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
