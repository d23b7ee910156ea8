// q5_0: llama.cpp's 5-bit block type, 32 weights in 22 bytes (5.5 bits per weight). Gemma 3's
// GGUFs use it where a row of 640 is no multiple of Q4_K's 256.
//   block (22 B): d    fp16       bytes 0-1   scale = (signed value of largest magnitude) / -16
//                 qh   uint32 LE  bytes 2-5   bit j = bit 4 of q[j]
//                 qs   16 bytes   bytes 6-21  byte j: low nibble = q[j] & 15, high = q[j+16] & 15
//   weight j = d · (q[j] − 16), q in 0...31
import Foundation

public enum Q5_0 {
    public static let blockSize = 32, blockBytes = 22

    /// `quantize_row_q5_0_ref`: byte for byte (truncating `(int8_t)(x + 16.5f)`, as in the C).
    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        for b in 0..<n / blockSize {
            let xb = x + b * blockSize, yb = y + b * blockBytes
            var amax: Float = 0, mx: Float = 0
            for j in 0..<blockSize where amax < abs(xb[j]) { amax = abs(xb[j]); mx = xb[j] }
            let d = mx / -16
            let id: Float = d != 0 ? 1 / d : 0
            storeU16(fp16Bits(d), yb, 0)
            let qs = (yb + 6).assumingMemoryBound(to: UInt8.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = UInt32(min(31, Int(xb[j] * id + 16.5))), q1 = UInt32(min(31, Int(xb[j + 16] * id + 16.5)))
                qs[j] = UInt8(q0 & 15) | UInt8(q1 & 15) << 4
                qh |= (q0 >> 4) << j
                qh |= (q1 >> 4) << (j + 16)
            }
            yb.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0))
            let qh = UInt32(littleEndian: yb.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let qs = (yb + 6).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let h0 = Int32((qh >> j) & 1) << 4, h1 = Int32((qh >> (j + 16)) & 1) << 4
                xb[j] = Float((Int32(qs[j] & 15) | h0) - 16) * d
                xb[j + 16] = Float((Int32(qs[j] >> 4) | h1) - 16) * d
            }
        }
    }
}
