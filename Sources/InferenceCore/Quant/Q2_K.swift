// q2_K: llama.cpp's 2-bit "K" type. A super-block of 256 weights in 84 bytes (2.625 bits per weight):
// 16 sub-blocks of 16, each with a 4-bit scale and a 4-bit minimum under two fp16 factors.
//   block (84 B): scales  16 bytes   bytes 0-15    sub-block j: scale = s[j] & 15, min = s[j] >> 4
//                 qs      64 bytes   bytes 16-79   two halves of 32 bytes; in half h, byte l holds,
//                                                  at bits 2k, q of element 128h + 32k + l
//                 d       fp16       bytes 80-81   factor of the scales
//                 dmin    fp16       bytes 82-83   factor of the minimums
//   weight = d·scale · q − dmin·min, q in 0...3
// The quantizer is `quantize_row_q2_K_ref` (what `quantize_q2_K` runs without an importance
// matrix): `make_qkx2_quants` on 0...3 with |x| weights and absolute error, 16 candidate scales.
import Foundation

public enum Q2_K {
    public static let blockSize = 256, blockBytes = 84

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [UInt8](repeating: 0, count: 256), Laux = [UInt8](repeating: 0, count: 16)
        var weights = [Float](repeating: 0, count: 16)
        var scales = [Float](repeating: 0, count: 16), mins = [Float](repeating: 0, count: 16)
        let q4scale: Float = 15
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var maxScale: Float = 0, maxMin: Float = 0
            for j in 0..<16 {
                for l in 0..<16 { weights[l] = abs(xb[16 * j + l]) }
                var theMin: Float = 0
                scales[j] = L.withUnsafeMutableBufferPointer { Lp in
                    KQuants.makeQKX2Quants(16, 3, xb + 16 * j, weights, Lp.baseAddress! + 16 * j, &theMin, &Laux, -0.5, 0.1, 15, useMad: true)
                }
                mins[j] = theMin
                if scales[j] > maxScale { maxScale = scales[j] }
                if mins[j] > maxMin { maxMin = mins[j] }
            }
            let s = yb.assumingMemoryBound(to: UInt8.self)
            if maxScale > 0 {
                let iscale = q4scale / maxScale
                for j in 0..<16 { s[j] = UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])) }
                storeU16(fp16Bits(maxScale / q4scale), yb, 80)
            } else {
                for j in 0..<16 { s[j] = 0 }
                storeU16(fp16Bits(0), yb, 80)
            }
            if maxMin > 0 {
                let iscale = q4scale / maxMin
                for j in 0..<16 { s[j] |= UInt8(truncatingIfNeeded: nearestInt(iscale * mins[j]) << 4) }
                storeU16(fp16Bits(maxMin / q4scale), yb, 82)
            } else {
                storeU16(fp16Bits(0), yb, 82)
            }
            let dAll = fp16Value(loadU16(yb, 80)), dminAll = fp16Value(loadU16(yb, 82))
            for j in 0..<16 {
                let d = dAll * Float(s[j] & 0xF)
                if d == 0 { continue }
                let dm = dminAll * Float(s[j] >> 4)
                for i in 0..<16 { L[16 * j + i] = UInt8(max(0, min(3, nearestInt((xb[16 * j + i] + dm) / d)))) }
            }
            let q = (yb + 16).assumingMemoryBound(to: UInt8.self)
            for h in 0..<2 {
                for l in 0..<32 {
                    let e = 128 * h + l
                    q[32 * h + l] = L[e] | (L[e + 32] << 2) | (L[e + 64] << 4) | (L[e + 96] << 6)
                }
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 80)), dmin = fp16Value(loadU16(yb, 82))
            let s = yb.assumingMemoryBound(to: UInt8.self), q = (yb + 16).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let dl = d * Float(s[j] & 0xF), ml = dmin * Float(s[j] >> 4)
                let h = j / 8, k = (j % 8) / 2, half = j % 2
                for l in 0..<16 {
                    let qv = (q[32 * h + 16 * half + l] >> (2 * k)) & 3
                    xb[16 * j + l] = dl * Float(qv) - ml
                }
            }
        }
    }
}
