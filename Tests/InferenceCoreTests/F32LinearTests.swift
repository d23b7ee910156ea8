// The F32 matrix kernels (one activation row; blocks of 4 outputs × 4 rows for prompts, with
// remainders of both) against a plain double-precision dot product.
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
}
