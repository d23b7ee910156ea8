// The F32 matrix kernels (one activation row; blocks of 4 outputs × 4 rows for prompts, with
// remainders of both) against a plain double-precision dot product, and the AVX2 CPUs' C tiles
// (f32.c) and their plain twin against Swift's block4x4, bit for bit.
import GGMLSIMD
import Testing
@testable import InferenceCore

@Suite struct F32LinearTests {
    @Test(arguments: [(4, 16, 4), (37, 70, 9), (64, 64, 5), (20, 257, 6), (3, 33, 7), (16, 48, 1)])
    func matchesPlainDotProducts(shape: (Int, Int, Int)) {
        let (out, inF, rows) = shape
        var g = SeededRandom(seed: UInt64(out * 1000 + inF))
        let w = (0..<out * inF).map { _ in g.nextUnitFloat() * 2 - 1 }
        let x = (0..<rows * inF).map { _ in g.nextUnitFloat() * 2 - 1 }
        let lin = F32Linear(values: w, out: out, in: inF)
        for threads in [1, 2] {
            var y = [Float](repeating: .nan, count: rows * out)
            lin.forward(x, rows: rows, into: &y, pool: ThreadPool(threads: threads))
            for r in 0..<rows {
                for o in 0..<out {
                    let ref = w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { xp in
                        F32Linear.referenceDot(wp.baseAddress! + o * inF, xp.baseAddress! + r * inF, inF) } }
                    #expect(abs(y[r * out + o] - ref) <= 1e-5 * Float(inF).squareRoot(), "[\(r), \(o)] of \(shape), \(threads) threads")
                }
            }
        }
    }

    /// f32.c's 4-row product gives block4x4's bits: its AVX2 version (compiled wherever AVX2 is, so
    /// checked on AVX-512 machines too) and its plain twin, on widths with and without a tail past
    /// the 16-lane blocks and output counts that leave 1 or 2 rows after its 3-row tiles; and sizes past
    /// one of its blocks (1,024 values, 24 weight rows, 32 activation rows), where sums wait in memory.
    @Test(arguments: [(4, 16, 4), (8, 70, 8), (5, 64, 4), (12, 257, 12), (7, 33, 6), (6, 768, 4), (1, 15, 5),
                      (26, 2100, 38), (19, 3072, 8)])
    func cTilesAreBlock4x4BitForBit(shape: (Int, Int, Int)) {
        let (out, n, rows) = shape, full = rows & ~3
        var g = SeededRandom(seed: UInt64(out * 7919 + n))
        let w = (0..<out * n).map { _ in g.nextUnitFloat() * 2 - 1 }
        let x = (0..<rows * n).map { _ in g.nextUnitFloat() * 2 - 1 }
        var swift = [Float](repeating: .nan, count: rows * out)
        w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { xp in swift.withUnsafeMutableBufferPointer { yp in
            for r in stride(from: 0, to: full, by: 4) {
                let xr = xp.baseAddress! + r * n
                for o in stride(from: 0, to: out & ~3, by: 4) { F32Linear.block4x4(wp.baseAddress! + o * n, xr, n, yp.baseAddress! + r * out + o, out) }
                for o in (out & ~3)..<out {
                    // block4x4's arithmetic for the outputs past its 4-wide blocks, from a padded copy
                    var w4 = [Float](repeating: 0, count: 4 * n), y4 = [Float](repeating: 0, count: 16)
                    for i in 0..<n { w4[i] = wp[o * n + i] }
                    w4.withUnsafeBufferPointer { F32Linear.block4x4($0.baseAddress!, xr, n, &y4, 4) }
                    for k in 0..<4 { yp[(r + k) * out + o] = y4[k * 4] }
                }
            }
        } } }
        for (name, kernel) in [("AVX2", ggml_avx2_f32_rows4), ("plain", ggml_plain_f32_rows4)] {
            var y = [Float](repeating: .nan, count: rows * out)
            kernel(w, out, n, x, rows, &y, out)
            let differ = (0..<full * out).filter { y[$0].bitPattern != swift[$0].bitPattern }
            #expect(differ.isEmpty, "\(name) \(shape): \(differ.count) of \(full * out) outputs are not block4x4's bits")
            #expect((full * out..<rows * out).allSatisfy { y[$0].isNaN }, "\(name) \(shape): rows past the last group of 4 written")
        }
    }
}
