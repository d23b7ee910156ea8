// bnb-int8: LLM.int8() (Dettmers et al. 2022) with the numerics of bitsandbytes 0.50.2's CUDA
// path (Linear8bitLt, has_fp16_weights=False), as transformers runs an F32 checkpoint with it.
//
// Layout, one row per output feature o:
//   CB[o, 0..<in]  I8   round_half_even(w16(o,i) × scale(SCB[o]))      in bytes per row
//   SCB[o]         F32  max_i |w16(o,i)|                                4 bytes per row
// where w16 is the weight rounded to fp16 first (bitsandbytes quantizes `weight.half()`):
// 8 + 32/in bits per weight. Dequantized: w ≈ CB × SCB / 127.
//
// Forward, for activation rows x (what `MatMul8bitLt` + `int8_vectorwise_quant` + `int8_scaled_mm`
// do on CUDA):
//   a = fp16(x)                                   activations are quantized from their fp16 cast
//   outlier columns = { i : |a[r, i]| ≥ threshold for some row r }   (threshold 0: none)
//   SCA[r] = max |a[r, i]| over entries below the threshold (all entries when threshold is 0)
//   CA[r, i] = round_half_even(a[r, i] × scale(SCA[r])), 0 in outlier columns
//   scale(m) = CUDA's __fdividef(127, m), 127·(1/m) to an ulp or two (Ties, below)
//   d[r, o] = fp16( ((Σ_i CA[r,i]·CB[o,i] × SCA[r]) × SCB[o]) × 6.200012e-05 )   (F32, then fp16)
//   y[r, o] = fp16( d[r, o] + bias[o] )                                       (bias added in fp16)
//           + ( Σ_{i outlier} x[r, i] × (CB[o, i] × SCB[o] × float(1/127)) )  (outliers in F32, added last)
// The integer dot products are exact (Int32); both fp16 roundings are bitsandbytes': its
// dequantization kernel writes fp16 (the constant 6.200012e-05 = float(1/127²) multiplies, as the
// kernel's fmaf does), and an F32 bias is added in place to that fp16 tensor, so the bias belongs
// inside the layer here rather than in the model. The outlier part uses the input in its own
// precision (F32 here): `int8_mixed_scaled_mm` slices the uncast input, dequantizes the weight
// columns as CB·SCB·7.874015718698502e-3 (float(1/127)) and adds their product to the output with
// `addmm`, so the outlier sum is formed first and added once.
//
// Ties. The scale 127·(1/SCA) above is CUDA's `__fdividef(127, SCA)`: 127 times the GPU's
// approximate reciprocal, which for some SCA lies an ulp or two from IEEE's. A code on an exact tie
// (x·127/SCA = k + 1/2: an element at ±SCA/2, or, when SCA is a multiple of 127 fp16 units, at any
// odd multiple of SCA/254) then rounds the other way, and one such code moves a small model's
// logits by up to a few hundredths (issue 16). So the scale reproduces the GPU's, ulp for ulp
// (`bnb_int8_code_scale`, measured on an H200); `exactTieRows` counts the rows holding a tie.
// bitsandbytes' own CPU path (127 / absmax, no fp16 roundings, 6.200124e-05) is not its CUDA path.
import Foundation
import GGMLSIMD
import RealModule

