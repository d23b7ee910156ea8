// q8_0: llama.cpp's 8-bit block type, 32 weights in 34 bytes (8.5 bits per weight).
//   block (34 B): d    fp16   bytes 0-1   scale = absmax / 127
//                 qs   int8   bytes 2-33  q[j] = roundf(x[j] / d), weight = d · q[j]
// The same layout carries activations for the q4_0 / q5_0 / q8_0 dot products (Kernels/).
import Foundation

public enum Q8_0 {
    public static let blockSize = 32, blockBytes = 34

    /// `quantize_row_q8_0_ref`: byte for byte. `roundf` rounds half away from zero, which is
    /// Swift's default `rounded()`; the scale is computed in fp32 and stored rounded to fp16.
    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var amax: Float = 0
            for j in 0..<blockSize { amax = max(amax, abs(xb[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            storeU16(fp16Bits(d), yb, 0)
            let qs = (yb + 2).assumingMemoryBound(to: Int8.self)
            // |x/d| ≤ 127: nearestInt of the rounded value is exact, and unlike Int8(_:) it does not
            // trap, which lets the loop be vectorized.
            for j in 0..<blockSize { qs[j] = Int8(truncatingIfNeeded: nearestInt((xb[j] * id).rounded())) }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0))
            let qs = (yb + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<blockSize { xb[j] = Float(qs[j]) * d }
        }
    }
}
