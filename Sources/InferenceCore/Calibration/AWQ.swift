// AWQ (Lin, Tang, Tang, Yang, Gan, Han 2023, "AWQ: Activation-aware Weight Quantization for LLM
// Compression and Acceleration") as AutoAWQ computes it (`quantize/quantizer.py`: _search_best_scale,
// _compute_best_scale with duo_scaling, _compute_best_clip, pseudo_quantize_tensor with zero point;
// `quantize/scale.py`), block by block on inputs from the unquantized model:
//
//   for each block, every linear layer's inputs X captured over the calibration samples
//   for each scaling group (an op, the layers reading its output, the module whose output is compared;
//       all groups searched on the block as it was, then all applied):
//       x̄ = mean |X| per input channel; w̄ = mean over output rows of |w| / (max |w| of its group + 1e-6)
//       for r = 0, 1/20, ..., 19/20:  s = clamp(x̄^r / (w̄^(1−r) + 1e-4), min 1e-4);  s /= √(max s · min s)
//           W' = Q(W·s)/s for the group's layers; loss = mean (module(X) − module'(X))²
//       best s (first smallest loss): the op's output ÷ s (folded into it), the layers' W · s, X ÷ s
//   for each layer but those feeding q·kᵀ: per output row and group, the clipping bound max|w|·(1 − i/20),
//       i < 10, that best keeps Σ x·w over 512 evenly spaced tokens; W clamped to it
//   Q: per row and group of `group_size` inputs, scale = max(max − min, 1e-5)/15,
//      zero = clamp(−round(min/scale), 0, 15), code = clamp(round(w/scale) + zero, 0, 15)
//
// Everything in float32 (the oracle transcribes AutoAWQ in float32; AutoAWQ itself casts to fp16 on
// a GPU). The architecture supplies the groups and the module outputs (CalibratedModel).
import Foundation

/// One of AWQ's scaling groups.
struct AWQScalingGroup {
    enum Previous {
        /// A norm's weight (and bias) divided by the scales.
        case norm
        /// The last `scales.count` output rows (and bias) of this linear layer divided by the scales.
        case linear(String)
        /// The activation's output divided by the scales (a scaled activation).
        case activation
        /// The layers' input divided by the scales inside the model: the op before them also feeds
        /// a residual (a post-LN block's LayerNorm), so it cannot absorb them.
        case input
    }
    /// `<previous> -> <layers>`, as the oracle names groups.
    var name: String
    var previous: Previous
    /// Layers reading the previous op's output (their inputs are the same X).
    var layers: [String]
}

/// What AWQ needs of an architecture beyond the calibration pass.
protocol AWQModel: CalibratedModel {
    func awqGroups(block l: Int) -> [AWQScalingGroup]
    /// The output of the module group `g`'s loss compares, for one sample whose input to the
    /// group's layers is `x` (`tokens × in`), with the layers' current weights.
    func awqInspect(block l: Int, group g: Int, input x: [Float], tokens: Int) -> [Float]
    /// Divides the output of group `g`'s previous op by `scales`.
    func awqScalePrevious(block l: Int, group g: Int, scales: [Float])
    /// Whether AWQ searches a clipping bound for this layer (not for those feeding q·kᵀ).
    func awqClips(_ name: String) -> Bool
}

/// What AWQ chose for one scaling group (tests compare with the reference's).
struct AWQGroupResult {
    var name: String
    var ratio: Double
    var scales: [Float]
    var losses: [Double]
}

enum AWQ {
    static let grid = 20, clipGrid = 20, clipMaxShrink = 0.5, clipTokens = 512

