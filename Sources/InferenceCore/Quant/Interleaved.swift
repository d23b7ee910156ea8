// Eight rows of a q4_0 weight interleaved block by block, the in-memory layout exprun multiplies
// with (files keep the plain layout: export and dequantizeRow translate). Same bytes as 8 plain
// rows, rearranged so one SIMD instruction serves all 8 rows (llama.cpp repacks q4_0 to its
// block_q4_0x8 on AVX2 machines for the same reason; this byte order is ours):
//
//   group block b of rows 8g ..< 8g+8 (144 B = 8 × 18):
//     d    8 × fp16     bytes 0-15     row r's scale at 2r
//     qs   4 × 32 B     bytes 16-143   vector v (bytes 16+32v ..< 48+32v): for r in 0..<8, the
//                                      row's nibble bytes 4v ..< 4v+4 at 4r ..< 4r+4
//   group g starts at byte 8g · rowBytes, the same place its first row would start plainly, so
//   rows past the last whole group stay plain, where they are.
//
// Byte j of a plain q4_0 block holds q[j] (low nibble) and q[j+16] (high): a 32-byte vector of
// the group then holds, masked low, elements 4v..4v+3 of all 8 rows, and shifted, elements
// 16+4v..16+4v+3: four broadcast activation bytes each (GGMLSIMD.h, ggml_simd_q4_0x8).
import Foundation

enum Interleaved {
    static let rows = 8

    /// Whether `type` is stored interleaved when quantized here (rows in groups of 8).
    static func applies(to type: GGMLFormat, out: Int) -> Bool { type == .q4_0 && out >= rows }

    /// Rearranges the 8 plain rows at `group` (8 × rowBytes bytes) into the interleaved layout, in place.
    static func interleave(_ group: UnsafeMutableRawPointer, rowBytes: Int) {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
        defer { copy.deallocate() }
        copy.copyMemory(from: group, byteCount: rows * rowBytes)
        for b in 0..<rowBytes / Q4_0.blockBytes {
            let dst = group + b * 144
            for r in 0..<rows {
                let src = copy + r * rowBytes + b * Q4_0.blockBytes
                (dst + 2 * r).copyMemory(from: src, byteCount: 2)
                for v in 0..<4 { (dst + 16 + 32 * v + 4 * r).copyMemory(from: src + 2 + 4 * v, byteCount: 4) }
            }
        }
    }

    /// Row `r` (0..<8) of an interleaved group, in the plain layout, into `dst` (rowBytes bytes).
    static func plainRow(_ r: Int, of group: UnsafeRawPointer, rowBytes: Int, into dst: UnsafeMutableRawPointer) {
        for b in 0..<rowBytes / Q4_0.blockBytes {
            let src = group + b * 144, out = dst + b * Q4_0.blockBytes
            out.copyMemory(from: src + 2 * r, byteCount: 2)
            for v in 0..<4 { (out + 2 + 4 * v).copyMemory(from: src + 16 + 32 * v + 4 * r, byteCount: 4) }
        }
    }
}
