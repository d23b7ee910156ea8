// GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers"), one linear layer at a time, as the reference computes it
// (IST-DASLab/gptq `GPTQ.fasterquant` with `quant.Quantizer`; GPTQModel has the same core):
//
//   dead columns (diag H = 0): H[i][i] = 1, W[:, i] = 0
//   act-order: columns by decreasing diag H (a stable order), W and H permuted alike
//   H += damp·mean(diag H)·I; U = upper Cholesky factor of H⁻¹ (more damping while H is not
//   positive definite, as GPTQModel retries: +0.0015 at a time while below 1)
//   for each block of 128 columns, for each column i in it:
//       at a group's first column: scale, zero per row from that group's columns *as W stood at the
//       start of the block* (the reference reads the outer W, updated only between blocks)
//       q = clamp(round(w/scale) + zero, 0, maxq)           (round half to even)
//       e = (w − scale·(q − zero)) / U[i][i]
//       W[:, j] −= e · U[i][j] for the block's later columns j
//   after a block: W[:, later] −= E · U[block, later]          (the lazy batch update)
//
// The min/max quantizer per row: xmin = min(0, min x), xmax = max(0, max x); symmetric:
// xmax = max(|xmin|, xmax) and xmin = −xmax only when xmin < 0 (a row without negatives keeps
// xmin = 0), zero = (maxq + 1)/2; asymmetric: zero = round(−xmin/scale); xmin = xmax = 0 becomes
// [−1, 1]; scale = (xmax − xmin)/maxq.
//
// Every row is independent given U, so rows are split over the pool; the columns of a row range
// are kept transposed (column-major) so each step is a vector operation over its rows. Arithmetic
// is float32 in the reference's order of operations (products rounded before they are subtracted),
// except U, computed in double (InverseCholesky.swift).
import Foundation

/// GPTQ's parameters, as quantize_config.json names them.
public struct GPTQConfiguration: Sendable, Hashable {
    public var bits = 4
    /// Weights (along the input) sharing a scale and zero; -1 = one group per output row.
    public var groupSize = 128
    public var symmetric = true
    /// `desc_act`: quantize columns in order of decreasing Hessian diagonal.
    public var actOrder = false
    /// Group parameters fixed from the unquantized weights before act-order (`static_groups`).
    public var staticGroups = false
    public var dampPercent = 0.01
    /// Added to `dampPercent` while the damped Hessian is not positive definite (GPTQModel's default).
    public var dampIncrement = 0.0015
    public var blockSize = 128

    public init(bits: Int = 4, groupSize: Int = 128, symmetric: Bool = true, actOrder: Bool = false,
                staticGroups: Bool = false, dampPercent: Double = 0.01) {
        self.bits = bits; self.groupSize = groupSize; self.symmetric = symmetric
        self.actOrder = actOrder; self.staticGroups = staticGroups; self.dampPercent = dampPercent
    }

    public static let supportedBits = [2, 3, 4, 8]

    /// Checks the values against a layer of `inFeatures` inputs; `layer` names it in the error.
    public func validate(inFeatures: Int, layer: String) throws {
        guard Self.supportedBits.contains(bits) else {
            throw CoreError.invalid("\(layer): bits must be one of \(Self.supportedBits.map(String.init).joined(separator: ", ")), got \(bits)")
        }
        guard groupSize == -1 || groupSize > 0 else {
            throw CoreError.invalid("\(layer): group_size must be -1 (one group per row) or positive, got \(groupSize)")
        }
        guard groupSize <= inFeatures else {
            throw CoreError.invalid("\(layer): group_size \(groupSize) is larger than the layer's \(inFeatures) inputs; use -1 (one group per row) or at most \(inFeatures)")
        }
        guard dampPercent > 0, dampPercent < 1 else {
            throw CoreError.invalid("\(layer): damp_percent must lie in (0, 1), got \(dampPercent)")
        }
    }

    var maxq: Int { (1 << bits) - 1 }
}

/// A weight quantized in groups along its input: w[o][i] = scale[g][o] · (code[o][i] − zero[g][o]),
/// g = gIdx[i]. What GPTQ, AWQ and round-to-nearest produce and the GPTQ / AWQ formats store.
public struct GroupQuantizedWeight: Sendable {
    public let out: Int
    public let inFeatures: Int
    public let bits: Int
    /// Nominal group size (-1: one group per row), for file metadata.
    public let groupSize: Int
    /// `[out, in]`, in the weight's own column order.
    public var codes: [UInt8]
    /// `[groups, out]`.
    public var scales: [Float]
    /// `[groups, out]`, integers in 0...maxq.
    public var zeros: [Float]
    /// `[in]`: the group of each input column.
    public var gIdx: [Int32]

