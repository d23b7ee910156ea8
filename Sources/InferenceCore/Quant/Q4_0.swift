// q4_0: llama.cpp's 4-bit block type, 32 weights in 18 bytes (4.5 bits per weight).
//   block (18 B): d    fp16       bytes 0-1   scale = (signed value of largest magnitude) / -8
//                 qs   16 bytes   bytes 2-17  byte j: low nibble = q[j], high nibble = q[j+16]
//   weight j = d · (q[j] − 8), q in 0...15
// The scale takes the sign of the extreme value so that value lands exactly on −8·d, the end of
// the asymmetric range [−8, 7] that has one more step.
import Foundation

public enum Q4_0 {
    public static let blockSize = 32, blockBytes = 18

    /// `quantize_row_q4_0_ref`: byte for byte. Note the truncating `(int8_t)(x + 8.5f)`: not roundf.
    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var amax: Float = 0, mx: Float = 0
            for j in 0..<blockSize where amax < abs(xb[j]) { amax = abs(xb[j]); mx = xb[j] }
            let d = mx / -8
            let id: Float = d != 0 ? 1 / d : 0
            storeU16(fp16Bits(d), yb, 0)
            let qs = (yb + 2).assumingMemoryBound(to: UInt8.self)
            // Truncation as the (int8_t) cast, through nearestInt of a whole number: no trapping
            // conversion, so the loop can be vectorized.
            for j in 0..<16 {
                let q0 = min(15, nearestInt((xb[j] * id + 8.5).rounded(.towardZero)))
                let q1 = min(15, nearestInt((xb[j + 16] * id + 8.5).rounded(.towardZero)))
                qs[j] = UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4
            }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0))
            let qs = (yb + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                xb[j] = Float(Int32(qs[j] & 15) - 8) * d
                xb[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
            }
        }
    }
}
