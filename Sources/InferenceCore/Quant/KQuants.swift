// What llama.cpp's "K" super-block types (q2_K ... q6_K) and the IQ4 types share: the scale
// searches of ggml-quants.c that their reference quantizers run (`make_qkx2_quants`,
// `make_qx_quants`, `make_q3_quants`, the IQ4 nearest-value search), and the 6-bit packing of
// (scale, min) pairs that q4_K and q5_K use. Each is a step-by-step transcription, in the same
// float operation order (ggml-base is compiled without FMA contraction), so that the blocks come
// out byte-identical. The layouts themselves open each type's file.
import Foundation

enum KQuants {
    /// `get_scale_min_k4`: sub-block j's 6-bit scale and minimum in q4_K / q5_K's 12 scale bytes.
    @inline(__always)
    static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (sc: UInt8, m: UInt8) {
        if j < 4 { return (s[j] & 63, s[j + 4] & 63) }
        return ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }

    /// q4_K / q5_K's super-block head (quantize_row_q{4,5}_K_ref): per sub-block of 32, the
    /// (scale, min) of least weighted error on 0...nmax (weights av|x| + |x|), the 8 pairs packed
    /// in 6 bits under the fp16 `d` / `dmin` at `yb`, and `L` (256 values) re-quantized against
    /// the rounded scales.
    static func scalesAndMins(_ xb: UnsafePointer<Float>, nmax: Int32, rmin: Float, rdelta: Float, nstep: Int,
                              into yb: UnsafeMutableRawPointer, _ L: inout [UInt8]) {
        var Laux = [UInt8](repeating: 0, count: 32), weights = [Float](repeating: 0, count: 32)
        var scales = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let xs = xb + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += xs[l] * xs[l] }
            let avX = (sumX2 / 32).squareRoot()
            for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
            var theMin: Float = 0
            scales[j] = L.withUnsafeMutableBufferPointer { Lp in
                makeQKX2Quants(32, nmax, xs, weights, Lp.baseAddress! + 32 * j, &theMin, &Laux, rmin, rdelta, nstep)
            }
            mins[j] = theMin
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        let s = (yb + 4).assumingMemoryBound(to: UInt8.self)
        s.initialize(repeating: 0, count: 12)
        for j in 0..<8 {
            let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
            if j < 4 {
                s[j] = ls; s[j + 4] = lm
            } else {
                s[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                s[j - 4] |= (ls >> 4) << 6
                s[j] |= (lm >> 4) << 6
            }
        }
        storeU16(fp16Bits(maxScale / 63), yb, 0)
        storeU16(fp16Bits(maxMin / 63), yb, 2)
        let dAll = fp16Value(loadU16(yb, 0)), dminAll = fp16Value(loadU16(yb, 2))
        for j in 0..<8 {
            let (sc, m) = scaleMin(j, s)
            let d = dAll * Float(sc)
            if d == 0 { continue }
            let dm = dminAll * Float(m)
            for i in 0..<32 {
                L[32 * j + i] = UInt8(max(0, min(nmax, nearestInt((xb[32 * j + i] + dm) / d))))
            }
        }
    }

    /// `make_qkx2_quants`: the (scale, min) of least weighted error (squared, or absolute with
    /// `useMad`) for `n` values on 0...nmax, trying nmax + rmin + k·rdelta steps across the range
    /// for k = 0...nstep. Returns the scale; `theMin` gets −min (a positive offset).
    /// (Pointers rather than arrays, and narrowing that cannot trap: with Swift's checks on arrays
    /// and conversions, loading a q4_K model took 9% more instructions.)
    static func makeQKX2Quants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                               _ L: UnsafeMutablePointer<UInt8>, _ theMin: inout Float, _ Laux: UnsafeMutablePointer<UInt8>,
                               _ rmin: Float, _ rdelta: Float, _ nstep: Int, useMad: Bool = false) -> Float {
        @inline(__always) func err(_ d: Float) -> Float { useMad ? abs(d) : d * d }
        var mn = x[0], mx = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < mn { mn = x[i] }
            if x[i] > mx { mx = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if mn > 0 { mn = 0 }
        if mx == mn {
            for i in 0..<n { L[i] = 0 }
            theMin = -mn
            return 0
        }
        var iscale = Float(nmax) / (mx - mn)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - mn))
            L[i] = UInt8(truncatingIfNeeded: max(0, min(nmax, l)))
            let diff = scale * Float(L[i]) + mn - x[i]
            bestError += weights[i] * err(diff)
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (mx - mn)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(nmax, nearestInt(iscale * (x[i] - mn))))
                Laux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i], fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var curError: Float = 0
                for i in 0..<n {
                    let diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                    curError += weights[i] * err(diff)
                }
                if curError < bestError {
                    for i in 0..<n { L[i] = Laux[i] }
                    bestError = curError
                    scale = thisScale
                    mn = thisMin
                }
            }
        }
        theMin = -mn
        return scale
    }

    /// `make_qx_quants` with `rmse_type` 1 and no importance weights: the scale of least
    /// x²-weighted squared error for `n` values on −nmax...nmax−1; `L` gets q + nmax.
    static func makeQXQuants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        var mx: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax { amax = abs(x[i]); mx = x[i] }
        if amax < 1e-15 {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        var iscale = Float(-nmax) / mx
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            L[i] = Int8(l + nmax)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / mx
            sumLX = 0; sumL2 = 0
            for i in 0..<n {
                let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
                let w = x[i] * x[i], fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { L[i] = Int8(nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// `make_q3_quants` with `do_rmse`: q3_K's sub-block scale on −nmax...nmax−1, refined by up to
    /// five passes that move single values where that lowers the x²-weighted error. `L` gets q + nmax.
    static func makeQ3Quants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
        var mx: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax { amax = abs(x[i]); mx = x[i] }
        if amax < 1e-15 {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let iscale = Float(-nmax) / mx
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            L[i] = Int8(l)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i]
                var slx = sumLX - w * x[i] * Float(L[i])
                if slx > 0 {
                    var sl2 = sumL2 - w * Float(L[i]) * Float(L[i])
                    let newL = max(-nmax, min(nmax - 1, nearestInt(x[i] * sl2 / slx)))
                    if newL != Int32(L[i]) {
                        slx += w * x[i] * Float(newL)
                        sl2 += w * Float(newL) * Float(newL)
                        if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                            L[i] = Int8(newL); sumLX = slx; sumL2 = sl2
                            changed += 1
                        }
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[i] += Int8(nmax) }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    /// `best_index_int8`: the index of the table value nearest to `x` (ties to the lower one).
    @inline(__always)
    static func bestIndex(_ values: [Int8], _ x: Float) -> Int {
        if x <= Float(values[0]) { return 0 }
        if x >= Float(values[values.count - 1]) { return values.count - 1 }
        var ml = 0, mu = values.count - 1
        while mu - ml > 1 {
            let mav = (ml + mu) / 2
            if x < Float(values[mav]) { mu = mav } else { ml = mav }
        }
        return x - Float(values[mu - 1]) < Float(values[mu]) - x ? mu - 1 : mu
    }
}