    public var groups: Int { scales.count / max(out, 1) }

    /// The weight the codes stand for, `[out, in]`: scale · (code − zero) in F32, as the reference's
    /// quantizer returns it.
    public func dequantized() -> [Float] {
        var w = [Float](repeating: 0, count: out * inFeatures)
        for o in 0..<out {
            for i in 0..<inFeatures {
                let g = Int(gIdx[i]) * out + o
                w[o * inFeatures + i] = scales[g] * (Float(codes[o * inFeatures + i]) - zeros[g])
            }
        }
        return w
    }
}

public struct GPTQResult: Sendable {
    public var weight: GroupQuantizedWeight
    /// The order columns were quantized in (identity without act-order).
    public var perm: [Int32]
    /// The damping fraction that made H positive definite.
    public var dampPercent: Double
    /// The reference's printed error: Σ (w − q)² / U[i][i]² / 2.
    public var loss: Double
}

public enum GPTQ {
    /// Quantizes `weight` (`[out, in]` row-major F32) given the layer's Hessian (`[in, in]`).
    /// `layer` names the layer in errors.
    public static func quantize(weight: [Float], out rows: Int, in cols: Int, hessian: [Float],
                                config c: GPTQConfiguration, layer: String, pool: ThreadPool) throws -> GPTQResult {
        try c.validate(inFeatures: cols, layer: layer)
        precondition(weight.count == rows * cols && hessian.count == cols * cols)
        if let bad = weight.firstIndex(where: { !$0.isFinite }) {
            throw CoreError.invalid("\(layer): weight value at row \(bad / cols), column \(bad % cols) is \(weight[bad]); cannot quantize non-finite values")
        }
        if let bad = hessian.firstIndex(where: { !$0.isFinite }) {
            throw CoreError.invalid("\(layer): the Hessian has a non-finite value at [\(bad / cols)][\(bad % cols)] (the calibration activations overflowed?)")
        }
        let maxq = Float(c.maxq)
        let gs = c.groupSize

        // H is read in place, never copied (a 3072-wide layer's copy is 36 MiB): dead columns (zero
        // diagonal) count as 1 on the diagonal, and act-order reads it through `perm`.
        let diag = (0..<cols).map { hessian[$0 * cols + $0] == 0 ? Float(1) : hessian[$0 * cols + $0] }
        var perm = Array(0..<cols)
        if c.actOrder { perm.sort { diag[$0] > diag[$1] || (diag[$0] == diag[$1] && $0 < $1) } }

        // Damping, then U; more damping while H is not positive definite. U comes before W's
        // transposed copy: the factorization's double array is the largest thing GPTQ holds.
        var meanDiag: Double = 0
        for k in 0..<cols { meanDiag += Double(diag[perm[k]]) }
        let mean = Float(meanDiag / Double(cols))
        var percent = c.dampPercent
        var factor: InverseCholesky.UpperFactor?
        while percent < 1 {
            let damp = Float(percent) * mean
            factor = hessian.withUnsafeBufferPointer { hb in
                perm.withUnsafeBufferPointer { pb in
                    InverseCholesky.upperFactorOfInverse(n: cols, pool: pool) { i, j in
                        Double(i == j ? diag[pb[i]] + damp : hb[pb[i] * cols + pb[j]])
                    }
                }
            }
            if factor != nil { break }
            percent += c.dampIncrement
        }
        guard let u = factor else {
            throw CoreError.invalid("\(layer): the Hessian is not positive definite even with damp_percent up to \(String(format: "%.4f", percent - c.dampIncrement)) (too few or degenerate calibration samples for this layer?); give more calibration samples or a larger damp_percent")
        }

        // W transposed: column i of the weight is wt[i·rows ..< (i+1)·rows].
        var wt = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows { for i in 0..<cols { wt[i * rows + r] = weight[r * cols + i] } }

        // Per-row parameters from the whole weight, before the dead columns are zeroed (the
        // reference's first `find_params`): the parameters of gs = -1.
        let rowParams = gs == -1 ? findParams(wt, rows: rows, columns: 0..<cols, config: c) : nil

        for i in 0..<cols where hessian[i * cols + i] == 0 {
            for r in 0..<rows { wt[i * rows + r] = 0 }
        }
        var staticParams: [QuantParams] = []
        if gs != -1 && c.staticGroups {
            for g0 in stride(from: 0, to: cols, by: gs) {
                staticParams.append(findParams(wt, rows: rows, columns: g0..<min(cols, g0 + gs), config: c))
            }
        }

        if c.actOrder {
            let w0 = wt
            for k in 0..<cols {
                for r in 0..<rows { wt[k * rows + r] = w0[perm[k] * rows + r] }
            }
        }

        // Group parameters per group index, filled as groups are reached.
        let groupCount = gs == -1 ? 1 : (cols + gs - 1) / gs
        var scales = [Float](repeating: 0, count: groupCount * rows)
        var zeros = [Float](repeating: 0, count: groupCount * rows)
        var codesT = [UInt8](repeating: 0, count: cols * rows)       // [permuted column, row]
        let loss = LossTotal()
        let block = c.blockSize
        if let p = rowParams {
            for r in 0..<rows { scales[r] = p.scale[r]; zeros[r] = p.zero[r] }
        }
        for (g, p) in staticParams.enumerated() {
            for r in 0..<rows { scales[g * rows + r] = p.scale[r]; zeros[g * rows + r] = p.zero[r] }
        }

        wt.withUnsafeMutableBufferPointer { wb in
            withExtendedLifetime(u) {
                scales.withUnsafeMutableBufferPointer { sb in
                    zeros.withUnsafeMutableBufferPointer { zb in
                        codesT.withUnsafeMutableBufferPointer { cb in
                                let w = wb.baseAddress!, up = UnsafePointer(u.values), sp = sb.baseAddress!, zp = zb.baseAddress!
                                let cp = cb.baseAddress!
                                // Rows in ranges of 16 (one vector), as many as there are threads.
                                pool.parallelFor(rows, granule: 16) { range in
                                    let r0 = range.lowerBound, n = range.count
                                    let err = UnsafeMutablePointer<Float>.allocate(capacity: block * n)
                                    let scale = UnsafeMutablePointer<Float>.allocate(capacity: n)
                                    let zero = UnsafeMutablePointer<Float>.allocate(capacity: n)
                                    defer { err.deallocate(); scale.deallocate(); zero.deallocate() }
                                    var rangeLoss: Double = 0
                                    var i1 = 0
                                    while i1 < cols {
                                        let i2 = min(i1 + block, cols)
                                        // Groups beginning in this block: their parameters from W as it stands now.
                                        var pending: [Int: QuantParams] = [:]
                                        if gs != -1 && !c.staticGroups {
                                            for g0 in stride(from: (i1 + gs - 1) / gs * gs, to: i2, by: gs) {
                                                pending[g0] = findParams(w, stride: rows, rows: r0..<(r0 + n), columns: g0..<min(cols, g0 + gs), config: c)
                                            }
                                        }
                                        for i in i1..<i2 {
                                            let col = w + i * rows + r0
                                            let g: Int
                                            if gs == -1 {
                                                g = 0
                                            } else if c.staticGroups {
                                                g = (c.actOrder ? perm[i] : i) / gs
                                            } else {
                                                g = i / gs
                                                if let p = pending[i] {
                                                    for k in 0..<n { sp[g * rows + r0 + k] = p.scale[k]; zp[g * rows + r0 + k] = p.zero[k] }
                                                }
                                            }
                                            for k in 0..<n { scale[k] = sp[g * rows + r0 + k]; zero[k] = zp[g * rows + r0 + k] }
                                            let d = up[i * cols + i]
                                            let e = err + (i - i1) * n
                                            for k in 0..<n {
                                                let x = col[k]
                                                let q = code(x, scale: scale[k], zero: zero[k], maxq: maxq)
                                                let deq = scale[k] * (q - zero[k])
                                                cp[i * rows + r0 + k] = UInt8(q)
                                                let diff = x - deq
                                                rangeLoss += Double(diff * diff) / Double(d * d) / 2
                                                e[k] = diff / d
                                            }
                                            // The rest of the block: W[:, j] −= e·U[i][j].
                                            for j in (i + 1)..<max(i + 1, i2) {
                                                subtractScaled(w + j * rows + r0, e, up[i * cols + j], n)
                                            }
                                        }
                                        // The lazy batch update of the columns after the block.
                                        if i2 < cols {
                                            let acc = UnsafeMutablePointer<Float>.allocate(capacity: n)
                                            defer { acc.deallocate() }
                                            for j in i2..<cols {
                                                acc.initialize(repeating: 0, count: n)
                                                for k in 0..<(i2 - i1) { addScaled(acc, err + k * n, up[(i1 + k) * cols + j], n) }
                                                let col = w + j * rows + r0
                                                for t in 0..<n { col[t] -= acc[t] }
                                            }
                                        }
                                        i1 = i2
                                    }
                                    loss.add(rangeLoss)
                                }
                        }
                    }
                }
            }
        }

        var gIdx = [Int32](repeating: 0, count: cols)
        var codes = [UInt8](repeating: 0, count: rows * cols)
        for k in 0..<cols {
            let i = perm[k]
            if gs != -1 { gIdx[i] = Int32(c.actOrder && !c.staticGroups ? k / gs : i / gs) }
            for r in 0..<rows { codes[r * cols + i] = codesT[k * rows + r] }
        }
        let q = GroupQuantizedWeight(out: rows, inFeatures: cols, bits: c.bits, groupSize: gs, codes: codes,
                                     scales: scales, zeros: zeros, gIdx: gIdx)
        return GPTQResult(weight: q, perm: perm.map(Int32.init), dampPercent: percent, loss: loss.value)
    }

