// iq4_xs: iq4_nl's 16 non-linear levels in super-blocks of 256 (4.25 bits per weight): the eight
// sub-blocks of 32 have 6-bit scales under one fp16 factor instead of an fp16 scale each.
//   block (136 B): d         fp16         bytes 0-1    factor of the sub-block scales
//                  scales_h  uint16 LE    bytes 2-3    bits 2ib..2ib+1: high 2 bits of scale ib
//                  scales_l  4 bytes      bytes 4-7    byte ib/2, nibble ib%2: low 4 bits of scale ib
//                  qs        128 bytes    bytes 8-135  sub-block ib in bytes 16ib..16ib+15, as iq4_nl's
//   weight = d · (scale − 32) · values[code], values as in IQ4_NL.swift
// The quantizer is `quantize_iq4_xs` without an importance matrix (= `quantize_row_iq4_xs_ref`).
import Foundation

public enum IQ4_XS {
    public static let blockSize = 256, blockBytes = 136

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [UInt8](repeating: 0, count: 256)
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes
            IQ4_NL.quantizeSuperBlock(x + b * blockSize, size: 256, d: yb, codes: yb + 8, scales: yb + 2, &L)
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        let values = IQ4_NL.values
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0)), high = loadU16(yb, 2)
            let low = (yb + 4).assumingMemoryBound(to: UInt8.self), qs = (yb + 8).assumingMemoryBound(to: UInt8.self)
            for ib in 0..<8 {
                let ls = Int32((low[ib / 2] >> (4 * (ib % 2))) & 0xF) | Int32((high >> (2 * ib)) & 3) << 4
                let dl = d * Float(ls - 32)
                for j in 0..<16 {
                    xb[32 * ib + j] = dl * Float(values[Int(qs[16 * ib + j] & 0xF)])
                    xb[32 * ib + j + 16] = dl * Float(values[Int(qs[16 * ib + j] >> 4)])
                }
            }
        }
    }
}