    static func quantize(_ model: CalibratedModel, samples: [[Int]], groupSize: Int, duoScaling: Bool,
                         skip: (String) -> Bool = { _ in false },
                         observe: ((AWQGroupResult) -> Void)? = nil,
                         clipped: ((String, [Float]) -> Void)? = nil) throws -> CalibrationReport {
        guard let model = model as? AWQModel else {
            throw CoreError.unsupported("awq is not implemented for this architecture")
        }
        let start = Date()
        var states = samples.map { [model.embed($0)] }
        var layers: [CalibratedLayer] = []
        for l in 0..<model.blockCount {
            let t0 = Date()
            let seq = model.sequentialGroups(block: l)
            // Every layer's inputs over all samples (rows of all samples, in order), and the block's
            // output from the unquantized block: the next block's input.
            var inputs: [String: [Float]] = [:]
            for s in states.indices {
                var st = states[s]
                for k in seq.indices {
                    let x = model.groupInput(block: l, group: k, state: st, tokens: samples[s].count)
                    for name in seq[k] { inputs[name, default: []] += x }
                    st = model.advance(block: l, group: k, state: st, tokens: samples[s].count)
                }
                states[s] = st
            }
            let lengths = samples.map(\.count)
            for name in seq.joined() {
                let n = model.linear(name).inFeatures
                guard n % groupSize == 0 else {
                    throw CoreError.invalid("\(name): awq group_size \(groupSize) does not divide the layer's \(n) inputs (AWQ needs whole groups); choose a divisor of \(n)")
                }
            }

            // Scales: searched for every group on the block as it is, then applied.
            let groups = model.awqGroups(block: l)
            var chosen: [[Float]] = []
            for (g, group) in groups.enumerated() {
                let r = try searchScale(model, block: l, group: g, groupInfo: group, input: inputs[group.layers[0]]!,
                                        lengths: lengths, groupSize: groupSize, duoScaling: duoScaling)
                observe?(r)
                chosen.append(r.scales)
            }
            for (g, group) in groups.enumerated() {
                let s = chosen[g]
                model.awqScalePrevious(block: l, group: g, scales: s)
                for name in group.layers {
                    let w = model.linear(name), n = w.inFeatures
                    var v = w.dequantized()
                    for o in 0..<w.outFeatures { for i in 0..<n { v[o * n + i] *= s[i] } }
                    model.setWeight(name, F32Linear(values: v, out: w.outFeatures, in: n))
                    if var x = inputs[name] {
                        for t in 0..<(x.count / n) { for i in 0..<n { x[t * n + i] /= s[i] } }
                        inputs[name] = x
                    }
                }
            }
            // Clipping, then the codes.
            for name in seq.joined() where !skip(name) {
                let w = model.linear(name), out = w.outFeatures, n = w.inFeatures
                var v = w.dequantized()
                if model.awqClips(name) {
                    let bound = clipBounds(v, out: out, n: n, input: inputs[name]!, groupSize: groupSize, pool: model.pool)
                    clipped?(name, bound)
                    let groupsPerRow = n / groupSize
                    for o in 0..<out { for i in 0..<n {
                        let b = bound[o * groupsPerRow + i / groupSize]
                        v[o * n + i] = min(max(v[o * n + i], -b), b)
                    } }
                }
                let q = pseudoQuantize(v, out: out, n: n, groupSize: groupSize)
                model.setWeight(name, try GroupQuantizedLinear(q, format: "awq"))
                layers.append(CalibratedLayer(name: name, out: out, inFeatures: n, dampPercent: nil, loss: nil, seconds: 0))
            }
            let blockSeconds = Date().timeIntervalSince(t0)
            for i in layers.indices where layers[i].seconds == 0 { layers[i].seconds = blockSeconds / Double(seq.joined().count) }
        }
        return CalibrationReport(method: "awq", samples: samples.count, tokens: samples.first?.count ?? 0, layers: layers,
                                 seconds: Date().timeIntervalSince(start))
    }

