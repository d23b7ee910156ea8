// q4_1: llama.cpp's 4-bit block type with a minimum, 32 weights in 20 bytes (5 bits per weight).
//   block (20 B): d    fp16       bytes 0-1   scale = (max − min) / 15
//                 m    fp16       bytes 2-3   the block's minimum
//                 qs   16 bytes   bytes 4-19  byte j: low nibble = q[j], high nibble = q[j+16]
//   weight j = d · q[j] + m, q in 0...15
// Unlike q4_0 the range is the block's own [min, max], so a block of one sign loses no step.
import Foundation

public enum Q4_1 {
    public static let blockSize = 32, blockBytes = 20

    /// `quantize_row_q4_1_ref` (what `quantize_q4_1` runs without an importance matrix): byte for
    /// byte, with its truncating `(int8_t)(x + 0.5f)` and the minimum taken in fp32, stored in fp16.
    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<blockSize {
                if xb[j] < lo { lo = xb[j] }
                if xb[j] > hi { hi = xb[j] }
            }
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            storeU16(fp16Bits(d), yb, 0)
            storeU16(fp16Bits(lo), yb, 2)
            let qs = (yb + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let q0 = min(15, Int32(Int8(truncatingIfNeeded: cTruncate((xb[j] - lo) * id + 0.5))))
                let q1 = min(15, Int32(Int8(truncatingIfNeeded: cTruncate((xb[j + 16] - lo) * id + 0.5))))
                qs[j] = UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0)), m = fp16Value(loadU16(yb, 2))
            let qs = (yb + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                xb[j] = Float(qs[j] & 15) * d + m
                xb[j + 16] = Float(qs[j] >> 4) * d + m
            }
        }
    }
}