    /// y −= s·x (the product rounded, then subtracted, as the reference's matmul then `-=`).
    @inline(__always)
    static func subtractScaled(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ s: Float, _ n: Int) {
        typealias V = SIMD16<Float>
        var k = 0
        let vs = V(repeating: s)
        while k + 16 <= n {
            let yv = UnsafeRawPointer(y + k).loadUnaligned(as: V.self), xv = UnsafeRawPointer(x + k).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(y + k).storeBytes(of: yv - xv * vs, as: V.self)
            k += 16
        }
        while k < n { y[k] = y[k] - x[k] * s; k += 1 }
    }

    /// y += s·x, fused (a matrix product's accumulation).
    @inline(__always)
    static func addScaled(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ s: Float, _ n: Int) {
        typealias V = SIMD16<Float>
        var k = 0
        let vs = V(repeating: s)
        while k + 16 <= n {
            var yv = UnsafeRawPointer(y + k).loadUnaligned(as: V.self)
            yv.addProduct(UnsafeRawPointer(x + k).loadUnaligned(as: V.self), vs)
            UnsafeMutableRawPointer(y + k).storeBytes(of: yv, as: V.self)
            k += 16
        }
        while k < n { y[k] = y[k].addingProduct(x[k], s); k += 1 }
    }

    /// The loss summed over the threads' row ranges.
    final class LossTotal: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var value: Double = 0
        func add(_ x: Double) { lock.lock(); value += x; lock.unlock() }
    }

    struct QuantParams { var scale: [Float]; var zero: [Float] }

    static func findParams(_ wt: [Float], rows: Int, columns: Range<Int>, config: GPTQConfiguration) -> QuantParams {
        wt.withUnsafeBufferPointer { findParams($0.baseAddress!, stride: rows, rows: 0..<rows, columns: columns, config: config) }
    }

    /// The reference quantizer's `find_params` for rows `rows` over `columns` of a column-major
    /// weight (`stride` values per column).
    static func findParams(_ wt: UnsafePointer<Float>, stride: Int, rows: Range<Int>, columns: Range<Int>,
                           config c: GPTQConfiguration) -> QuantParams {
        let n = rows.count
        var xmin = [Float](repeating: 0, count: n), xmax = [Float](repeating: 0, count: n)
        for i in columns {
            let col = wt + i * stride + rows.lowerBound
            for k in 0..<n { xmin[k] = min(xmin[k], col[k]); xmax[k] = max(xmax[k], col[k]) }
        }
        var p = QuantParams(scale: [Float](repeating: 0, count: n), zero: [Float](repeating: 0, count: n))
        for k in 0..<n { (p.scale[k], p.zero[k]) = parameters(min: xmin[k], max: xmax[k], config: c) }
        return p
    }

    /// Scale and zero of a row's group from its least and greatest values (`find_params`; `lo` and
    /// `hi` already include 0).
    @inline(__always)
    static func parameters(min lo: Float, max hi: Float, config c: GPTQConfiguration) -> (scale: Float, zero: Float) {
        let maxq = Float(c.maxq)
        var lo = lo, hi = hi
        if c.symmetric {
            hi = max(abs(lo), hi)
            if lo < 0 { lo = -hi }
        }
        if lo == 0 && hi == 0 { lo = -1; hi = 1 }
        let s = (hi - lo) / maxq
        return (s, c.symmetric ? (maxq + 1) / 2 : (-lo / s).rounded(.toNearestOrEven))
    }

    /// The quantizer's code: clamp(round(x/scale) + zero, 0, maxq), round half to even.
    @inline(__always)
    static func code(_ x: Float, scale: Float, zero: Float, maxq: Float) -> Float {
        min(max((x / scale).rounded(.toNearestOrEven) + zero, 0), maxq)
    }
}