public final class BnbInt8Linear: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    /// Activation magnitude from which an input column is computed outside int8 (0 = never).
    public let threshold: Float
    public var format: String { "bnb-int8" }
    public var storedBytes: Int { outFeatures * inFeatures + outFeatures * 4 }

    /// `[out, in]` int8 codes (on huge pages: WeightArray) and per-row scales, as bitsandbytes' `CB` / `SCB`.
    public let cb: WeightArray<Int8>
    public let scb: [Float]

    /// 1/127² as bitsandbytes' dequantization kernel spells it.
    static let dequantConstant: Float = 6.200012e-05

    public convenience init(values: [Float], out: Int, in inFeatures: Int, threshold: Float = 6.0) {
        self.init(rows: WeightRows(values, out: out, in: inFeatures), threshold: threshold)
    }

    public init(rows: WeightRows, threshold: Float = 6.0) {
        let out = rows.out, n = rows.inFeatures
        outFeatures = out; inFeatures = n; self.threshold = threshold
        let codes = WeightArray<Int8>(repeating: 0, count: out * n), c = codes.mutableBase
        var scales = [Float](repeating: 0, count: out)
        rows.forEachChunk { r, v in
            for (k, o) in r.enumerated() {
                let row = (0..<n).map { Float(Float16(v[k * n + $0])) }
                let (q, s) = BnbInt8Linear.quantizeRow(row, threshold: 0)
                scales[o] = s
                for i in 0..<n { c[o * n + i] = q[i] }
            }
        }
        cb = codes; scb = scales
    }

    /// `int8_vectorwise_quant` of one row: absmax over entries below `threshold` (all when 0),
    /// codes round(v × scale(absmax)) half to even, entries at or above the threshold set to 0.
    /// A row of zeros gets absmax 0 and codes 0 (CUDA turns the NaN of 0 × inf into 0).
    public static func quantizeRow(_ v: [Float], threshold: Float) -> ([Int8], Float) {
        var m: Float = 0
        for a in v where threshold == 0 || abs(a) < threshold { m = max(m, abs(a)) }
        guard m > 0 else { return ([Int8](repeating: 0, count: v.count), m) }
        let s = scale(absmax: m)
        return (v.map { threshold > 0 && abs($0) >= threshold ? 0 : Int8((($0 * s).rounded(.toNearestOrEven))) }, m)
    }

    /// The kernel's `__fdividef(127, absmax)`: 127 times the GPU's approximate reciprocal, which
    /// is neither `127 / absmax` (that flips codes on a .5 in the fixture's layers) nor always IEEE
    /// 127·(1/absmax); `bnb_int8_code_scale` has the table of the difference (bnb_int8.c).
    @inline(__always)
    static func scale(absmax m: Float) -> Float { bnb_int8_code_scale(m) }

    /// `int8_vectorwise_dequant`: CB × SCB × float(1/127), in that order.
    public func dequantizeRow(_ row: Int, into dst: UnsafeMutablePointer<Float>) {
        let s = scb[row]
        for i in 0..<inFeatures { dst[i] = Float(cb[row * inFeatures + i]) * s * BnbInt8Linear.inverse127 }
    }

    /// float(1/127): bitsandbytes' 7.874015718698502e-3 (`int8_vectorwise_dequant`).
    static let inverse127: Float = 1 / 127

    public func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        forward(x, rows: rows, bias: nil, into: y, pool: pool)
    }

    /// Debugging hook: sees every activation matrix (`rows × inFeatures`) before it is quantized,
    /// e.g. to count ties or outlier columns per layer (tests use it; nil costs nothing).
    public var inputObserver: ((_ x: UnsafePointer<Float>, _ rows: Int) -> Void)?

    /// Input columns computed outside int8: those where some row's fp16 value reaches the
    /// threshold (`A.abs() >= threshold` on the fp16 cast, any row). None when the threshold is 0.
    public static func outlierColumns(_ x: UnsafePointer<Float>, rows: Int, inFeatures n: Int, threshold: Float) -> [Int] {
        guard threshold > 0 else { return [] }
        var outlier = [Bool](repeating: false, count: n)
        for r in 0..<rows { for i in 0..<n where abs(Float(Float16(x[r * n + i]))) >= threshold { outlier[i] = true } }
        return (0..<n).filter { outlier[$0] }
    }

    /// Rows of `x` as this layer quantizes them (fp16, absmax over entries below the threshold)
    /// that hold an element at exactly half their absmax, and rows that hold any exact tie
    /// (127·|a|/absmax = k + 1/2, i.e. 254·|a|/absmax odd; exact in Double for fp16 values).
    public static func exactTieRows(_ x: UnsafePointer<Float>, rows: Int, inFeatures n: Int, threshold: Float) -> (halfMax: Int, ties: Int) {
        var halfMax = 0, ties = 0
        for r in 0..<rows {
            let a = (0..<n).map { abs(Float(Float16(x[r * n + $0]))) }
            let kept = a.filter { threshold == 0 || $0 < threshold }
            guard let m = kept.max(), m > 0 else { continue }
            if kept.contains(m / 2) { halfMax += 1 }
            if kept.contains(where: { v in let q = 254 * Double(v) / Double(m); return q == q.rounded() && Int(q) % 2 == 1 }) { ties += 1 }
        }
        return (halfMax, ties)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int, bias: [Float]?, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let n = inFeatures, m = outFeatures
        precondition(bias == nil || bias!.count == m)
        inputObserver?(x, rows)
        // 1. Activations: fp16 cast, outlier columns, per-row int8 codes, scales and code sums
        //    (Sources/GGMLSIMD/bnb_int8.c).
        var outlier = [UInt8](repeating: 0, count: n)
        var ca = [Int8](repeating: 0, count: rows * n)
        var sca = [Float](repeating: 0, count: rows)
        var caSum = [Int32](repeating: 0, count: rows)
        let outliers = Int(bnb_int8_simd_quantize(x, Int32(rows), Int32(n), threshold, &outlier, &ca, &sca, &caSum))
        let outlierColumns = outliers == 0 ? [] : (0..<n).filter { outlier[$0] != 0 }
        // 2. Exact integer products for a range of output rows at a time, scaled, rounded to fp16 and
        //    the bias added in fp16 as each tile leaves its registers; then the outlier columns in F32.
        let inv = BnbInt8Linear.inverse127
        cb.withUnsafeBufferPointer { wb in
            ca.withUnsafeBufferPointer { ab in
                caSum.withUnsafeBufferPointer { sb in
                    sca.withUnsafeBufferPointer { sp in
                        scb.withUnsafeBufferPointer { scp in
                            withOptionalPointer(bias) { bp in
                                let w = wb.baseAddress!
                                pool.parallelChunks(m, chunk: rows == 1 ? pool.evenChunk(m, granule: 4) : 32) { range, _ in
                                    bnb_int8_simd_forward(w, Int32(range.lowerBound), Int32(range.upperBound), Int32(n), ab.baseAddress!, sb.baseAddress!,
                                                          Int32(rows), sp.baseAddress!, scp.baseAddress!, bp, y, m)
                                    guard !outlierColumns.isEmpty else { return }
                                    for o in range {
                                        let wo = w + o * n, so = scp[o]
                                        for r in 0..<rows {
                                            var s: Float = 0
                                            for i in outlierColumns { s = Relaxed.multiplyAdd(x[r * n + i], Float(wo[i]) * so * inv, s) }
                                            y[r * m + o] += s
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let a else { return body(nil) }
        return a.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// The activation step of `forward` by one version of the C kernel: outlier columns, codes,
    /// scales and code sums (tests).
    static func quantizedActivations(_ x: [Float], rows: Int, inFeatures n: Int, threshold: Float, kernel: KernelVersion)
        -> (outliers: [Int], codes: [Int8], sca: [Float], sums: [Int32]) {
        var outlier = [UInt8](repeating: 0, count: n), codes = [Int8](repeating: 0, count: rows * n)
        var sca = [Float](repeating: 0, count: rows), sums = [Int32](repeating: 0, count: rows)
        let quantize = switch kernel { case .simd: bnb_int8_simd_quantize; case .avx2: bnb_int8_avx2_quantize; case .plain: bnb_int8_plain_quantize }
        let count = quantize(x, Int32(rows), Int32(n), threshold, &outlier, &codes, &sca, &sums)
        let cols = (0..<n).filter { outlier[$0] != 0 }
        precondition(cols.count == Int(count))
        return (cols, codes, sca, sums)
    }

    /// The int8 part of `forward` (no outlier columns) by one version of the C kernel,
    /// on activations already quantized (tests).
    func scaledProducts(_ codes: [Int8], sca: [Float], sums: [Int32], rows: Int, bias: [Float]?, kernel: KernelVersion) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outFeatures)
        withOptionalPointer(bias) { bp in
            let forward = switch kernel { case .simd: bnb_int8_simd_forward; case .avx2: bnb_int8_avx2_forward; case .plain: bnb_int8_plain_forward }
            forward(cb.mutableBase, 0, Int32(outFeatures), Int32(inFeatures), codes, sums, Int32(rows),
                    sca, scb, bp, &y, outFeatures)
        }
        return y
    }

    /// Σ_i CB[o, i] · codes[r, i] for every output o and row r of int8 `codes` [rows, in], by one
    /// version of the C kernel: the integer products `forward` scales (tests).
    func integerProducts(_ codes: [Int8], rows: Int, kernel: KernelVersion) -> [Int32] {
        let n = inFeatures, m = outFeatures
        let sums = (0..<rows).map { r in codes[r * n ..< (r + 1) * n].reduce(Int32(0)) { $0 + Int32($1) } }
        var out = [Int32](repeating: 0, count: rows * m)
        let gemm = switch kernel { case .simd: bnb_int8_simd_gemm; case .avx2: bnb_int8_avx2_gemm; case .plain: bnb_int8_plain_gemm }
        gemm(cb.mutableBase, 0, Int32(m), Int32(n), codes, sums, Int32(rows), &out, m)
        return out
    }

    /// Plain reference for tests: the same formula, scalar, one output at a time.
    public func referenceOutput(row r: Int, of x: UnsafePointer<Float>, rows: Int, out o: Int, bias: Float? = nil) -> Float {
        let n = inFeatures
        var outlier = [Bool](repeating: false, count: n)
        for i in BnbInt8Linear.outlierColumns(x, rows: rows, inFeatures: n, threshold: threshold) { outlier[i] = true }
        let a = (0..<n).map { Float(Float16(x[r * n + $0])) }
        var m: Float = 0
        for v in a where threshold == 0 || abs(v) < threshold { m = max(m, abs(v)) }
        var acc = 0
        if m > 0 {
            for i in 0..<n where !outlier[i] && (threshold == 0 || abs(a[i]) < threshold) {
                acc += Int((a[i] * BnbInt8Linear.scale(absmax: m)).rounded(.toNearestOrEven)) * Int(cb[o * n + i])
            }
        }
        var v = Float(Float16(Float(acc) * m * scb[o] * BnbInt8Linear.dequantConstant))
        if let bias { v = Float(Float16(v + bias)) }
        var s: Float = 0
        for i in 0..<n where outlier[i] { s += x[r * n + i] * (Float(cb[o * n + i]) * scb[o] * BnbInt8Linear.inverse127) }
        return v + s
    }
}
