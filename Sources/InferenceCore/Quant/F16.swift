// fp16: IEEE 754 half precision, one row of `in` halves per output feature.
//   row o: [h(o,0) h(o,1) ... h(o,in-1)]   2 bytes per weight
//   half:  1 sign bit | 5 exponent bits (bias 15) | 10 fraction bits
// Rounding from F32 is to nearest, ties to even (IEEE default; what PyTorch's `.half()` does);
// values beyond ±65504 become ±infinity. Kernels widen 16 halves at a time to F32 (one vcvtph2ps
// with `-target-cpu native`) and accumulate in F32, so the product is exact up to F32 rounding.
import Foundation
import RealModule
import GGMLSIMD

public final class F16Linear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public var format: String { "fp16" }
    public var storedBytes: Int { outFeatures * inFeatures * 2 }
    let storage: Storage
    private var halves: UnsafeMutablePointer<Float16> { storage.base.assumingMemoryBound(to: Float16.self) }

    public convenience init(values: [Float], out: Int, in inFeatures: Int) {
        self.init(rows: WeightRows(values, out: out, in: inFeatures))
    }

    public init(rows: WeightRows) {
        let n = rows.inFeatures
        outFeatures = rows.out; inFeatures = n
        storage = Storage(weightBytes: rows.out * n * 2)
        let h = storage.base.assumingMemoryBound(to: Float16.self)
        rows.forEachChunk { r, v in
            let d = h + r.lowerBound * n
            for i in 0..<r.count * n { d[i] = Float16(v[i]) }
        }
    }

    /// Row `row` as stored (tests compare bit patterns).
    public func storedRow(_ row: Int) -> [Float16] {
        Array(UnsafeBufferPointer(start: halves + row * inFeatures, count: inFeatures))
    }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        F16Linear.widen(halves + row * inFeatures, into: dst, inFeatures)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let w = UnsafePointer(halves), n = inFeatures, m = outFeatures
        if rows == 1 {
            pool.parallelFor(m, granule: 4) { range in
                for o in range { y[o] = F16Linear.dot(w + o * n, x, n) }
            }
            return
        }
        // A prompt: each thread's rows through the C tile kernel (Sources/GGMLSIMD/half.c), which
        // widens the halves in registers instead of through an F32 copy of the rows.
        pool.parallelChunks(m, chunk: 48) { range, _ in
            let rows16 = UnsafeRawPointer(w + range.lowerBound * n).assumingMemoryBound(to: UInt16.self)
            ggml_simd_f16_matmul(rows16, range.count, n, x, rows, y + range.lowerBound, m)
        }
    }

    /// A row widened to F32, 16 halves per vcvtph2ps (a plain per-element loop stays scalar and cost
    /// a third of prefill).
    @inline(__always)
    static func widen(_ h: UnsafePointer<Float16>, into f: UnsafeMutablePointer<Float>, _ n: Int) {
        let rh = UnsafeRawPointer(h), rf = UnsafeMutableRawPointer(f)
        var i = 0
        while i + 16 <= n { rf.storeBytes(of: widen16(rh + i * 2), toByteOffset: i * 4, as: SIMD16<Float>.self); i += 16 }
        while i < n { f[i] = Float(h[i]); i += 1 }
    }

    /// Dot product of a half row with an F32 row: 16 lanes widened per step, two accumulators.
    @inline(__always)
    static func dot(_ w: UnsafePointer<Float16>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        let rw = UnsafeRawPointer(w), rx = UnsafeRawPointer(x)
        var s0 = V(), s1 = V()
        var i = 0
        while i + 32 <= n {
            s0.addProduct(widen16(rw + i * 2), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            s1.addProduct(widen16(rw + i * 2 + 32), rx.loadUnaligned(fromByteOffset: i * 4 + 64, as: V.self))
            i += 32
        }
        while i + 16 <= n {
            s0.addProduct(widen16(rw + i * 2), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            i += 16
        }
        var s = F32Linear.horizontalSum(s0 + s1)
        while i < n { s = Relaxed.multiplyAdd(Float(w[i]), x[i], s); i += 1 }
        return s
    }

    /// Sixteen halves widened, lane by lane: LLVM makes one vcvtph2ps of it. (The standard
    /// library's generic SIMD16<Float16> → SIMD16<Float> conversion got outlined by the compiler
    /// into an element-by-element call once it had two users, halving decode speed.)
    @inline(__always)
    static func widen16(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        let h = p.loadUnaligned(as: SIMD16<Float16>.self)
        return SIMD16<Float>(Float(h[0]), Float(h[1]), Float(h[2]), Float(h[3]), Float(h[4]), Float(h[5]), Float(h[6]), Float(h[7]),
                             Float(h[8]), Float(h[9]), Float(h[10]), Float(h[11]), Float(h[12]), Float(h[13]), Float(h[14]), Float(h[15]))
    }

    /// Plain reference for tests.
    public static func referenceDot(_ w: UnsafePointer<Float16>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Double = 0
        for i in 0..<n { s += Double(Float(w[i])) * Double(x[i]) }
        return Float(s)
    }

    /// `referenceDot` against stored row `row` (tests).
    public func referenceDot(row: Int, _ x: UnsafePointer<Float>) -> Float {
        F16Linear.referenceDot(halves + row * inFeatures, x, inFeatures)
    }
}
