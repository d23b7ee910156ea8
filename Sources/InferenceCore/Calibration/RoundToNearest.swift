// Round-to-nearest (`rtn`): the GPTQ quantizer without GPTQ — each group of consecutive input
// columns gets its scale and zero from its own least and greatest values (`find_params`, the same
// rules as GPTQ.swift) and every weight is rounded to its nearest code, no error feedback, no
// calibration. The baseline that shows what GPTQ's and AWQ's calibration buy on the same grid (the
// reference's `--nearest`, per group).
import Foundation

public enum RoundToNearest {
    public static func quantize(_ rows: WeightRows, config c: GPTQConfiguration, layer: String) throws -> GroupQuantizedWeight {
        let out = rows.out, n = rows.inFeatures
        try c.validate(inFeatures: n, layer: layer)
        let gs = c.groupSize == -1 ? n : c.groupSize, groups = (n + gs - 1) / gs
        let maxq = Float(c.maxq)
        var codes = [UInt8](repeating: 0, count: out * n)
        var scales = [Float](repeating: 0, count: groups * out), zeros = [Float](repeating: 0, count: groups * out)
        try rows.forEachChunk { range, x in
            for (k, o) in range.enumerated() {
                let row = x + k * n
                for g in 0..<groups {
                    var lo: Float = 0, hi: Float = 0
                    for i in (g * gs)..<min(n, g * gs + gs) {
                        guard row[i].isFinite else {
                            throw CoreError.invalid("\(layer): weight value at row \(o), column \(i) is \(row[i]); cannot quantize non-finite values")
                        }
                        lo = min(lo, row[i]); hi = max(hi, row[i])
                    }
                    let (s, z) = GPTQ.parameters(min: lo, max: hi, config: c)
                    scales[g * out + o] = s; zeros[g * out + o] = z
                    for i in (g * gs)..<min(n, g * gs + gs) { codes[o * n + i] = UInt8(GPTQ.code(row[i], scale: s, zero: z, maxq: maxq)) }
                }
            }
        }
        return GroupQuantizedWeight(out: out, inFeatures: n, bits: c.bits, groupSize: c.groupSize, codes: codes,
                                    scales: scales, zeros: zeros, gIdx: (0..<n).map { Int32($0 / gs) })
    }
}
