// iq4_nl: llama.cpp's 4-bit non-linear type, 32 weights in 18 bytes (4.5 bits per weight): q4_0's
// layout, but each 4-bit code indexes a fixed table of 16 levels, denser near zero where weights are.
//   block (18 B): d    fp16       bytes 0-1   scale
//                 qs   16 bytes   bytes 2-17  byte j: low nibble = code of element j, high = of j+16
//   weight j = d · values[code j], values = −127 −104 −83 −65 −49 −35 −22 −10 1 13 25 38 53 69 89 113
// The quantizer is `quantize_iq4_nl` without an importance matrix (what `llama-quantize` runs; note
// that ggml's `quantize_row_iq4_nl_ref` searches fewer scales and gives other blocks): per block,
// the scale of least x²-weighted error among 15 candidates, each value taking the nearest level.
import Foundation

public enum IQ4_NL {
    public static let blockSize = 32, blockBytes = 18
    static let values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    public static func quantizeRow(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutableRawPointer) {
        var L = [UInt8](repeating: 0, count: 32)
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes
            quantizeSuperBlock(x + b * blockSize, size: 32, d: yb, codes: yb + 2, scales: nil, &L)
        }
    }

    /// `quantize_row_iq4_nl_impl` with `ntry` 7 and no importance weights, for a super-block of
    /// `size` values (32 for iq4_nl, 256 for iq4_xs) in sub-blocks of 32. With sub-blocks, their
    /// scales are quantized to 6 bits under `d` and written to `scales` (iq4_xs: 2 bytes of high
    /// bits, then 4 bytes of low nibbles). `L` holds `size` codes.
    static func quantizeSuperBlock(_ x: UnsafePointer<Float>, size: Int, d dh: UnsafeMutableRawPointer, codes q4: UnsafeMutableRawPointer,
                                   scales scalesOut: UnsafeMutableRawPointer?, _ L: inout [UInt8]) {
        let ntry = 7, nb = size / 32
        q4.initializeMemory(as: UInt8.self, repeating: 0, count: size / 2)
        storeU16(fp16Bits(0), dh, 0)
        var scales = [Float](repeating: 0, count: nb), weight = [Float](repeating: 0, count: 32)
        var maxScale: Float = 0, amaxScale: Float = 0
        let v0 = Float(values[0])
        for ib in 0..<nb {
            let xb = x + 32 * ib
            for j in 0..<32 { weight[j] = xb[j] * xb[j] }
            var amax: Float = 0, mx: Float = 0
            for j in 0..<32 where abs(xb[j]) > amax { amax = abs(xb[j]); mx = xb[j] }
            if amax < 1e-15 {
                scales[ib] = 0
                continue
            }
            var d = -mx / v0
            var id = 1 / d
            var sumqx: Float = 0, sumq2: Float = 0
            for j in 0..<32 {
                let l = KQuants.bestIndex(values, id * xb[j])
                L[32 * ib + j] = UInt8(l)
                let q = Float(values[l]), w = weight[j]
                sumqx += w * q * xb[j]
                sumq2 += w * q * q
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0
            var best = d * sumqx
            for itry in -ntry...ntry {
                id = Float(itry + Int(values[0])) / mx
                sumqx = 0; sumq2 = 0
                for j in 0..<32 {
                    let q = Float(values[KQuants.bestIndex(values, id * xb[j])]), w = weight[j]
                    sumqx += w * q * xb[j]
                    sumq2 += w * q * q
                }
                if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
                    d = sumqx / sumq2; best = d * sumqx
                }
            }
            scales[ib] = d
            if abs(d) > amaxScale { amaxScale = abs(d); maxScale = d }
        }
        if nb > 1, let scalesOut {
            let scalesH = scalesOut, scalesL = (scalesOut + 2).assumingMemoryBound(to: UInt8.self)
            var high: UInt16 = 0
            let d = -maxScale / 32
            storeU16(fp16Bits(d), dh, 0)
            let id: Float = d != 0 ? 1 / d : 0
            for ib in 0..<nb {
                var l = max(-32, min(31, nearestInt(id * scales[ib])))
                let dl = d * Float(l)
                let idl: Float = dl != 0 ? 1 / dl : 0
                for j in 0..<32 { L[32 * ib + j] = UInt8(KQuants.bestIndex(values, idl * x[32 * ib + j])) }
                l += 32
                let lLow = UInt8(l & 0xF), lHigh = UInt16(l >> 4)
                if ib % 2 == 0 { scalesL[ib / 2] = lLow } else { scalesL[ib / 2] |= lLow << 4 }
                high |= lHigh << (2 * (ib % 8))
            }
            storeU16(high, scalesH, 0)
        } else {
            storeU16(fp16Bits(scales[0]), dh, 0)
            let id: Float = scales[0] != 0 ? 1 / scales[0] : 0
            for j in 0..<size { L[j] = UInt8(KQuants.bestIndex(values, id * x[j])) }
        }
        let q = q4.assumingMemoryBound(to: UInt8.self)
        for i in 0..<size / 32 {
            for j in 0..<16 { q[16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4) }
        }
    }

    public static func dequantizeRow(_ y: UnsafeRawPointer, count n: Int, into x: UnsafeMutablePointer<Float>) {
        for b in 0..<n / blockSize {
            let yb = y + b * blockBytes, xb = x + b * blockSize
            let d = fp16Value(loadU16(yb, 0))
            let qs = (yb + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                xb[j] = d * Float(values[Int(qs[j] & 0xF)])
                xb[j + 16] = d * Float(values[Int(qs[j] >> 4)])
            }
        }
    }
}
