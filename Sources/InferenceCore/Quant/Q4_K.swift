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
    static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (sc: UInt8, m: UInt8) { KQuants.scaleMin(j, s) }

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [UInt8](repeating: 0, count: 256)
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            KQuants.scalesAndMins(xb, nmax: 15, rmin: -1, rdelta: 0.1, nstep: 20, into: yb, &L)
            let q = (yb + 16).assumingMemoryBound(to: UInt8.self)
            for c in 0..<4 {
                for l in 0..<32 { q[32 * c + l] = L[64 * c + l] | (L[64 * c + l + 32] << 4) }
            }
        }
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
