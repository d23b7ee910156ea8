// fp32: plain IEEE single precision, one row of `in` floats per output feature.
//   row o: [w(o,0) w(o,1) ... w(o,in-1)]   4 bytes per weight
import Foundation
import GGMLSIMD
import RealModule

public final class F32Linear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public let weight: Tensor          // F32 [out, in]; may be memory-mapped
    public var format: String { "fp32" }
    public var storedBytes: Int { outFeatures * inFeatures * 4 }

    public init(_ weight: Tensor) {
        precondition(weight.dtype == .f32 && weight.shape.count == 2)
        self.weight = weight
        outFeatures = weight.shape[0]; inFeatures = weight.shape[1]
    }

    public convenience init(values: [Float], out: Int, in: Int) {
        self.init(Tensor(values, shape: [out, `in`]))
    }

    public convenience init(rows: WeightRows) {
        let n = rows.inFeatures
        let storage = Storage(weightBytes: rows.out * n * 4)
        let dst = storage.base.assumingMemoryBound(to: Float.self)
        for r in rows.chunks() { rows.read(r, into: dst + r.lowerBound * n) }
        self.init(Tensor(dtype: .f32, shape: [rows.out, n], storage: storage))
    }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        dst.update(from: weight.floats.baseAddress! + row * inFeatures, count: inFeatures)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let w = weight.floats.baseAddress!, n = inFeatures, m = outFeatures
        if rows == 1 {
            // Decode: one pass over the weights, bound by memory bandwidth.
            pool.parallelFor(m, granule: 4) { range in
                for o in range { y[o] = F32Linear.dot(w + o &* n, x, n) }
            }
            return
        }
        // Several activation rows (a prompt): walk the weights in tiles of 24 output rows (the
        // threads claim them in turn) that stay in L2 while every activation row passes over them,
        // and compute 4 outputs × 4 rows at a time so each loaded vector feeds four multiply-adds
        // (the loop becomes compute-bound).
        pool.parallelChunks(m, chunk: F32Linear.tile) { outputs, _ in
            F32Linear.tileProduct(w + outputs.lowerBound &* n, outputs: outputs, x, rows: rows, n: n, into: y, m: m)
        }
    }

    /// A multiple of 4 (block4x4) and of 3 (f32.c's tiles, whose 1-row leftover runs at a third of the speed).
    static let tile = 24

    /// A prompt through a weight stored narrower than F32 (fp16, bf16, bnb 4-bit): each thread
    /// widens a tile of its weight rows to F32 once (`widen(o, dst)` writes row o's n values) and runs
    /// `tileProduct` on it for every activation row, rather than converting every weight again for
    /// every activation row.
    static func widenedProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, m: Int, n: Int,
                               pool: ThreadPool, widen: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount * tile * n)
        defer { scratch.deallocate() }
        pool.parallelChunks(m, chunk: tile) { outputs, thread in
            let rows0 = scratch + thread * tile * n
            for o in outputs { widen(o, rows0 + (o - outputs.lowerBound) * n) }
            tileProduct(rows0, outputs: outputs, x, rows: rows, n: n, into: y, m: m)
        }
    }

    /// Outputs `outputs` (weight rows from `w` on, n values each) for every activation row.
    ///
    /// The index arithmetic in these loops wraps (`&+`, `&*`): sizes come from a validated model, and
    /// the overflow checks Swift would otherwise put on every index cost 10-20% of prefill
    /// (callgrind), which is why the module used to be built with -Ounchecked.
    @inline(__always)
    static func tileProduct(_ w: UnsafePointer<Float>, outputs: Range<Int>, _ x: UnsafePointer<Float>, rows: Int, n: Int,
                            into y: UnsafeMutablePointer<Float>, m: Int) {
        let o0 = outputs.lowerBound, o1 = outputs.upperBound
        var r = 0
        // f32.c: block4x4's outputs for every group of 4 rows, in one call (it blocks the loops for the caches itself).
        let cOutputs = narrowVectors ? (o1 &- o0) & ~3 : 0
        if cOutputs > 0 { ggml_avx2_f32_rows4(w, cOutputs, n, x, rows, y + o0, m) }
        while r &+ 4 <= rows {
            var o = o0 &+ cOutputs
            while o &+ 4 <= o1 { block4x4(w + (o &- o0) &* n, x + r &* n, n, y + (r &* m &+ o), m); o &+= 4 }
            for oo in o..<o1 { for rr in r..<r &+ 4 { y[rr &* m &+ oo] = dot(w + (oo &- o0) &* n, x + rr &* n, n) } }
            r &+= 4
        }
        for rr in r..<rows { for o in o0..<o1 { y[rr &* m &+ o] = dot(w + (o &- o0) &* n, x + rr &* n, n) } }
    }

    /// Whether the CPU's vectors are 256 bits (AVX2, no AVX-512). There block4x4's sixteen SIMD16
    /// accumulators are 32 of the 16 registers, so its outputs come from f32.c, which computes the
    /// same bits in tiles that fit.
    static let narrowVectors = ggml_simd_vector_bits() == 256

    /// y[r·ldy + o] = dot(w row o, x row r) for o, r in 0..<4: sixteen accumulators in registers.
    @inline(__always)
    static func block4x4(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        typealias V = SIMD16<Float>
        let rw = UnsafeRawPointer(w), rx = UnsafeRawPointer(x)
        @inline(__always) func load(_ p: UnsafeRawPointer, _ row: Int, _ i: Int) -> V {
            p.loadUnaligned(fromByteOffset: (row &* n &+ i) &* 4, as: V.self)
        }
        var a00 = V(), a01 = V(), a02 = V(), a03 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V()
        var a20 = V(), a21 = V(), a22 = V(), a23 = V(), a30 = V(), a31 = V(), a32 = V(), a33 = V()
        var i = 0
        while i &+ 16 <= n {
            let w0 = load(rw, 0, i), w1 = load(rw, 1, i), w2 = load(rw, 2, i), w3 = load(rw, 3, i)
            var xv = load(rx, 0, i)
            a00.addProduct(w0, xv); a01.addProduct(w1, xv); a02.addProduct(w2, xv); a03.addProduct(w3, xv)
            xv = load(rx, 1, i)
            a10.addProduct(w0, xv); a11.addProduct(w1, xv); a12.addProduct(w2, xv); a13.addProduct(w3, xv)
            xv = load(rx, 2, i)
            a20.addProduct(w0, xv); a21.addProduct(w1, xv); a22.addProduct(w2, xv); a23.addProduct(w3, xv)
            xv = load(rx, 3, i)
            a30.addProduct(w0, xv); a31.addProduct(w1, xv); a32.addProduct(w2, xv); a33.addProduct(w3, xv)
            i &+= 16
        }
        @inline(__always) func finish(_ acc: V, _ r: Int, _ o: Int) {
            // The tail fused one product at a time, not Relaxed: the compiler would regroup that
            // loop by the machine's vector width, and f32.c could not give the same bits.
            var s = F32Linear.horizontalSum(acc), j = i
            while j < n { s = s.addingProduct(w[o &* n &+ j], x[r &* n &+ j]); j &+= 1 }
            y[r &* ldy &+ o] = s
        }
        finish(a00, 0, 0); finish(a01, 0, 1); finish(a02, 0, 2); finish(a03, 0, 3)
        finish(a10, 1, 0); finish(a11, 1, 1); finish(a12, 1, 2); finish(a13, 1, 3)
        finish(a20, 2, 0); finish(a21, 2, 1); finish(a22, 2, 2); finish(a23, 2, 3)
        finish(a30, 3, 0); finish(a31, 3, 1); finish(a32, 3, 2); finish(a33, 3, 3)
    }

    /// Dot product in 16-wide fused multiply-adds with four accumulators (enough independent
    /// chains to hide FMA latency; the loop is bound by memory bandwidth at batch 1).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        @inline(__always) func load(_ p: UnsafeRawPointer, _ i: Int) -> V { p.loadUnaligned(fromByteOffset: i &* 4, as: V.self) }
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        var i = 0
        while i &+ 64 <= n {
            s0.addProduct(load(ra, i), load(rb, i))
            s1.addProduct(load(ra, i &+ 16), load(rb, i &+ 16))
            s2.addProduct(load(ra, i &+ 32), load(rb, i &+ 32))
            s3.addProduct(load(ra, i &+ 48), load(rb, i &+ 48))
            i &+= 64
        }
        while i &+ 16 <= n { s0.addProduct(load(ra, i), load(rb, i)); i &+= 16 }
        var s = horizontalSum((s0 + s1) + (s2 + s3))
        while i < n { s = Relaxed.multiplyAdd(a[i], b[i], s); i &+= 1 }
        return s
    }

    /// Σ lanes, as a tree of half-width adds (the generic `SIMD.sum()` is an out-of-line loop).
    @inline(__always)
    static func horizontalSum(_ v: SIMD16<Float>) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// Plain reference for tests.
    public static func referenceDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Double = 0
        for i in 0..<n { s += Double(a[i]) * Double(b[i]) }
        return Float(s)
    }
}
