// q5_1: llama.cpp's 5-bit block type with a minimum, 32 weights in 24 bytes (6 bits per weight).
//   block (24 B): d    fp16       bytes 0-1   scale = (max − min) / 31
//                 m    fp16       bytes 2-3   the block's minimum
//                 qh   uint32 LE  bytes 4-7   bit j = bit 4 of q[j]
//                 qs   16 bytes   bytes 8-23  byte j: low nibble = q[j] & 15, high = q[j+16] & 15
//   weight j = d · q[j] + m, q in 0...31
// Gemma-style rows that Q5_K's 256 does not divide fall back to it (llama.cpp's rule).
import Foundation

public enum Q5_1 {
    public static let blockSize = 32, blockBytes = 24

    /// `quantize_row_q5_1_ref`: byte for byte (truncating `(uint8_t)(x + 0.5f)`, no clamp, as in the C).
    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<blockSize {
                if xb[j] < lo { lo = xb[j] }
                if xb[j] > hi { hi = xb[j] }
            }
            let d = (hi - lo) / 31
            let id: Float = d != 0 ? 1 / d : 0
            storeU16(fp16Bits(d), yb, 0)
            storeU16(fp16Bits(lo), yb, 2)
            let qs = (yb + 8).assumingMemoryBound(to: UInt8.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = UInt32(UInt8(truncatingIfNeeded: cTruncate((xb[j] - lo) * id + 0.5)))
                let q1 = UInt32(UInt8(truncatingIfNeeded: cTruncate((xb[j + 16] - lo) * id + 0.5)))
                qs[j] = UInt8(q0 & 15) | UInt8(q1 & 15) << 4
                qh |= ((q0 & 0x10) >> 4) << j
                qh |= ((q1 & 0x10) >> 4) << (j + 16)
            }
            yb.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0)), m = fp16Value(loadU16(yb, 2))
            let qh = UInt32(littleEndian: yb.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let qs = (yb + 8).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let h0 = UInt8((qh >> j) & 1) << 4, h1 = UInt8((qh >> (j + 16)) & 1) << 4
                xb[j] = Float(qs[j] & 15 | h0) * d + m
                xb[j + 16] = Float(qs[j] >> 4 | h1) * d + m
            }
        }
    }
}
