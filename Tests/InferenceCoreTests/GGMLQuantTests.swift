// llama.cpp block types against llama.cpp itself: the oracles in Oracles/ggml-*.bin were written by
// llama.cpp's C quantizers and dequantizers (scripts/oracles/ggml-quants.py, cross-checked there
// with PyPI's gguf package). Kernels against their plain references on random shapes.
import Foundation
import Testing
@testable import InferenceCore
import GGMLSIMD

private let oracleDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles")

private struct OracleInput {
    let rows: Int, n: Int, x: [Float]
    static func load() throws -> OracleInput {
        let d = try Data(contentsOf: oracleDir.appendingPathComponent("ggml-input.bin"))
        let rows = Int(d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int32.self) })
        let n = Int(d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: Int32.self) })
        let x = d.withUnsafeBytes { p in (0..<rows * n).map { p.loadUnaligned(fromByteOffset: 8 + 4 * $0, as: Float.self) } }
        return OracleInput(rows: rows, n: n, x: x)
    }
}

/// llama.cpp's blocks for the input rows and its dequantized values.
private func oracle(_ f: GGMLFormat, _ input: OracleInput) throws -> (blocks: [UInt8], values: [Float]) {
    let d = try Data(contentsOf: oracleDir.appendingPathComponent("ggml-\(f.rawValue).bin"))
    let nBlocks = input.rows * f.rowBytes(input.n)
    #expect(d.count == nBlocks + 4 * input.rows * input.n)
    let blocks = [UInt8](d.prefix(nBlocks))
    let values = d.withUnsafeBytes { p in (0..<input.rows * input.n).map { p.loadUnaligned(fromByteOffset: nBlocks + 4 * $0, as: Float.self) } }
    return (blocks, values)
}

private func quantizeAll(_ f: GGMLFormat, _ x: [Float], rows: Int, n: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: rows * f.rowBytes(n))
    x.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBytes { o in
            for r in 0..<rows { GGMLLinear.quantizeRow(f, xp.baseAddress! + r * n, count: n, into: o.baseAddress! + r * f.rowBytes(n)) }
        }
    }
    return out
}

private func dequantizeAll(_ f: GGMLFormat, _ blocks: [UInt8], rows: Int, n: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * n)
    blocks.withUnsafeBytes { b in
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows { GGMLLinear.dequantize(f, b.baseAddress! + r * f.rowBytes(n), count: n, into: o.baseAddress! + r * n) }
        }
    }
    return out
}

/// Every type a weight can be stored in, but the plain float ones.
private let blockTypes = GGMLFormat.weightTypes.filter { $0 != .f32 && $0 != .f16 }

