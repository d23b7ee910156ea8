// fp32: plain IEEE single precision, one row of `in` floats per output feature.
//   row o: [w(o,0) w(o,1) ... w(o,in-1)]   4 bytes per weight
import Foundation
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

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        dst.update(from: weight.floats.baseAddress! + row * inFeatures, count: inFeatures)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let w = weight.floats.baseAddress!, n = inFeatures, m = outFeatures
        // Several activation rows (a prompt): walk the weights in tiles of 16 output rows that stay
        // in L2 while every activation row passes over them, instead of streaming the whole
        // matrix from memory once per activation row.
        let tile = 16
        pool.parallelFor(m, granule: 4) { range in
            var o0 = range.lowerBound
            while o0 < range.upperBound {
                let o1 = min(o0 + tile, range.upperBound)
                for r in 0..<rows {
                    let xr = x + r * n, yr = y + r * m
                    for o in o0..<o1 { yr[o] = F32Linear.dot(w + o * n, xr, n) }
                }
                o0 = o1
            }
        }
    }

    /// Dot product in 16-wide fused multiply-adds with four accumulators (enough independent
    /// chains to hide FMA latency; the loop is bound by memory bandwidth at batch 1).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        @inline(__always) func load(_ p: UnsafeRawPointer, _ i: Int) -> V { p.loadUnaligned(fromByteOffset: i * 4, as: V.self) }
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        var i = 0
        while i + 64 <= n {
            s0.addProduct(load(ra, i), load(rb, i))
            s1.addProduct(load(ra, i + 16), load(rb, i + 16))
            s2.addProduct(load(ra, i + 32), load(rb, i + 32))
            s3.addProduct(load(ra, i + 48), load(rb, i + 48))
            i += 64
        }
        while i + 16 <= n { s0.addProduct(load(ra, i), load(rb, i)); i += 16 }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < n { s = Relaxed.multiplyAdd(a[i], b[i], s); i += 1 }
        return s
    }

    /// Plain reference for tests.
    public static func referenceDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Double = 0
        for i in 0..<n { s += Double(a[i]) * Double(b[i]) }
        return Float(s)
    }
}
