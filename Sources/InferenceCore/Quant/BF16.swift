// bf16: bfloat16, the upper half of an IEEE single, one row of `in` values per output feature.
//   row o: [b(o,0) b(o,1) ... b(o,in-1)]   2 bytes per weight
//   bf16:  1 sign bit | 8 exponent bits (bias 127, as F32) | 7 fraction bits
// Same range as F32 with 8 bits of precision. Rounding from F32 is to nearest, ties to even
// (add 0x7FFF plus the lowest kept bit, then truncate; PyTorch's `.bfloat16()` does the same);
// NaN stays a quiet NaN. Widening back is exact: the 16 bits become the top of an F32.
import Foundation
import RealModule

public final class BF16Linear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public var format: String { "bf16" }
    public var storedBytes: Int { outFeatures * inFeatures * 2 }
    private let storage: Storage
    private var bits: UnsafeMutablePointer<UInt16> { storage.base.assumingMemoryBound(to: UInt16.self) }

    public init(values: [Float], out: Int, in inFeatures: Int) {
        precondition(values.count == out * inFeatures)
        outFeatures = out; self.inFeatures = inFeatures
        storage = Storage(byteCount: out * inFeatures * 2)
        let b = storage.base.assumingMemoryBound(to: UInt16.self)
        for i in 0..<values.count { b[i] = BF16Linear.round(values[i]) }
    }

    /// F32 → bf16 bit pattern, round to nearest even.
    @inline(__always)
    public static func round(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: b >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    @inline(__always)
    public static func widen(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// Row `row` as stored (tests compare bit patterns).
    public func storedRow(_ row: Int) -> [UInt16] {
        Array(UnsafeBufferPointer(start: bits + row * inFeatures, count: inFeatures))
    }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        let b = bits + row * inFeatures
        for i in 0..<inFeatures { dst[i] = BF16Linear.widen(b[i]) }
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let w = UnsafePointer(bits), n = inFeatures, m = outFeatures
        pool.parallelFor(m, granule: 4) { range in
            for o in range {
                let wo = w + o * n
                for r in 0..<rows { y[r * m + o] = BF16Linear.dot(wo, x + r * n, n) }
            }
        }
    }

    /// Dot product: 16 bf16 values widened per step by a shift (no conversion instruction needed).
    @inline(__always)
    static func dot(_ w: UnsafePointer<UInt16>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        let rw = UnsafeRawPointer(w), rx = UnsafeRawPointer(x)
        @inline(__always) func lanes(_ i: Int) -> V {
            let h = rw.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self)
            return unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16, to: V.self)
        }
        var s0 = V(), s1 = V()
        var i = 0
        while i + 32 <= n {
            s0.addProduct(lanes(i), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            s1.addProduct(lanes(i + 16), rx.loadUnaligned(fromByteOffset: i * 4 + 64, as: V.self))
            i += 32
        }
        while i + 16 <= n { s0.addProduct(lanes(i), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self)); i += 16 }
        var s = (s0 + s1).sum()
        while i < n { s = Relaxed.multiplyAdd(BF16Linear.widen(w[i]), x[i], s); i += 1 }
        return s
    }

    /// Plain reference for tests.
    public static func referenceDot(_ w: UnsafePointer<UInt16>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s: Double = 0
        for i in 0..<n { s += Double(widen(w[i])) * Double(x[i]) }
        return Float(s)
    }

    public func referenceDot(row: Int, _ x: UnsafePointer<Float>) -> Float {
        BF16Linear.referenceDot(bits + row * inFeatures, x, inFeatures)
    }
}
