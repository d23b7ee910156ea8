// bf16: bfloat16, the upper half of an IEEE single, one row of `in` values per output feature.
//   row o: groups of 32 values, each stored as 16 pairs (b(o,g+k), b(o,g+k+16)), k = 0..15,
//          then the last in % 32 values in order                2 bytes per weight
//   bf16:  1 sign bit | 8 exponent bits (bias 127, as F32) | 7 fraction bits
// The pairing lets the kernel widen 32 values with one 64-byte load, a shift (low halves: values
// g..g+15) and a mask (high halves: g+16..g+31), where widening 16-bit lanes one by one compiles
// to a slow generic conversion.
// Same range as F32 with 8 bits of precision. Rounding from F32 is to nearest, ties to even
// (add 0x7FFF plus the lowest kept bit, then truncate; PyTorch's `.bfloat16()` does the same);
// NaN stays a quiet NaN. Widening back is exact: the 16 bits become the top of an F32.
import Foundation
import RealModule
import GGMLSIMD

public final class BF16Linear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public var format: String { "bf16" }
    public var storedBytes: Int { outFeatures * inFeatures * 2 }
    let storage: Storage
    private var bits: UnsafeMutablePointer<UInt16> { storage.base.assumingMemoryBound(to: UInt16.self) }

    public convenience init(values: [Float], out: Int, in inFeatures: Int) {
        self.init(rows: WeightRows(values, out: out, in: inFeatures))
    }

    public init(rows: WeightRows) {
        let n = rows.inFeatures
        outFeatures = rows.out; inFeatures = n
        storage = Storage(weightBytes: rows.out * n * 2)
        let b = storage.base.assumingMemoryBound(to: UInt16.self)
        rows.forEachChunk { r, v in
            for (k, o) in r.enumerated() {
                for i in 0..<n { b[o * n + BF16Linear.slot(i, n)] = BF16Linear.round(v[k * n + i]) }
            }
        }
    }

    /// Where value `i` of a row of `n` lives (see the layout above).
    @inline(__always)
    static func slot(_ i: Int, _ n: Int) -> Int {
        let g = i & ~31
        guard g + 32 <= n else { return i }
        let k = i & 31
        return g + (k & 15) * 2 + (k >> 4)
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

    /// Row `row`'s bit patterns in value order (tests compare them).
    public func storedRow(_ row: Int) -> [UInt16] {
        let b = bits + row * inFeatures
        return (0..<inFeatures).map { b[BF16Linear.slot($0, inFeatures)] }
    }

    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        BF16Linear.widen(bits + row * inFeatures, into: dst, inFeatures)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let w = UnsafePointer(bits), n = inFeatures, m = outFeatures
        if rows == 1 {
            pool.parallelFor(m, granule: 4) { range in
                for o in range { y[o] = BF16Linear.dot(w + o * n, x, n) }
            }
            return
        }
        // A prompt: each thread's rows through the C tile kernel (Sources/GGMLSIMD/half.c), which
        // widens the pairs in registers instead of through an F32 copy of the rows.
        pool.parallelChunks(m, chunk: 48) { range, _ in
            ggml_simd_bf16_matmul(w + range.lowerBound * n, range.count, n, x, rows, y + range.lowerBound, m)
        }
    }

    /// A stored row widened to F32 in value order: per 32 values, one load, a shift and a mask.
    @inline(__always)
    static func widen(_ w: UnsafePointer<UInt16>, into f: UnsafeMutablePointer<Float>, _ n: Int) {
        let rw = UnsafeRawPointer(w), rf = UnsafeMutableRawPointer(f)
        var i = 0
        while i + 32 <= n {
            let u = rw.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt32>.self)
            rf.storeBytes(of: u &<< 16, toByteOffset: i * 4, as: SIMD16<UInt32>.self)
            rf.storeBytes(of: u & 0xFFFF_0000, toByteOffset: i * 4 + 64, as: SIMD16<UInt32>.self)
            i += 32
        }
        while i < n { f[i] = widen(w[i]); i += 1 }
    }

    /// Dot product over one stored row: per 32 values, one load, a shift and a mask.
    @inline(__always)
    static func dot(_ w: UnsafePointer<UInt16>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        let rw = UnsafeRawPointer(w), rx = UnsafeRawPointer(x)
        let high = SIMD16<UInt32>(repeating: 0xFFFF_0000)
        var s0 = V(), s1 = V()
        var i = 0
        while i + 32 <= n {
            let u = rw.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt32>.self)
            s0.addProduct(unsafeBitCast(u &<< 16, to: V.self), rx.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            s1.addProduct(unsafeBitCast(u & high, to: V.self), rx.loadUnaligned(fromByteOffset: i * 4 + 64, as: V.self))
            i += 32
        }
        var s = F32Linear.horizontalSum(s0 + s1)
        while i < n { s = Relaxed.multiplyAdd(Float(bitPattern: UInt32(w[i]) << 16), x[i], s); i += 1 }
        return s
    }

    /// Plain reference for tests: value by value, in Double.
    public func referenceDot(row: Int, _ x: UnsafePointer<Float>) -> Float {
        let v = storedRow(row)
        var s: Double = 0
        for i in 0..<inFeatures { s += Double(BF16Linear.widen(v[i])) * Double(x[i]) }
        return Float(s)
    }
}