@Suite struct GGMLQuantTests {
    /// The same blocks as `llama-quantize` (no importance matrix) writes: for the K-types that
    /// means the same scale searches step by step.
    @Test(arguments: blockTypes)
    func quantizerIsByteIdenticalToLlamaCpp(_ f: GGMLFormat) throws {
        let input = try OracleInput.load()
        let (blocks, _) = try oracle(f, input)
        let ours = quantizeAll(f, input.x, rows: input.rows, n: input.n)
        let firstDiff = zip(ours, blocks).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDiff == nil, "\(f): first differing byte at \(firstDiff ?? -1) (row \((firstDiff ?? 0) / f.rowBytes(input.n)))")
    }

    @Test(arguments: blockTypes)
    func dequantizingLlamaCppBlocksGivesItsValuesExactly(_ f: GGMLFormat) throws {
        let input = try OracleInput.load()
        let (blocks, values) = try oracle(f, input)
        let ours = dequantizeAll(f, blocks, rows: input.rows, n: input.n)
        #expect(ours.map(\.bitPattern) == values.map(\.bitPattern))
    }

    /// The activation rows the kernels multiply with are llama.cpp's CPU backend's own
    /// (`quantize_row_q8_0` / `quantize_row_q8_K` from libggml-cpu): scales, values and sums.
    @Test(arguments: [32, 256])
    func activationQuantizersAreByteIdenticalToLlamaCpps(_ block: Int) throws {
        let input = try OracleInput.load()
        let name = block == 32 ? "q8_0" : "q8_k", blockBytes = block == 32 ? 34 : 292
        let d = [UInt8](try Data(contentsOf: oracleDir.appendingPathComponent("ggml-act-\(name).bin")))
        #expect(d.count == input.rows * input.n / block * blockBytes)
        // the x86 path and its plain Swift twin
        for plain in [false, true] {
        let a = input.x.withUnsafeBufferPointer {
            block == 32 ? QuantizedActivations.q8_0($0.baseAddress!, rows: input.rows, n: input.n, pool: nil, plain: plain)
                        : QuantizedActivations.q8_K($0.baseAddress!, rows: input.rows, n: input.n, pool: nil, plain: plain)
        }
        var theirs = [UInt8](), ours = [UInt8]()
        for b in 0..<input.rows * input.n / block {
            let blk = Array(d[b * blockBytes..<(b + 1) * blockBytes])
            let q = a.q[b * block..<(b + 1) * block].map { UInt8(bitPattern: $0) }
            if block == 32 {
                theirs += blk
                ours += withUnsafeBytes(of: fp16Bits(a.d[b]).littleEndian, Array.init) + q
                // Σq per block, which llama.cpp's q8_0 does not store: checked against its values
                #expect(a.sums[b] == blk[2...].reduce(Int32(0)) { $0 + Int32(Int8(bitPattern: $1)) })
            } else {
                theirs += blk
                let sums = a.sums[16 * b..<16 * (b + 1)].flatMap { withUnsafeBytes(of: Int16($0).littleEndian, Array.init) }
                ours += withUnsafeBytes(of: a.d[b].bitPattern.littleEndian, Array.init) + q + sums
            }
        }
        let firstDiff = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDiff == nil, "\(name)\(plain ? " (plain)" : ""): first differing byte at \(firstDiff ?? -1) (block \((firstDiff ?? 0) / blockBytes))")
        }
    }

    /// The x86 activation quantizers equal their Swift twins on the edge cases: an all-zero block, a
    /// NaN, +m and −m both present (q8_K takes the sign of the first), values at exact halves.
    @Test func activationQuantizersEqualTheirPlainTwinsOnEdgeCases() {
        var rng = GGMLTestRandom(seed: 11)
        let rows = 3, n = 512
        var x = (0..<rows * n).map { _ in rng.normal() }
        for i in 0..<256 { x[i] = 0 }                       // row 0: a zero q8_K block (and 8 zero q8_0 blocks)
        x[300] = .nan
        x[n + 5] = -4; x[n + 9] = 4                          // row 1: the first of ±4 is negative
        for i in 0..<n { x[2 * n + i] = Float(i % 64 - 32) / 2 }   // row 2: halves
        for quantize in [QuantizedActivations.q8_0, QuantizedActivations.q8_K] {
            let (fast, plain) = x.withUnsafeBufferPointer {
                (quantize($0.baseAddress!, rows, n, nil, false), quantize($0.baseAddress!, rows, n, nil, true))
            }
            #expect(fast.q == plain.q && fast.sums == plain.sums, "block \(fast.block)")
            #expect(fast.d.map(\.bitPattern) == plain.d.map(\.bitPattern), "block \(fast.block)")
        }
    }

    /// llama-quantize's `tensor_type_fallback` (src/llama-quant.cpp at the pinned llama.cpp):
    /// a 256-block type falls back to its 32-block partner where 256 does not divide the row, and
    /// to F16 where 32 does not either; a 32-block type goes to F16 directly.
    @Test func fallbackFollowsLlamaCpp() throws {
        let v640 = (0..<2 * 640).map { Float(sin(Double($0))) }
        let q4k = try GGMLLinear.quantize(v640, out: 2, in: 640, as: .q4_k)
        #expect(q4k.type == .q5_0 && q4k.format == "q5_0" && q4k.requested == .q4_k)
        #expect(q4k.note?.contains("640") == true)
        #expect(q4k.storedBytes == 2 * 640 / 32 * 22)
        for (asked, stored) in [(GGMLFormat.q6_k, GGMLFormat.q8_0), (.q5_k, .q5_1), (.q3_k, .q4_0), (.q2_k, .q4_0), (.iq4_xs, .iq4_nl)] {
            let w = try GGMLLinear.quantize(v640, out: 2, in: 640, as: asked)
            #expect(w.type == stored && w.requested == asked, "\(asked) on rows of 640")
        }
        let v72 = (0..<3 * 72).map { Float(cos(Double($0))) }
        for f in [GGMLFormat.q4_k, .q8_0, .q4_0, .q5_1, .iq4_nl, .iq4_xs] {
            let w = try GGMLLinear.quantize(v72, out: 3, in: 72, as: f)
            #expect(w.type == .f16 && w.storedBytes == 3 * 72 * 2 && w.note != nil)
            // f16 keeps every value to fp16 precision
            let back = w.dequantized()
            for i in 0..<v72.count { #expect(back[i] == Float(Float16(v72[i]))) }
        }
        let fits = try GGMLLinear.quantize(v640, out: 2, in: 640, as: .q8_0)
        #expect(fits.note == nil && fits.type == .q8_0)
        #expect(throws: CoreError.self) { try GGMLLinear.quantize([.nan] + Array(v72.dropFirst()), out: 3, in: 72, as: .q4_0) }
    }

    /// The vectorized scan for NaN and infinities finds what a plain scan finds: at every position
    /// of every length from 0 to 40 (five 8-lane vectors, and tails of 1-7 values after them), for
    /// NaN, +inf and -inf, with a later non-finite value that must not be the one reported; and
    /// nothing in finite values as large as Float allows (x·0 must stay 0 for them).
    @Test func nonFiniteValuesAreFoundWherever() {
        func scan(_ v: [Float]) -> Int? { v.withUnsafeBufferPointer { GGMLLinear.firstNonFinite($0.baseAddress!, count: $0.count) } }
        let huge = (0..<40).map { Float(sin(Double($0) + 0.5)) * ($0 % 3 == 0 ? Float.greatestFiniteMagnitude : 1e30) }
        for count in 0...40 {
            let finite = Array(huge.prefix(count)) + [.nan]   // a NaN just past the end is not in the values
            #expect(finite.withUnsafeBufferPointer { GGMLLinear.firstNonFinite($0.baseAddress!, count: count) } == nil, "count \(count)")
            for bad in [Float.nan, .infinity, -.infinity] {
                for at in 0..<count {
                    var v = Array(huge.prefix(count))
                    v[at] = bad
                    if at + 1 < count { v[count - 1] = .infinity }
                    let plain = v.firstIndex { !$0.isFinite }
                    #expect(plain == at && scan(v) == plain, "\(bad) at \(at) of \(count)")
                }
            }
        }
    }

    @Test func bytesFollowTheLayoutArithmetic() throws {
        let v = (0..<4 * 512).map { Float(sin(Double($0) * 0.37)) }
        for (f, bytesPer256) in [(GGMLFormat.q8_0, 8 * 34), (.q4_0, 8 * 18), (.q4_1, 8 * 20), (.q5_0, 8 * 22), (.q5_1, 8 * 24),
                                 (.q2_k, 84), (.q3_k, 110), (.q4_k, 144), (.q5_k, 176), (.q6_k, 210), (.iq4_nl, 8 * 18), (.iq4_xs, 136)] {
            let w = try Quantization.quantize(v, out: 4, in: 512, config: QuantizationConfig(method: f.name))
            #expect(w.storedBytes == 4 * 2 * bytesPer256)
            #expect(w.format == f.name)
        }
    }

    /// Fast kernels equal their plain references, on random shapes (rows 1...5, several widths).
    @Test(arguments: blockTypes + [.f16])
    func kernelMatchesReference(_ f: GGMLFormat) throws {
        var rng = GGMLTestRandom(seed: 42 &+ UInt64(f.ggmlTypeID))
        let pool = ThreadPool(threads: 2)
        // 4-row prefill kernels and the single-row remainder; fewer rows than a q4_0 group of 8,
        // whole groups, and groups with plain rows after them.
        for (rows, out) in [(1, 3), (4, 8), (5, 19), (11, 37), (1, 16)] {
            let block = max(f.blockSize, 32)
            let n = block * (1 + Int(rng.next() % 3))
            let wv = (0..<out * n).map { _ in rng.normal() * 0.05 }
            let x = (0..<rows * n).map { _ in rng.normal() }
            let w = try GGMLLinear.quantize(wv, out: out, in: n, as: f)
            var y = [Float](repeating: 0, count: rows * out)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { w.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, pool: pool) } }
            let ref = x.withUnsafeBufferPointer { GGMLMatmul.referenceForward(w, $0.baseAddress!, rows: rows) }
            for i in 0..<y.count { #expect(abs(y[i] - ref[i]) <= 1e-4 * max(1, abs(ref[i])), "\(f) [\(rows)×\(n)]·[\(out)×\(n)]ᵀ at \(i)") }
            // and the product is close to the unquantized one (the format's own error, loosely)
            let exact = (0..<rows * out).map { i -> Float in
                let r = i / out, o = i % out
                return (0..<n).reduce(Float(0)) { $0 + wv[o * n + $1] * x[r * n + $1] }
            }
            let scale = (exact.map { $0 * $0 }.reduce(0, +) / Float(exact.count)).squareRoot()
            let err = (zip(y, exact).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(exact.count)).squareRoot()
            // (an rms over a handful of outputs says little: only where there are a few dozen)
            // (2 and 3 bits per weight keep about a third / a sixth of a Gaussian row's rms as error)
            let bound: Float = f == .q2_k ? 0.45 : f == .q3_k ? 0.25 : 0.15
            if exact.count >= 32 { #expect(err < bound * scale, "\(f): relative rms error \(err / scale) [\(rows)×\(n)]·[\(out)×\(n)]ᵀ") }
        }
    }

    /// The plain C kernels (the fallback where the x86 path is not compiled in, see GGMLSIMD.h)
    /// equal the reference too; `kernelMatchesReference` covers whichever path `forward` runs.
    @Test(arguments: blockTypes)
    func plainCKernelsMatchReference(_ f: GGMLFormat) throws {
        var rng = GGMLTestRandom(seed: 7 &+ UInt64(f.ggmlTypeID))
        let block = f.blockSize, n = block * 3, rows = 4
        let w = try GGMLLinear.quantize((0..<n).map { _ in rng.normal() * 0.05 }, out: 1, in: n, as: f)
        let x = (0..<rows * n).map { _ in rng.normal() }
        let a = x.withUnsafeBufferPointer { block == 32 ? QuantizedActivations.q8_0($0.baseAddress!, rows: rows, n: n, pool: nil)
                                                        : QuantizedActivations.q8_K($0.baseAddress!, rows: rows, n: n, pool: nil) }
        let nb = Int32(a.blocksPerRow), groups = n / a.sumGroup
        a.q.withUnsafeBufferPointer { q in a.d.withUnsafeBufferPointer { d in a.sums.withUnsafeBufferPointer { s in
            let q = q.baseAddress!, d = d.baseAddress!, s = s.baseAddress!, wr = UnsafeRawPointer(w.blocks)
            var four = [Float](repeating: 0, count: 4)
            let kernels = GGMLMatmul.kernels(f, plain: true)
            if let (_, four4) = kernels { four4(wr, q, d, s, n, nb, &four) } else { ggml_plain_q8_0_x4(wr, q, d, n, nb, &four) }
            for r in 0..<rows {
                let row = GGMLDot.Row(q: q + r * n, d: d + r * Int(nb), sums: s + r * groups)
                let ref = GGMLDot.reference(f, wr, row, block: block, n: n)
                let one = kernels.map { $0.0(wr, row.q, row.d, row.sums, nb) } ?? ggml_plain_q8_0(wr, row.q, row.d, nb)
                #expect(abs(one - ref) <= 1e-4 * max(1, abs(ref)), "\(f) row \(r): \(one) vs \(ref)")
                #expect(abs(four[r] - ref) <= 1e-4 * max(1, abs(ref)), "\(f) x4 row \(r): \(four[r]) vs \(ref)")
            }
        } } }
        #expect(ggml_simd_vectorized() == 1 || !Self.isX86)
    }

    /// Weights quantized here are interleaved in groups of 8 rows (every block type); their
    /// rows in the file layout are still exactly llama.cpp's blocks, and the plain C group kernels
    /// (the fallback) equal the reference.
    @Test(arguments: blockTypes)
    func interleavedRowsKeepTheFileBytesAndThePlainGroupKernelsMatch(_ f: GGMLFormat) throws {
        var rng = GGMLTestRandom(seed: 99 &+ UInt64(f.ggmlTypeID))
        let n = f.blockSize * 3, out = 19, rows = 4
        let wv = (0..<out * n).map { _ in rng.normal() * 0.05 }
        let w = try GGMLLinear.quantize(wv, out: out, in: n, as: f)
        #expect(w.interleaved)
        var plain = [UInt8](repeating: 0, count: w.rowBytes), expected = plain
        for r in 0..<out {
            plain.withUnsafeMutableBytes { w.copyPlainRow(r, into: $0.baseAddress!) }
            wv.withUnsafeBufferPointer { v in expected.withUnsafeMutableBytes { GGMLLinear.quantizeRow(f, v.baseAddress! + r * n, count: n, into: $0.baseAddress!) } }
            #expect(plain == expected, "\(f) row \(r)")
        }
        let x = (0..<rows * n).map { _ in rng.normal() }
        let a = x.withUnsafeBufferPointer { f.blockSize == 256 ? QuantizedActivations.q8_K($0.baseAddress!, rows: rows, n: n, pool: nil)
                                                               : QuantizedActivations.q8_0($0.baseAddress!, rows: rows, n: n, pool: nil) }
        let ref = x.withUnsafeBufferPointer { GGMLMatmul.referenceForward(w, $0.baseAddress!, rows: rows) }
        let nb = a.blocksPerRow, sums = n / a.sumGroup
        let (eight, eight4) = GGMLMatmul.groupKernels(f, plain: true)
        a.q.withUnsafeBufferPointer { q in a.d.withUnsafeBufferPointer { d in a.sums.withUnsafeBufferPointer { s in
            let q = q.baseAddress!, d = d.baseAddress!, s = s.baseAddress!
            for g in 0..<out / 8 {
                let gw = UnsafeRawPointer(w.blocks + g * 8 * w.rowBytes)
                var one = [Float](repeating: 0, count: 8), four = [Float](repeating: 0, count: 32)
                eight4(gw, GGMLDot.Row(q: q, d: d, sums: s), n, Int32(nb), &four)
                for r in 0..<rows {
                    eight(gw, GGMLDot.Row(q: q + r * n, d: d + r * nb, sums: s + r * sums), Int32(nb), &one)
                    for k in 0..<8 {
                        let want = ref[r * out + 8 * g + k]
                        #expect(abs(one[k] - want) <= 1e-4 * max(1, abs(want)), "\(f) group \(g) row \(k), activations \(r)")
                        #expect(abs(four[8 * r + k] - want) <= 1e-4 * max(1, abs(want)), "\(f) x4 group \(g) row \(k), activations \(r)")
                    }
                }
            }
            if let all = GGMLMatmul.allRowsKernel(f, plain: true) {
                var y = [Float](repeating: 0, count: rows * out)
                all(w.blocks, Int32(out / 8), q, d, s, n, Int32(nb), Int32(rows), &y, out)
                for r in 0..<rows {
                    for o in 0..<out / 8 * 8 {
                        #expect(abs(y[r * out + o] - ref[r * out + o]) <= 1e-4 * max(1, abs(ref[r * out + o])), "\(f) all rows: row \(o), activations \(r)")
                    }
                }
            }
            // and the plain 16-row kernel (two groups) where the type has one
            if let wide = GGMLMatmul.wideKernel(f, plain: true) {
                var sixteen = [Float](repeating: 0, count: 64)
                wide(UnsafeRawPointer(w.blocks), 8 * w.rowBytes, GGMLDot.Row(q: q, d: d, sums: s), n, Int32(nb), &sixteen)
                for r in 0..<rows {
                    for k in 0..<16 {
                        let want = ref[r * out + k]
                        #expect(abs(sixteen[16 * r + k] - want) <= 1e-4 * max(1, abs(want)), "\(f) x16 row \(k), activations \(r)")
                    }
                }
            }
        } } }
    }

    /// The all-rows kernels at the edge of their integer range: every value of every row at the
    /// type's largest (all bits set), scales at theirs, activation bytes all +127 or all −127. Without
    /// VNNI the SIMD kernels add byte-product pair sums in Int16 before scaling them, as many as
    /// fit (ggml_simd_tile.h); one more would wrap, and the result would leave the plain twin's.
    @Test(arguments: [GGMLFormat.q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_xs])
    func allRowsKernelsAtTheirLargestValuesEqualThePlainOnes(_ f: GGMLFormat) throws {
        let n = 512, out = 16, rows = 9, bb = f.blockBytes, rb = n / 256 * bb
        // fp16 1.0 over the d (and dmin) fields of each plain block; every other byte 0xFF
        let halves: [Int] = switch f { case .q2_k: [80, 82]; case .q3_k: [108]; case .q6_k: [208]; case .iq4_xs: [0]; default: [0, 2] }
        let w = UnsafeMutableRawPointer.allocate(byteCount: out * rb, alignment: 64)
        defer { w.deallocate() }
        w.initializeMemory(as: UInt8.self, repeating: 0xFF, count: out * rb)
        for b in 0..<out * n / 256 {
            for h in halves { w.storeBytes(of: UInt16(0x3C00).littleEndian, toByteOffset: b * bb + h, as: UInt16.self) }
        }
        for g in 0..<out / 8 { Interleaved.interleave(w + g * 8 * rb, type: f, rowBytes: rb) }
        let q = (0..<rows * n).map { i -> Int8 in (i / n) % 2 == 0 ? 127 : -127 }
        let d = [Float](repeating: 1 / 127, count: rows * n / 256)
        let sums = (0..<rows * n / 16).map { i -> Int32 in (i / (n / 16)) % 2 == 0 ? 16 * 127 : -16 * 127 }
        var fast = [Float](repeating: 0, count: rows * out), plain = fast
        GGMLMatmul.allRowsKernel(f)!(w, Int32(out / 8), q, d, sums, n, Int32(n / 256), Int32(rows), &fast, out)
        GGMLMatmul.allRowsKernel(f, plain: true)!(w, Int32(out / 8), q, d, sums, n, Int32(n / 256), Int32(rows), &plain, out)
        #expect(plain.allSatisfy { $0.isFinite && $0 != 0 })
        for i in 0..<plain.count { #expect(abs(fast[i] - plain[i]) <= 1e-5 * max(1, abs(plain[i])), "\(f) output \(i % out), activations \(i / out): \(fast[i]) vs \(plain[i])") }
    }

    /// A GGUF's own rows repacked at load (as-stored): the same plain rows as the file, the same
    /// products as the mapped rows; the mapping is kept where asked or where no 8-row kernel exists.
    @Test(arguments: blockTypes)
    func repackingAFilesRowsKeepsTheirValues(_ f: GGMLFormat) throws {
        var rng = GGMLTestRandom(seed: 5 &+ UInt64(f.ggmlTypeID))
        let n = f.blockSize * 2, out = 21, rows = 5
        let plain = try GGMLLinear.quantize((0..<out * n).map { _ in rng.normal() * 0.05 }, out: out, in: n, as: f)
        let file = Storage(byteCount: 64 + plain.storedBytes)      // rows at an offset, as in a file
        for r in 0..<out { plain.copyPlainRow(r, into: file.base + 64 + r * plain.rowBytes) }
        let mapped = try GGMLLinear.fromFile(type: f, out: out, in: n, storage: file, byteOffset: 64, repack: false)
        let repacked = try GGMLLinear.fromFile(type: f, out: out, in: n, storage: file, byteOffset: 64, repack: true)
        #expect(!mapped.interleaved && repacked.interleaved)
        var a = [UInt8](repeating: 0, count: plain.rowBytes), b = a
        for r in 0..<out {
            a.withUnsafeMutableBytes { mapped.copyPlainRow(r, into: $0.baseAddress!) }
            b.withUnsafeMutableBytes { repacked.copyPlainRow(r, into: $0.baseAddress!) }
            #expect(a == b, "\(f) row \(r)")
        }
        let x = (0..<rows * n).map { _ in rng.normal() }
        let pool = ThreadPool(threads: 2)
        var y1 = [Float](repeating: 0, count: rows * out), y2 = y1
        x.withUnsafeBufferPointer { xp in
            y1.withUnsafeMutableBufferPointer { mapped.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, pool: pool) }
            y2.withUnsafeMutableBufferPointer { repacked.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, pool: pool) }
        }
        for i in 0..<y1.count { #expect(abs(y1[i] - y2[i]) <= 1e-4 * max(1, abs(y1[i])), "\(f) at \(i)") }
    }

    #if arch(x86_64)
    static let isX86 = true
    #else
    static let isX86 = false
    #endif
}

/// Small deterministic generator for test data.
struct GGMLTestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
