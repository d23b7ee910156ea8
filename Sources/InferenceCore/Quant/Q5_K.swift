// q5_K: llama.cpp's 5-bit "K" type. A super-block of 256 weights in 176 bytes (5.5 bits per weight):
// q4_K's 8 sub-blocks of 32 with 6-bit scales and minimums, plus a fifth bit per weight.
//   block (176 B): d       fp16        bytes 0-1     factor of the sub-block scales
//                  dmin    fp16        bytes 2-3     factor of the sub-block minimums
//                  scales  12 bytes    bytes 4-15    8 × (6-bit scale, 6-bit min), packed as q4_K's
//                  qh      32 bytes    bytes 16-47   byte l, bit 2c: fifth bit of element 64c + l;
//                                                    bit 2c+1: of element 64c + 32 + l
//                  qs      128 bytes   bytes 48-175  4 chunks of 32 bytes as q4_K's: chunk c holds
//                                                    sub-block 2c low, 2c+1 high
//   weight = d·sc · q − dmin·m, q in 0...31
// The quantizer is `quantize_row_q5_K_ref`: q4_K's search (KQuants.scalesAndMins) on 0...31 with
// 16 candidate scales.
import Foundation

public enum Q5_K {
    public static let blockSize = 256, blockBytes = 176

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [UInt8](repeating: 0, count: 256)
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            KQuants.scalesAndMins(xb, nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15, into: yb, &L)
            let qh = (yb + 16).assumingMemoryBound(to: UInt8.self), ql = (yb + 48).assumingMemoryBound(to: UInt8.self)
            qh.initialize(repeating: 0, count: 32)
            for c in 0..<4 {
                let m1 = UInt8(1) << (2 * c), m2 = UInt8(2) << (2 * c)
                for j in 0..<32 {
                    var l1 = L[64 * c + j], l2 = L[64 * c + j + 32]
                    if l1 > 15 { l1 -= 16; qh[j] |= m1 }
                    if l2 > 15 { l2 -= 16; qh[j] |= m2 }
                    ql[32 * c + j] = l1 | (l2 << 4)
                }
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0)), dmin = fp16Value(loadU16(yb, 2))
            let s = (yb + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (yb + 16).assumingMemoryBound(to: UInt8.self), ql = (yb + 48).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                let (sc1, m1) = KQuants.scaleMin(2 * c, s), (sc2, m2) = KQuants.scaleMin(2 * c + 1, s)
                let d1 = d * Float(sc1), dm1 = dmin * Float(m1)
                let d2 = d * Float(sc2), dm2 = dmin * Float(m2)
                let u1 = UInt8(1) << (2 * c), u2 = UInt8(2) << (2 * c)
                for l in 0..<32 {
                    let q1 = (ql[32 * c + l] & 0xF) + (qh[l] & u1 != 0 ? 16 : 0)
                    let q2 = (ql[32 * c + l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)
                    xb[64 * c + l] = d1 * Float(q1) - dm1
                    xb[64 * c + 32 + l] = d2 * Float(q2) - dm2
                }
            }
        }
    }
}
