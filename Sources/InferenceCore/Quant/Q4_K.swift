// q4_K: llama.cpp's 4-bit "K" type. A super-block of 256 weights in 144 bytes (4.5 bits per weight)
// holds 8 sub-blocks of 32, each with its own 6-bit scale and 6-bit minimum, which are themselves
// scaled by two fp16 super-block factors.
//   block (144 B): d       fp16        bytes 0-1     factor of the sub-block scales
//                  dmin    fp16        bytes 2-3     factor of the sub-block minimums
//                  scales  12 bytes    bytes 4-15    8 × (6-bit scale sc, 6-bit min m), packed:
//                          j < 4:  sc = s[j] & 63,  m = s[j+4] & 63
//                          j ≥ 4:  sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4,  m = (s[j+4] >> 4) | (s[j] >> 6) << 4
//                  qs      128 bytes   bytes 16-143  4 chunks of 32 bytes; chunk c holds sub-block 2c in
//                                                    the low nibbles and sub-block 2c+1 in the high ones
//   weight = d·sc · q − dmin·m, q in 0...15
// The quantizer is llama.cpp's `quantize_row_q4_K_ref` (what `llama-quantize` runs without an
// importance matrix): per sub-block, `make_qkx2_quants` searches 21 candidate scales for the
// (scale, min) pair of least weighted squared error, then the 8 scales and mins are quantized to
// 6 bits and the weights re-quantized against the rounded values.
import Foundation

public enum Q4_K {
    public static let blockSize = 256, blockBytes = 144

    /// `get_scale_min_k4`: sub-block j's 6-bit scale and minimum.
    @inline(__always)
    static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (sc: UInt8, m: UInt8) {
        if j < 4 { return (s[j] & 63, s[j + 4] & 63) }
        return ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [UInt8](repeating: 0, count: 256), Laux = [UInt8](repeating: 0, count: 32)
        var weights = [Float](repeating: 0, count: 32)
        var scales = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var maxScale: Float = 0, maxMin: Float = 0
            for j in 0..<8 {
                let xs = xb + 32 * j
                var sumX2: Float = 0
                for l in 0..<32 { sumX2 += xs[l] * xs[l] }
                let avX = (sumX2 / 32).squareRoot()
                for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
                var theMin: Float = 0
                scales[j] = L.withUnsafeMutableBufferPointer { Lp in
                    makeQKX2Quants(32, 15, xs, weights, Lp.baseAddress! + 32 * j, &theMin, &Laux, -1, 0.1, 20)
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
                    L[32 * j + i] = UInt8(max(0, min(15, nearestInt((xb[32 * j + i] + dm) / d))))
                }
            }
            let q = (yb + 16).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                for l in 0..<32 { q[32 * c + l] = L[64 * c + l] | (L[64 * c + l + 32] << 4) }
            }
        }
    }

    /// `make_qkx2_quants`: the (scale, min) of least weighted squared error for `n` values on
    /// 0...nmax, trying nmax + rmin + k·rdelta steps across the range for k = 0...nstep.
    /// Returns the scale; `theMin` gets −min (a positive offset).
    /// (Pointers rather than arrays, and narrowing that cannot trap: the checks would otherwise cost
    /// 9% of loading a q4_K model.)
    static func makeQKX2Quants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
                               _ L: UnsafeMutablePointer<UInt8>, _ theMin: inout Float, _ Laux: UnsafeMutablePointer<UInt8>,
                               _ rmin: Float, _ rdelta: Float, _ nstep: Int) -> Float {
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
            bestError += weights[i] * (diff * diff)
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
                    curError += weights[i] * (diff * diff)
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

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0)), dmin = fp16Value(loadU16(yb, 2))
            let s = (yb + 4).assumingMemoryBound(to: UInt8.self)
            let q = (yb + 16).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                let (sc1, m1) = scaleMin(2 * c, s), (sc2, m2) = scaleMin(2 * c + 1, s)
                let d1 = d * Float(sc1), dm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), dm2 = dmin * Float(m2)
                for l in 0..<32 {
                    xb[64 * c + l] = d1 * Float(q[32 * c + l] & 0xF) - dm1
                    xb[64 * c + 32 + l] = d2 * Float(q[32 * c + l] >> 4) - dm2
                }
            }
        }
    }
}
