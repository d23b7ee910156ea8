import Foundation
import Testing
@testable import InferenceCore
import GGMLSIMD

@Suite struct HalfPrecisionTests {
    /// fp16 rounding: ties go to the even neighbour, overflow to infinity (IEEE 754 binary16).
    @Test func fp16RoundsToNearestEven() {
        let cases: [(Float, UInt16)] = [
            (1, 0x3C00),
            (1 + 0x1p-11, 0x3C00),            // halfway between 1 and 1+2^-10: even is 1
            (1 + 3 * 0x1p-11, 0x3C02),        // halfway between 1+2^-10 and 1+2^-9: even is the latter
            (1 + 0x1p-11 + 0x1p-20, 0x3C01),  // just above halfway
            (65504, 0x7BFF), (65519, 0x7BFF), (65520, 0x7C00), (-70000, 0xFC00),
            (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1.8p-25, 0x0001),  // subnormals
        ]
        let lin = F16Linear(values: cases.map(\.0), out: 1, in: cases.count)
        #expect(lin.storedRow(0).map(\.bitPattern) == cases.map(\.1))
    }

    @Test func bf16RoundsToNearestEven() {
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_0000, 0x3F80), (0x3F80_8000, 0x3F80), (0x3F81_8000, 0x3F82), (0x3F80_8001, 0x3F81),
            (0x3F80_7FFF, 0x3F80), (0x7F7F_FFFF, 0x7F80) /* rounds up to infinity */, (0xBF80_8000, 0xBF80),
            (0x0000_0001, 0x0000), (0x7F80_0000, 0x7F80),
        ]
        let lin = BF16Linear(values: cases.map { Float(bitPattern: $0.0) }, out: 1, in: cases.count)
        #expect(lin.storedRow(0) == cases.map(\.1))
        #expect(BF16Linear.widen(BF16Linear.round(.nan)).isNaN)
    }

    /// Rounding error within half a unit in the last place, on random data of all magnitudes.
    @Test func roundingErrorBounds() {
        var g = BnbSeededRandom(7)
        let v = (0..<4096).map { _ in Float.random(in: -1...1, using: &g) * Float(sign: .plus, exponent: Int.random(in: -14...15, using: &g), significand: 1) }
        let h = F16Linear(values: v, out: 64, in: 64).dequantized()
        let b = BF16Linear(values: v, out: 64, in: 64).dequantized()
        for i in 0..<v.count {
            #expect(abs(h[i] - v[i]) <= max(abs(v[i]) * 0x1p-11, 0x1p-25) * 1.0001)   // fp16 subnormals: half of 2^-24
            #expect(abs(b[i] - v[i]) <= abs(v[i]) * 0x1p-8 * 1.0001)
        }
    }

    /// Decode (one row) and prefill (4 × 6 tiles in C, the AVX2 4 × 3 ones, the plain C twins) on shapes that are not
    /// multiples of the 8-, 16- or 32-value steps or of the tiles, and a prompt's 64 rows.
    @Test(arguments: [(1, 1, 1), (3, 15, 2), (17, 16, 1), (8, 33, 3), (5, 100, 2), (64, 257, 1), (4, 768, 2),
                      (19, 100, 6), (37, 96, 9), (16, 64, 4), (21, 47, 5), (70, 200, 13), (12, 96, 3), (10, 65, 64)])
    func kernelsMatchReference(out: Int, in inF: Int, rows: Int) {
        var g = BnbSeededRandom(UInt64(out * 1000 + inF))
        let w = g.normals(out * inF, scale: 0.5), x = g.normals(rows * inF)
        let pool = ThreadPool(threads: 2)
        let h = F16Linear(values: w, out: out, in: inF), b = BF16Linear(values: w, out: out, in: inF)
        var yh = [Float](repeating: 0, count: rows * out), yb = yh
        h.forward(x, rows: rows, into: &yh, pool: pool)
        b.forward(x, rows: rows, into: &yb, pool: pool)
        // the plain C twin of the fp16 tile kernel (the fallback elsewhere)
        var yp = yh
        let halves = (0..<out).flatMap { h.storedRow($0) }.map(\.bitPattern)
        ggml_plain_f16_matmul(halves, out, inF, x, rows, &yp, out)
        var ybp = yb
        var stored = [UInt16](repeating: 0, count: out * inF)   // bf16 rows in BF16Linear's pair order
        for o in 0..<out { for (i, v) in b.storedRow(o).enumerated() { stored[o * inF + BF16Linear.slot(i, inF)] = v } }
        ggml_plain_bf16_matmul(stored, out, inF, x, rows, &ybp, out)
        // the AVX2 tiles (what runs without AVX-512; the plain twins where the compiler targets no AVX2)
        var ya = yh, yba = yb
        ggml_avx2_f16_matmul(halves, out, inF, x, rows, &ya, out)
        ggml_avx2_bf16_matmul(stored, out, inF, x, rows, &yba, out)
        x.withUnsafeBufferPointer { xp in
            for r in 0..<rows { for o in 0..<out {
                let rh = h.referenceDot(row: o, xp.baseAddress! + r * inF)
                #expect(abs(yp[r * out + o] - rh) <= 1e-5 * max(1, Float(inF).squareRoot()))
                #expect(abs(ya[r * out + o] - rh) <= 1e-5 * max(1, Float(inF).squareRoot()))
                #expect(abs(yba[r * out + o] - b.referenceDot(row: o, xp.baseAddress! + r * inF)) <= 1e-5 * max(1, Float(inF).squareRoot()))
                #expect(abs(ybp[r * out + o] - b.referenceDot(row: o, xp.baseAddress! + r * inF)) <= 1e-5 * max(1, Float(inF).squareRoot()))
                let rb = b.referenceDot(row: o, xp.baseAddress! + r * inF)
                let scale = Float(inF).squareRoot()
                #expect(abs(yh[r * out + o] - rh) <= 1e-5 * max(1, scale))
                #expect(abs(yb[r * out + o] - rb) <= 1e-5 * max(1, scale))
            } }
        }
    }
}