    /// The grid search of one scaling group (`_search_best_scale` + `_compute_best_scale`).
    static func searchScale(_ model: AWQModel, block l: Int, group g: Int, groupInfo: AWQScalingGroup, input x: [Float],
                            lengths: [Int], groupSize: Int, duoScaling: Bool) throws -> AWQGroupResult {
        let originals = groupInfo.layers.map { model.linear($0) }
        let n = originals[0].inFeatures
        // w̄: |w| / (group max + 1e-6), averaged over the rows of all the group's layers.
        var wSum = [Float](repeating: 0, count: n), rowsTotal = 0
        var weights: [[Float]] = []
        for w in originals {
            let v = w.dequantized()
            weights.append(v)
            for o in 0..<w.outFeatures {
                for g0 in stride(from: 0, to: n, by: groupSize) {
                    var m: Float = 0
                    for i in g0..<(g0 + groupSize) { m = max(m, abs(v[o * n + i])) }
                    let d = m + 1e-6
                    for i in g0..<(g0 + groupSize) { wSum[i] += abs(v[o * n + i]) / d }
                }
            }
            rowsTotal += w.outFeatures
        }
        let wMean = wSum.map { $0 / Float(rowsTotal) }
        // x̄: mean |x| per channel, summed in float.
        let tokens = x.count / n
        var xSum = [Float](repeating: 0, count: n)
        for t in 0..<tokens { for i in 0..<n { xSum[i] += abs(x[t * n + i]) } }
        let xMean = xSum.map { $0 / Float(tokens) }

        func outputs() -> [[Float]] {
            var offset = 0
            return lengths.map { T in
                defer { offset += T * n }
                return model.awqInspect(block: l, group: g, input: Array(x[offset ..< offset + T * n]), tokens: T)
            }
        }
        let reference = outputs()
        var best = -1, bestLoss = Double.infinity, bestScales: [Float] = []
        var losses: [Double] = []
        for step in 0..<grid {
            let r = Float(Double(step) / Double(grid))
            var s = (0..<n).map { i -> Float in
                let v = duoScaling ? Foundation.pow(xMean[i], r) / (Foundation.pow(wMean[i], 1 - r) + 1e-4) : Foundation.pow(xMean[i], r)
                return max(v, 1e-4)
            }
            let norm = (s.max()! * s.min()!).squareRoot()
            s = s.map { $0 / norm }
            for i in s.indices where !s[i].isFinite { s[i] = 1 }
            for (k, name) in groupInfo.layers.enumerated() {
                let w = originals[k], out = w.outFeatures
                var v = weights[k]
                for o in 0..<out { for i in 0..<n { v[o * n + i] *= s[i] } }
                var q = pseudoQuantize(v, out: out, n: n, groupSize: groupSize).dequantized()
                for o in 0..<out { for i in 0..<n { q[o * n + i] /= s[i] } }
                model.setWeight(name, F32Linear(values: q, out: out, in: n))
            }
            let trial = outputs()
            var sum: Float = 0, count = 0
            for (a, b) in zip(reference, trial) {
                for i in a.indices { let d = a[i] - b[i]; sum += d * d }
                count += a.count
            }
            let loss = Double(sum) / Double(count)
            losses.append(loss)
            if loss < bestLoss { bestLoss = loss; best = step; bestScales = s }
            for (k, name) in groupInfo.layers.enumerated() { model.setWeight(name, originals[k]) }
        }
        guard best >= 0 else {
            throw CoreError.invalid("\(groupInfo.name): AWQ found no finite loss for any scale ratio (the calibration activations overflowed?)")
        }
        return AWQGroupResult(name: groupInfo.name, ratio: Double(best) / Double(grid), scales: bestScales, losses: losses)
    }

