// Activations quantized to 8-bit blocks, as llama.cpp does before multiplying by a quantized
// weight, so that the inner loops are integer dot products (byte products in Sources/GGMLSIMD,
// Int32 loops in GGMLDot):
//   q8_0 (for q4_0 / q4_1 / q5_0 / q5_1 / q8_0 / iq4_nl weights): blocks of 32, scale d =
//        absmax/127 kept as ggml keeps it (rounded to fp16), q = x·(127/absmax) rounded half to
//        even: the arithmetic of the CPU backend's `quantize_row_q8_0` on x86 (AVX2), which is not
//        `quantize_row_q8_0_ref`'s (x·(1/d), half away from zero). Per block we also keep Σq, which
//        lets a weight with an offset or minimum (q4_0's −8, q4_1's m) enter once per block.
//   q8_K (for the K-types and iq4_xs): blocks of 256, d = 1/iscale with iscale = −127/max (float,
//        not fp16), q = nearest_int(iscale·x), and Σq per 16 values (`bsums`), which the K-types
//        need for their per-sub-block minimums and offsets.
// Stored as separate arrays (values, scales, sums) rather than packed blocks: the kernels index
// them directly. Each row goes through Sources/GGMLSIMD/q8_act.c where the x86 path is compiled in;
// the Swift loops here are its plain twin (`plain: true`, and the fallback elsewhere).
import Foundation
import GGMLSIMD

struct QuantizedActivations {
    let rows: Int
    let n: Int              // values per row
    let block: Int          // 32 (q8_0) or 256 (q8_K)
    let sumGroup: Int       // values per entry of `sums`: 32 (q8_0) or 16 (q8_K)
    var q: [Int8]           // rows × n
    var d: [Float]          // rows × n/block
    var sums: [Int32]       // rows × n/sumGroup

    var blocksPerRow: Int { n / block }

    /// q8_0 activations (llama.cpp's x86 `quantize_row_q8_0`, byte for byte).
    static func q8_0(_ x: UnsafePointer<Float>, rows: Int, n: Int, pool: ThreadPool?, plain: Bool = false) -> QuantizedActivations {
        var a = QuantizedActivations(rows: rows, n: n, block: 32, sumGroup: 32,
                                     q: [Int8](repeating: 0, count: rows * n),
                                     d: [Float](repeating: 0, count: rows * n / 32),
                                     sums: [Int32](repeating: 0, count: rows * n / 32))
        let nb = n / 32
        a.q.withUnsafeMutableBufferPointer { q in
            a.d.withUnsafeMutableBufferPointer { d in
                a.sums.withUnsafeMutableBufferPointer { s in
                    let qp = q.baseAddress!, dp = d.baseAddress!, sp = s.baseAddress!
                    let body = { (range: Range<Int>) in
                        for r in range {
                            if !plain && ggml_simd_quantize_q8_0(x + r * n, n, qp + r * n, dp + r * nb, sp + r * nb) != 0 { continue }
                            for b in 0..<nb {
                                let xb = x + r * n + b * 32, qb = qp + r * n + b * 32
                                var amax: Float = 0
                                for j in 0..<32 { amax = max(amax, abs(xb[j])) }
                                let dd = amax / 127
                                let id: Float = amax != 0 ? 127 / amax : 0
                                var sum: Int32 = 0
                                for j in 0..<32 {
                                    // NaN → 127; nearestInt rounds to nearest even like rounded(.toNearestOrEven) and, unlike
                                    // Int8(_:), cannot trap, which lets the loop be vectorized.
                                    let v = Int8(truncatingIfNeeded: nearestInt(max(-127, min(127, xb[j] * id))))
                                    qb[j] = v; sum &+= Int32(v)
                                }
                                dp[r * nb + b] = fp16Value(fp16Bits(dd))
                                sp[r * nb + b] = sum
                            }
                        }
                    }
                    if let pool, rows > 1 { pool.parallelFor(rows, body) } else { body(0..<rows) }
                }
            }
        }
        return a
    }

    /// q8_K activations (`quantize_row_q8_K_ref`, which the CPU backend runs, byte for byte).
    static func q8_K(_ x: UnsafePointer<Float>, rows: Int, n: Int, pool: ThreadPool?, plain: Bool = false) -> QuantizedActivations {
        var a = QuantizedActivations(rows: rows, n: n, block: 256, sumGroup: 16,
                                     q: [Int8](repeating: 0, count: rows * n),
                                     d: [Float](repeating: 0, count: rows * n / 256),
                                     sums: [Int32](repeating: 0, count: rows * n / 16))
        let nb = n / 256
        a.q.withUnsafeMutableBufferPointer { q in
            a.d.withUnsafeMutableBufferPointer { d in
                a.sums.withUnsafeMutableBufferPointer { s in
                    let qp = q.baseAddress!, dp = d.baseAddress!, sp = s.baseAddress!
                    let body = { (range: Range<Int>) in
                        for r in range {
                            if !plain && ggml_simd_quantize_q8_K(x + r * n, n, qp + r * n, dp + r * nb, sp + r * nb * 16) != 0 { continue }
                            for b in 0..<nb {
                                let xb = x + r * n + b * 256, qb = qp + r * n + b * 256
                                var mx: Float = 0, amax: Float = 0
                                for j in 0..<256 where abs(xb[j]) > amax { amax = abs(xb[j]); mx = xb[j] }
                                if amax == 0 { continue }   // zeros already there, d = 0
                                let iscale = -127 / mx
                                for j in 0..<256 { qb[j] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * xb[j]))) }
                                for g in 0..<16 {
                                    var sum: Int32 = 0
                                    for j in 0..<16 { sum &+= Int32(qb[16 * g + j]) }
                                    sp[(r * nb + b) * 16 + g] = sum
                                }
                                dp[r * nb + b] = 1 / iscale
                            }
                        }
                    }
                    if let pool, rows > 1 { pool.parallelFor(rows, body) } else { body(0..<rows) }
                }
            }
        }
        return a
    }
}
