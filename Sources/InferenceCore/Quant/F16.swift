// fp16: IEEE 754 half precision, one row of `in` halves per output feature.
//   row o: [h(o,0) h(o,1) ... h(o,in-1)]   2 bytes per weight
//   half:  1 sign bit | 5 exponent bits (bias 15) | 10 fraction bits
// Rounding from F32 is to nearest, ties to even (IEEE default; what PyTorch's `.half()` does);
// values beyond ±65504 become ±infinity. Kernels widen 16 halves at a time to F32 (one vcvtph2ps
// with `-target-cpu native`) and accumulate in F32, so the product is exact up to F32 rounding.
import Foundation
import RealModule

public final class F16Linear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public var format: String { "fp16" }
    public var storedBytes: Int { outFeatures * inFeatures * 2 }
    private let storage: Storage
    private var halves: UnsafeMutablePointer<Float16> { storage.base.assumingMemoryBound(to: Float16.self) }

    public convenience init(values: [Float], out: Int, in inFeatures: Int) {
        self.init(rows: WeightRows(values, out: out, in: inFeatures))
    }

    public init(rows: WeightRows) {
        let n = rows.inFeatures
        outFeatures = rows.out; inFeatures = n
        storage = Storage(byteCount: rows.out * n * 2)
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
        let h = halves + row * inFeatures
        for i in 0..<inFeatures { dst[i] = Float(h[i]) }
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let w = UnsafePointer(halves), n = inFeatures, m = outFeatures
        pool.parallelFor(m, granule: 4) { range in
            for o in range {
                let wo = w + o * n
                for r in 0..<rows { y[r * m + o] = F16Linear.dot(wo, x + r * n, n) }
            }
        }
    }

    /// Dot product of a half row with an F32 row: 16 lanes widened per step, two accumulators.
    @inline(__always)
    static func dot(_ w: UnsafePointer<Float16>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        typealias H = SIMD16<Float16>
        let rw = UnsafeRawPointer(w), rx = UnsafeRawPointer(x)
        var s0 = V(), s1 = V()
        var i = 0
        while i + 32 <= n {
            s0.addProduct(V(rw.loadUnaligned(fromByteOffset: i * 2, as: H.self)), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            s1.addProduct(V(rw.loadUnaligned(fromByteOffset: i * 2 + 32, as: H.self)), rx.loadUnaligned(fromByteOffset: i * 4 + 64, as: V.self))
            i += 32
        }
        while i + 16 <= n {
            s0.addProduct(V(rw.loadUnaligned(fromByteOffset: i * 2, as: H.self)), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            i += 16
        }
        var s = (s0 + s1).sum()
        while i < n { s = Relaxed.multiplyAdd(Float(w[i]), x[i], s); i += 1 }
        return s
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
