// q3_K: llama.cpp's 3-bit "K" type. A super-block of 256 weights in 110 bytes (3.4375 bits per
// weight): 16 sub-blocks of 16 with signed 6-bit scales under one fp16 factor; no minimums.
//   block (110 B): hmask   32 bytes   bytes 0-31     byte l, bit k: high bit of element 32k + l
//                  qs      64 bytes   bytes 32-95    low 2 bits, laid out as q2_K's qs
//                  scales  12 bytes   bytes 96-107   16 × 6 bits: the low 4 bits of scale j in byte
//                                                    j (j < 8, low nibble) or j − 8 (high nibble),
//                                                    the high 2 bits in byte 8 + j%4 at bits 2·(j/4)
//                  d       fp16       bytes 108-109  factor of the scales
//   weight = d · (scale − 32) · (q − 4), q = low | high << 2 in 0...7
// The quantizer is `quantize_row_q3_K_ref`: `make_q3_quants` per sub-block (x²-weighted, refined
// value by value), then the scales quantized to 6 bits against the largest.
import Foundation

public enum Q3_K {
    public static let blockSize = 256, blockBytes = 110

    /// Sub-block j's scale, −32...31.
    @inline(__always)
    static func scale(_ j: Int, _ s: UnsafePointer<UInt8>) -> Int32 {
        let low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4
        return Int32(low | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32
    }

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [Int8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var maxScale: Float = 0, amax: Float = 0
            for j in 0..<16 {
                scales[j] = L.withUnsafeMutableBufferPointer { KQuants.makeQ3Quants(16, 4, xb + 16 * j, $0.baseAddress! + 16 * j) }
                if abs(scales[j]) > amax { amax = abs(scales[j]); maxScale = scales[j] }
            }
            let s = (yb + 96).assumingMemoryBound(to: UInt8.self)
            s.initialize(repeating: 0, count: 12)
            if maxScale != 0 {
                let iscale = -32 / maxScale
                for j in 0..<16 {
                    var l = Int8(truncatingIfNeeded: nearestInt(iscale * scales[j]))
                    l = max(-32, min(31, l)) + 32
                    if j < 8 { s[j] = UInt8(l & 0xF) } else { s[j - 8] |= UInt8(l & 0xF) << 4 }
                    l >>= 4
                    s[j % 4 + 8] |= UInt8(l) << (2 * (j / 4))
                }
                storeU16(fp16Bits(1 / iscale), yb, 108)
            } else {
                storeU16(fp16Bits(0), yb, 108)
            }
            let dAll = fp16Value(loadU16(yb, 108))
            for j in 0..<16 {
                let d = dAll * Float(scale(j, s))
                if d == 0 { continue }
                for i in 0..<16 { L[16 * j + i] = Int8(max(-4, min(3, nearestInt(xb[16 * j + i] / d))) + 4) }
            }
            let hmask = yb.assumingMemoryBound(to: UInt8.self), q = (yb + 32).assumingMemoryBound(to: UInt8.self)
            hmask.initialize(repeating: 0, count: 32)
            for j in 0..<256 where L[j] > 3 {
                hmask[j % 32] |= UInt8(1) << (j / 32)
                L[j] -= 4
            }
            for h in 0..<2 {
                for l in 0..<32 {
                    let e = 128 * h + l
                    q[32 * h + l] = UInt8(L[e]) | UInt8(L[e + 32]) << 2 | UInt8(L[e + 64]) << 4 | UInt8(L[e + 96]) << 6
                }
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 108))
            let hmask = yb.assumingMemoryBound(to: UInt8.self), q = (yb + 32).assumingMemoryBound(to: UInt8.self)
            let s = (yb + 96).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let dl = d * Float(scale(j, s))
                for l in 0..<16 {
                    let e = 16 * j + l, h = e / 128, k = (e % 128) / 32, i = e % 32
                    let low = Int32((q[32 * h + i] >> (2 * k)) & 3)
                    let high: Int32 = hmask[i] & (UInt8(1) << (e / 32)) != 0 ? 0 : 4
                    xb[e] = dl * Float(low - high)
                }
            }
        }
    }
}
