// q6_K: llama.cpp's 6-bit "K" type. A super-block of 256 weights in 210 bytes (6.5625 bits per
// weight): 16 sub-blocks of 16, each with a signed 8-bit scale, under one fp16 factor.
//   block (210 B): ql      128 bytes   bytes 0-127    low 4 bits of q
//                  qh      64 bytes    bytes 128-191  high 2 bits of q
//                  scales  16 × int8   bytes 192-207  sub-block scales
//                  d       fp16        bytes 208-209  factor of the scales
//   The 256 weights form two halves of 128; in half h (ql + 64h, qh + 32h), for l in 0..<32:
//     q[l]    = ql[l]    & 15 | (qh[l]      & 3) << 4      q[l+64] = ql[l]    >> 4 | (qh[l] >> 4 & 3) << 4
//     q[l+32] = ql[l+32] & 15 | (qh[l] >> 2 & 3) << 4      q[l+96] = ql[l+32] >> 4 | (qh[l] >> 6 & 3) << 4
//   weight i = d · scales[i / 16] · (q[i] − 32), q in 0...63
// The quantizer is llama.cpp's `quantize_row_q6_K_ref`: `make_qx_quants` (x²-weighted least squares
// over 19 candidate scales) per sub-block, then the scales quantized to int8 against the largest.
import Foundation

public enum Q6_K {
    public static let blockSize = 256, blockBytes = 210

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        // The block's q + 32 (0...63) and sub-block scales in scratch memory, indexed with wrapping
        // arithmetic (every index is below 256): with an array's checks on, this function's own
        // loops cost 1.8G instructions quantizing a 2-layer GPT-2 (callgrind, 2026-11-30).
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { lBuffer in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scaleBuffer in
            let L = lBuffer.baseAddress!, scales = scaleBuffer.baseAddress!
            L.initialize(repeating: 0, count: 256)
            scales.initialize(repeating: 0, count: 16)
            for b in 0..<n / blockSize {
                let xb = x + b * blockSize, yb = y + b * blockBytes
                var maxScale: Float = 0, maxAbsScale: Float = 0
                for ib in 0..<16 {
                    let scale = KQuants.makeQXQuants(16, 32, xb + 16 &* ib, L + 16 &* ib)
                    scales[ib] = scale
                    if abs(scale) > maxAbsScale { maxAbsScale = abs(scale); maxScale = scale }
                }
                if maxAbsScale < 1e-15 {
                    yb.initializeMemory(as: UInt8.self, repeating: 0, count: blockBytes)
                    continue
                }
                let iscale = -128 / maxScale
                storeU16(fp16Bits(1 / iscale), yb, 208)
                let sc = (yb + 192).assumingMemoryBound(to: Int8.self)
                for ib in 0..<16 { sc[ib] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[ib]))) }
                let dAll = fp16Value(loadU16(yb, 208))
                for j in 0..<16 {
                    let d = dAll * Float(sc[j])
                    if d == 0 { continue }
                    for i in 0..<16 {
                        L[16 &* j &+ i] = Int8(truncatingIfNeeded: max(-32, min(31, nearestInt(xb[16 &* j &+ i] / d))) &+ 32)
                    }
                }
                let ql = yb.assumingMemoryBound(to: UInt8.self), qh = (yb + 128).assumingMemoryBound(to: UInt8.self)
                let q = UnsafeRawPointer(L).assumingMemoryBound(to: UInt8.self)   // 0...63: the same bits
                for h in 0..<2 {
                    let Lh = 128 &* h
                    for l in 0..<32 {
                        let q1 = q[Lh &+ l], q2 = q[Lh &+ l &+ 32], q3 = q[Lh &+ l &+ 64], q4 = q[Lh &+ l &+ 96]
                        ql[64 &* h &+ l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
                        ql[64 &* h &+ l &+ 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
                        qh[32 &* h &+ l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
                    }
                }
            }
        }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 208))
            let sc = (yb + 192).assumingMemoryBound(to: Int8.self)
            for h in 0..<2 {
                let ql = (yb + 64 * h).assumingMemoryBound(to: UInt8.self)
                let qh = (yb + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
                let s = sc + 8 * h, out = xb + 128 * h
                for l in 0..<32 {
                    let isc = l / 16
                    let q1 = Int32((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32
                    let q2 = Int32((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                    let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    out[l] = d * Float(s[isc]) * Float(q1)
                    out[l + 32] = d * Float(s[isc + 2]) * Float(q2)
                    out[l + 64] = d * Float(s[isc + 4]) * Float(q3)
                    out[l + 96] = d * Float(s[isc + 6]) * Float(q4)
                }
            }
        }
    }
}
