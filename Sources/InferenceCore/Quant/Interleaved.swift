// Eight rows of a weight in any ggml block type interleaved block by block: the in-memory
// layout exprun multiplies with when it quantizes a weight itself, or repacks a GGUF's own matrices
// into at load (GGMLLinear.fromFile; export and dequantizeRow translate back). Same bytes as 8
// plain rows, rearranged so one SIMD instruction serves all 8 rows (llama.cpp repacks q4_0 and q4_K
// for AVX2 machines the same way, to its block_q4_0x8 / block_q4_Kx8; this byte order is ours).
//
// Each field of the plain block is laid out for the 8 rows side by side, in units of 4 bytes (2
// for the fp16 scales): unit k of row r of a field at plain offset P, u bytes per unit, lands at
// 8·P + 8u·k + u·r of the group block. So:
//
//   q4_0 ×8 (144 B = 8 × 18)    d 8 × fp16 (0-15) · qs: 4 vectors of 32 B, vector v = bytes
//                               4v..4v+3 of each row's 16 nibble bytes, row r at 4r
//   q8_0 ×8 (272 B = 8 × 34)    d 8 × fp16 (0-15) · qs: 8 vectors of 32 B, the same way
//   q5_0 ×8 (176 B = 8 × 22)    d 8 × fp16 (0-15) · qh: 8 × 4 B (16-47) · qs: 4 vectors as q4_0's (48-175)
//   q4_K ×8 (1152 B = 8 × 144)  d 8 × fp16 (0-15) · dmin 8 × fp16 (16-31) · scales: 3 vectors of
//                               32 B (32-127) · qs: 32 vectors of 32 B (128-1151)
//   q6_K ×8 (1680 B = 8 × 210)  ql: 32 vectors (0-1023) · qh: 16 vectors (1024-1535) · scales: 4
//                               vectors (1536-1663) · d 8 × fp16 (1664-1679)
//   and the same rule for q4_1, q5_1, iq4_nl, q2_K, q3_K, q5_K and iq4_xs (their kernels' files in
//   Sources/GGMLSIMD give the offsets).
//
// Group g starts at byte 8g · rowBytes, where its first row would start plainly, so rows past the
// last whole group of 8 stay plain, where they are. A vector of nibbles, masked low, holds 4
// consecutive elements of each of the 8 rows (shifted, the 4 that pair with them 16 or 32 further
// on), to be multiplied with 4 activation bytes broadcast (GGMLSIMD.h, ggml_simd_*x8).
import Foundation

enum Interleaved {
    static let rows = 8

    /// Plain offsets of each field of the block; the last runs to the end of the block.
    static func fields(_ type: GGMLFormat) -> [Int]? {
        switch type {
        case .q4_0, .q8_0, .iq4_nl: [0, 2]       // d, qs
        case .q4_1: [0, 2, 4]                    // d, m, qs
        case .q5_0: [0, 2, 6]                    // d, qh, qs
        case .q5_1: [0, 2, 4, 8]                 // d, m, qh, qs
        case .q2_k: [0, 16, 80, 82]              // scales, qs, d, dmin
        case .q3_k: [0, 32, 96, 108]             // hmask, qs, scales, d
        case .q4_k: [0, 2, 4, 16]                // d, dmin, scales, qs
        case .q5_k: [0, 2, 4, 16, 48]            // d, dmin, scales, qh, qs
        case .q6_k: [0, 128, 192, 208]           // ql, qh, scales, d
        case .iq4_xs: [0, 2, 4, 8]               // d, scales_h, scales_l, qs
        default: nil
        }
    }

    /// Whether `type` is stored interleaved when quantized here (rows in groups of 8).
    static func applies(to type: GGMLFormat, out: Int) -> Bool { fields(type) != nil && out >= rows }

    /// Where byte `i` of row `r`'s plain block lives in the group block: map[type][r][i]. Built
    /// once per type (plainRow runs for every token's embedding lookup).
    private static let maps: [GGMLFormat: [[Int]]] = Dictionary(uniqueKeysWithValues: GGMLFormat.allCases.filter { fields($0) != nil }.map { type in
        let fields = fields(type)!, bb = type.blockBytes
        return (type, (0..<rows).map { r in (0..<bb).map { i in
            var f = fields.count - 1
            while fields[f] > i { f -= 1 }
            let start = fields[f], width = (f + 1 < fields.count ? fields[f + 1] : bb) - start
            let u = min(width, 4), k = (i - start) / u, j = (i - start) % u
            return rows * start + rows * u * k + u * r + j
        } })
    })

    /// Rearranges the 8 plain rows at `group` (8 × rowBytes bytes) into the interleaved layout, in place.
    static func interleave(_ group: UnsafeMutableRawPointer, type: GGMLFormat, rowBytes: Int) {
        let map = maps[type]!, bb = type.blockBytes
        let copy = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
        defer { copy.deallocate() }
        copy.copyMemory(from: group, byteCount: rows * rowBytes)
        // Through buffer pointers and wrapping index arithmetic: the checked Array lookups cost 3x.
        for r in 0..<rows {
            map[r].withUnsafeBufferPointer { m in
                for b in 0..<rowBytes / bb {
                    let dst = group + b &* rows &* bb, src = copy + (r &* rowBytes &+ b &* bb)
                    for i in 0..<bb { dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), toByteOffset: m[i], as: UInt8.self) }
                }
            }
        }
    }

    /// Row `r` (0..<8) of an interleaved group, in the plain layout, into `dst` (rowBytes bytes).
    static func plainRow(_ r: Int, of group: UnsafeRawPointer, type: GGMLFormat, rowBytes: Int, into dst: UnsafeMutableRawPointer) {
        let bb = type.blockBytes
        maps[type]![r].withUnsafeBufferPointer { map in
            for b in 0..<rowBytes / bb {
                let src = group + b &* rows &* bb, out = dst + b &* bb
                for i in 0..<bb { out.storeBytes(of: src.load(fromByteOffset: map[i], as: UInt8.self), toByteOffset: i, as: UInt8.self) }
            }
        }
    }
}