    /// `_compute_best_clip`: per output row and group, the bound max|w|·(1 − i/20), i < 10, whose
    /// quantized weights best keep the group's partial sums over 512 evenly spaced input tokens.
    /// `[out, groups]`.
    static func clipBounds(_ w: [Float], out: Int, n: Int, input: [Float], groupSize gs: Int, pool: ThreadPool) -> [Float] {
        let all = input.count / n
        let step = max(1, all / clipTokens)
        let picked = stride(from: 0, to: all, by: step).map { $0 }
        let tokens = picked.count, groups = n / gs
        var x = [Float](repeating: 0, count: tokens * n)
        for (k, t) in picked.enumerated() { for i in 0..<n { x[k * n + i] = input[t * n + i] } }
        var bounds = [Float](repeating: 0, count: out * groups)
        let shrinks = Int(clipMaxShrink * Double(clipGrid))
        bounds.withUnsafeMutableBufferPointer { bp in
            let bptr = bp.baseAddress!
            x.withUnsafeBufferPointer { xb in
                let xp = xb.baseAddress!
                pool.parallelFor(out) { rows in
                    var original = [Float](repeating: 0, count: tokens)
                    var row = [Float](repeating: 0, count: gs), q = [Float](repeating: 0, count: gs)
                    for o in rows {
                        for g in 0..<groups {
                            for j in 0..<gs { row[j] = w[o * n + g * gs + j] }
                            var maxAbs: Float = 0
                            for v in row { maxAbs = max(maxAbs, abs(v)) }
                            for t in 0..<tokens { original[t] = dot(xp + t * n + g * gs, row) }
                            var bestErr: Float = 1e9, best = maxAbs
                            for i in 0..<shrinks {
                                let bound = maxAbs * (1 - Float(i) / Float(clipGrid))
                                for j in 0..<gs { q[j] = min(max(row[j], -bound), bound) }
                                quantizeGroup(&q)
                                var err: Float = 0
                                for t in 0..<tokens { let d = dot(xp + t * n + g * gs, q) - original[t]; err += d * d }
                                err /= Float(tokens)
                                if err < bestErr { bestErr = err; best = bound }
                            }
                            bptr[o * groups + g] = best
                        }
                    }
                }
            }
        }
        return bounds
    }

    /// Σ x·w in eight lanes (as a vectorized torch sum adds; the order is not the reference's either).
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ w: [Float]) -> Float {
        w.withUnsafeBufferPointer { wb in
            let wp = wb.baseAddress!, n = wb.count
            var acc = SIMD8<Float>(repeating: 0)
            var j = 0
            while j + 8 <= n {
                let a = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
                let b = UnsafeRawPointer(wp + j).loadUnaligned(as: SIMD8<Float>.self)
                acc.addProduct(a, b)
                j += 8
            }
            var s = acc.sum()
            while j < n { s += x[j] * wp[j]; j += 1 }
            return s
        }
    }

    /// One group's values replaced by their dequantized 4-bit codes (`pseudo_quantize_tensor`).
    static func quantizeGroup(_ v: inout [Float]) {
        let (s, z) = groupParameters(v[...])
        for j in v.indices { v[j] = (min(max((v[j] / s).rounded(.toNearestOrEven) + z, 0), 15) - z) * s }
    }

    @inline(__always)
    static func groupParameters(_ v: ArraySlice<Float>) -> (scale: Float, zero: Float) {
        var lo = Float.infinity, hi = -Float.infinity
        for x in v { lo = min(lo, x); hi = max(hi, x) }
        let s = max(hi - lo, 1e-5) / 15
        return (s, min(max(-(lo / s).rounded(.toNearestOrEven), 0), 15))
    }

    /// AWQ's 4-bit asymmetric quantization of `[out, n]` in groups of `gs` consecutive inputs.
    static func pseudoQuantize(_ w: [Float], out: Int, n: Int, groupSize gs: Int) -> GroupQuantizedWeight {
        let groups = n / gs
        var codes = [UInt8](repeating: 0, count: out * n)
        var scales = [Float](repeating: 0, count: groups * out), zeros = [Float](repeating: 0, count: groups * out)
        for o in 0..<out {
            for g in 0..<groups {
                let base = o * n + g * gs
                let (s, z) = groupParameters(w[base ..< base + gs])
                scales[g * out + o] = s; zeros[g * out + o] = z
                for i in 0..<gs { codes[base + i] = UInt8(min(max((w[base + i] / s).rounded(.toNearestOrEven) + z, 0), 15)) }
            }
        }
        return GroupQuantizedWeight(out: out, inFeatures: n, bits: 4, groupSize: gs, codes: codes, scales: scales, zeros: zeros,
                                    gIdx: (0..<n).map { Int32($0 / gs) })
    }
}
