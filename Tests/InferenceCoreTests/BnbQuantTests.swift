import Foundation
import Testing
@testable import InferenceCore

/// bitsandbytes formats against bitsandbytes 0.50.2's own output for one real weight
/// (`reference-bnb.safetensors`: transformer.h.0.mlp.c_fc.weight as a Linear weight [256, 64],
/// cast to fp16 before quantization), plus error bounds and kernel-versus-reference checks.
@Suite struct BnbQuantTests {
    static let oracle = Result { try BnbOracle.file("reference-bnb.safetensors") }

    /// The fixture's input: the F32 weight rounded to fp16, as bitsandbytes received it.
    static func fixtureWeight() throws -> [Float] {
        try oracle.get().floats("weight").map { Float(Float16($0)) }
    }

    @Test(arguments: [Bnb4BitCodeBook.nf4, .fp4])
    func fourBitMatchesBitsandbytes(book: Bnb4BitCodeBook) throws {
        let o = try Self.oracle.get()
        #expect(try o.tensor("weight").shape == [256, 64])
        let lin = Bnb4BitLinear(values: try Self.fixtureWeight(), out: 256, in: 64, codeBook: book)
        let name = book.rawValue
        #expect(lin.packed == (try o.bytes("\(name).packed")))
        #expect(lin.absmax == (try o.floats("\(name).absmax")))
        // bitsandbytes dequantizes to the quantized tensor's dtype (fp16 here): code × absmax in
        // F32, then rounded to fp16. Ours is the F32 product.
        let deq = lin.dequantized()
        #expect(deq.map { Float(Float16($0)) } == (try o.floats("\(name).dequantized")))
        #expect(lin.storedBytes == 256 * 64 / 2 + 256 * 4)
    }

    @Test func int8MatchesBitsandbytes() throws {
        let o = try Self.oracle.get()
        // bitsandbytes casts the F32 weight to fp16 itself; so does our quantizer.
        let lin = BnbInt8Linear(values: try o.floats("weight"), out: 256, in: 64)
        #expect(lin.cb == (try o.int8s("int8.CB")))
        #expect(lin.scb == (try o.floats("int8.SCB")))
        #expect(lin.storedBytes == 256 * 64 + 256 * 4)
    }

    /// Quantize → dequantize stays within half the widest gap of the code book times absmax.
    @Test(arguments: [Bnb4BitCodeBook.nf4, .fp4])
    func fourBitErrorBound(book: Bnb4BitCodeBook) {
        var g = BnbSeededRandom(11)
        let (out, inF) = (24, 200)                 // 4800 values: blocks straddle rows
        let w = g.normals(out * inF, scale: 0.1)
        let lin = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: book)
        let t = book.values.sorted()
        let halfGap = zip(t, t.dropFirst()).map { $1 - $0 }.max()! / 2
        let deq = lin.dequantized()
        for i in 0..<w.count {
            let b = i / 64
            #expect(abs(deq[i] - w[i]) <= halfGap * lin.absmax[b] * 1.0001)
        }
        // Every block's largest magnitude is represented exactly (code ±1 × absmax) for NF4.
        if book == .nf4 {
            for b in 0..<lin.blockCount {
                let lo = b * 64, hi = min(w.count, lo + 64)
                let k = (lo..<hi).max { abs(w[$0]) < abs(w[$1]) }!
                #expect(abs(deq[k]) == lin.absmax[b])
            }
        }
    }

    @Test func doubleQuantizationBound() {
        var g = BnbSeededRandom(12)
        let (out, inF) = (300, 128)                // 600 blocks: three absmax blocks of 256
        let w = g.normals(out * inF, scale: 0.05)
        let plain = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: .nf4)
        let dq = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: .nf4, doubleQuant: true)
        #expect(dq.packed == plain.packed)         // codes come from the exact absmax
        #expect(dq.absmax8.count == 600 && dq.absmax2.count == 3)
        #expect(abs(dq.offset - plain.absmax.reduce(0, +) / 600) <= 1e-6)
        // The dynamic map's widest step below 1 is 1/64 - so the absmax error is under 1/128 of the block's scale.
        for b in 0..<600 {
            #expect(abs(dq.blockScale(b) - plain.absmax[b]) <= dq.absmax2[b / 256] / 128 * 1.0001)
        }
        #expect(dq.storedBytes == out * inF / 2 + 600 + 3 * 4 + 4)
        #expect(Double(dq.storedBytes * 8) / Double(out * inF) < 4.13)
    }

    /// Double quantization byte for byte against bitsandbytes 0.50.2's CPU backend
    /// (`quantize_4bit(compress_statistics=True)`, scripts/oracles/bitsandbytes-cpu.py →
    /// Oracles/bnb-double-quant.safetensors): the 4-bit codes, the 8-bit absmax codes, their
    /// per-256-block scales, the offset (mean absmax) and the absmax they dequantize to. On the
    /// fixture's weight (256 blocks, one scale) and a [200, 192] one (600 blocks: 256 + 256 + 88).
    /// The script checks that the CPU backend's NF4 codes equal the fixture's CUDA oracle.
    @Test(arguments: ["fixture", "wide"])
    func doubleQuantizationMatchesBitsandbytes(name: String) throws {
        let o = try SafeTensorsFile(path: BnbInt8Oracle.dir.appendingPathComponent("bnb-double-quant.safetensors").path)
        let w = name == "fixture" ? try Self.fixtureWeight() : try o.tensor("wide.weight").toFloatArray()
        let (out, inF) = name == "fixture" ? (256, 64) : (200, 192)
        #expect(w.count == out * inF)
        let dq = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: .nf4, doubleQuant: true)
        #expect(dq.packed == (try o.bytes("\(name).packed")))
        #expect(dq.absmax8 == (try o.bytes("\(name).absmax8")))
        #expect(dq.absmax2 == (try o.floats("\(name).absmax2")))
        #expect([dq.offset] == (try o.floats("\(name).offset")))
        #expect((0..<dq.absmax8.count).map { dq.blockScale($0) } == (try o.floats("\(name).dequantized_absmax")))
    }

    @Test func dynamicMapIsBitsandbytes() throws {
        let m = BnbDynamicMap.values
        let o = try SafeTensorsFile(path: BnbInt8Oracle.dir.appendingPathComponent("bnb-double-quant.safetensors").path)
        #expect(m == (try o.floats("dynamic_map")))   // create_dynamic_map(signed=True), bit for bit
        #expect(m.count == 256)
        #expect(zip(m, m.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(m.first! == -0.99296875 && m.last! == 1 && m.contains(0))
        // The smallest non-zero magnitudes come from exponent 10^-6: means of linspace(0.1, 1, 2).
        #expect(m.filter { $0 > 0 }.min()! == Float(1e-6) * Float(0.55))
        m.withUnsafeBufferPointer { p in
            for (i, v) in m.enumerated() where i > 0 && m[i - 1] != v {
                #expect(BnbDynamicMap.code(v, p.baseAddress!) == UInt8(i))
            }
        }
    }

    @Test func int8ErrorBound() {
        var g = BnbSeededRandom(13)
        let w = g.normals(32 * 96, scale: 0.2)
        let lin = BnbInt8Linear(values: w, out: 32, in: 96)
        let deq = lin.dequantized()
        for o in 0..<32 { for i in 0..<96 {
            let w16 = Float(Float16(w[o * 96 + i]))
            #expect(abs(deq[o * 96 + i] - w16) <= lin.scb[o] / 254 * 1.0001)
        } }
    }

    @Test(arguments: [(3, 64, 1, 64, false), (5, 128, 2, 64, true), (7, 100, 3, 64, false), (4, 33, 2, 32, true),
                      (9, 72, 1, 64, false), (16, 256, 2, 128, false), (2, 1, 1, 32, false),
                      // decode kernel with blocks straddling rows, double quantization, several threads' ranges
                      (6, 96, 1, 64, false), (5, 96, 1, 128, true), (37, 768, 1, 256, true), (9, 544, 1, 64, false),
                      // prefill tiles: rows past a 4×4 block, outputs past a 16-row tile, odd row starts
                      (13, 96, 5, 64, false), (19, 100, 6, 64, true), (9, 33, 7, 32, false), (21, 64, 4, 32, true),
                      // 128-value chunks (64-byte loads of codes), with and without a tail of 32s
                      (11, 384, 3, 64, true), (7, 256, 5, 32, false), (5, 416, 1, 128, false)])
    func fourBitKernelMatchesReference(out: Int, in inF: Int, rows: Int, block: Int, dq: Bool) {
        var g = BnbSeededRandom(UInt64(out * 7919 + inF))
        let w = g.normals(out * inF, scale: 0.3), x = g.normals(rows * inF)
        let pool = ThreadPool(threads: 2)
        for book in [Bnb4BitCodeBook.nf4, .fp4] {
            let lin = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: book, blockSize: block, doubleQuant: dq)
            var y = [Float](repeating: 0, count: rows * out)
            lin.forward(x, rows: rows, into: &y, pool: pool)
            x.withUnsafeBufferPointer { xp in
                for r in 0..<rows { for o in 0..<out {
                    let ref = lin.referenceDot(row: o, xp.baseAddress! + r * inF)
                    #expect(abs(y[r * out + o] - ref) <= 2e-5 * max(1, Float(inF).squareRoot()))
                } }
            }
        }
    }

    /// The decode kernel (AVX-512: one `vpermps` per 16 codes, four rows at a time where blocks allow;
    /// AVX2: byte-plane lookups) and its plain C twin against the Swift reference, row by row, on shapes whose rows start inside blocks
    /// and span several of them: rows of whole 128-value chunks (block halves, quarters at block 32, a
    /// block of 96 that is no power of two), chunks and a tail of 32s, 32s alone; row counts that are
    /// not multiples of 4, with F32 and double-quantized absmax. The codes end at an unreadable page
    /// (`kernelDots`): the kernel's loads at byte offsets must not run past them.
    @Test(arguments: [(4, 32, 32, false), (6, 96, 64, false), (5, 160, 128, true), (3, 1024, 4096, false), (7, 800, 256, true),
                      (5, 384, 32, false), (4, 256, 64, true), (3, 640, 128, false), (3, 384, 96, true), (6, 224, 64, false),
                      (9, 768, 64, false), (11, 640, 64, true), (6, 3072, 64, false), (10, 512, 256, true)])
    func fourBitDecodeKernelAndTwinMatchReference(out: Int, in inF: Int, block: Int, dq: Bool) {
        var g = BnbSeededRandom(UInt64(out * 131 + inF))
        let w = g.normals(out * inF, scale: 0.2), x = g.normals(inF)
        for book in [Bnb4BitCodeBook.nf4, .fp4] {
            let lin = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: book, blockSize: block, doubleQuant: dq)
            for kernel in KernelVersion.allCases {
                let y = lin.kernelDots(x, kernel: kernel)
                for o in 0..<out {
                    let ref = lin.referenceDot(row: o, x)
                    #expect(abs(y[o] - ref) <= 2e-5 * max(1, Float(inF).squareRoot()), "\(kernel) \(book) row \(o) of \(out): \(y[o]) against \(ref)")
                }
            }
        }
    }

    /// The prompt kernel's widened rows (every version's) are exactly dequantizeRow's values:
    /// one product table[code] × absmax each.
    @Test(arguments: [(4, 32, 32, false), (6, 96, 64, true), (5, 160, 128, false), (3, 1024, 4096, true), (7, 800, 256, false),
                      (5, 384, 32, true), (4, 256, 64, false), (3, 384, 96, false), (6, 224, 64, true)])
    func fourBitWidenedRowsAreDequantizedRows(out: Int, in inF: Int, block: Int, dq: Bool) {
        var g = BnbSeededRandom(UInt64(out * 577 + inF))
        let w = g.normals(out * inF, scale: 0.2)
        for book in [Bnb4BitCodeBook.nf4, .fp4] {
            let lin = Bnb4BitLinear(values: w, out: out, in: inF, codeBook: book, blockSize: block, doubleQuant: dq)
            var d = [Float](repeating: 0, count: inF)
            for o in 0..<out {
                lin.dequantizeRow(o, into: &d)
                for kernel in KernelVersion.allCases { #expect(lin.kernelWidenedRow(o, kernel: kernel) == d, "\(kernel)") }
            }
        }
    }

    /// The int8 kernel's exact Int32 products (AVX-512: 4×4 tiles, a masked tail past 64-byte steps;
    /// AVX2: 4×2 tiles, a zero-padded tail) and its plain twin, equal to Int products computed here, on shapes that are not multiples of the tile
    /// or of the 64-byte step; codes over the whole int8 range bitsandbytes produces (±127).
    @Test(arguments: [(1, 1, 1), (3, 63, 2), (4, 64, 4), (7, 65, 5), (17, 200, 9), (5, 768, 3), (9, 130, 8)])
    func int8IntegerKernelIsExact(out: Int, in inF: Int, rows: Int) {
        var g = BnbSeededRandom(UInt64(out * 977 + inF * 3 + rows))
        var w = g.normals(out * inF, scale: 0.3)
        w[0] = 1   // a row's absmax gives code 127
        let lin = BnbInt8Linear(values: w, out: out, in: inF)
        let codes = (0..<rows * inF).map { i in i % 11 == 0 ? Int8(-127) : i % 13 == 0 ? 127 : Int8(truncatingIfNeeded: Int(g.next() % 255) - 127) }
        var expected = [Int32](repeating: 0, count: rows * out)
        for r in 0..<rows { for o in 0..<out {
            var s = 0
            for i in 0..<inF { s += Int(codes[r * inF + i]) * Int(lin.cb[o * inF + i]) }
            expected[r * out + o] = Int32(s)
        } }
        for kernel in KernelVersion.allCases { #expect(lin.integerProducts(codes, rows: rows, kernel: kernel) == expected, "\(kernel)") }
    }

    @Test(arguments: [(3, 64, 1, Float(0)), (5, 96, 3, 6), (7, 100, 2, 6), (4, 33, 4, 2.5), (6, 768, 2, 6),
                      (13, 200, 9, 6), (9, 65, 5, 0)])
    func int8KernelMatchesReference(out: Int, in inF: Int, rows: Int, threshold: Float) {
        var g = BnbSeededRandom(UInt64(out * 31 + inF))
        let w = g.normals(out * inF, scale: 0.3)
        var x = g.normals(rows * inF)
        // Plant outliers in a few columns (some rows only) so the mixed path has work.
        for k in stride(from: 1, to: inF, by: 17) { x[(k % rows) * inF + k] = k % 2 == 0 ? 9.5 : -7.25 }
        let lin = BnbInt8Linear(values: w, out: out, in: inF, threshold: threshold)
        let bias = g.normals(out)
        var y = [Float](repeating: 0, count: rows * out), yb = y
        lin.forward(x, rows: rows, into: &y, pool: ThreadPool(threads: 2))
        lin.forward(x, rows: rows, bias: bias, into: &yb, pool: ThreadPool(threads: 2))
        x.withUnsafeBufferPointer { xp in
            for r in 0..<rows { for o in 0..<out {
                let ref = lin.referenceOutput(row: r, of: xp.baseAddress!, rows: rows, out: o)
                #expect(abs(y[r * out + o] - ref) <= 1e-5 * max(1, abs(ref)))
                let refb = lin.referenceOutput(row: r, of: xp.baseAddress!, rows: rows, out: o, bias: bias[o])
                #expect(abs(yb[r * out + o] - refb) <= 1e-5 * max(1, abs(refb)))
            } }
        }
    }

    /// The C steps around the products (bnb_int8.c: activations to codes, tiles' sums to fp16
    /// outputs) and their plain twins agree bit for bit with each other and with the Swift
    /// reference: codes as `quantizeRow` gives them on the fp16 row (0 in outlier columns), outlier
    /// columns as `outlierColumns`, outputs as `referenceOutput` where no column is decomposed.
    /// Widths not multiples of 16 lanes or the 64-byte step, row counts not multiples of the tile.
    @Test(arguments: [(3, 64, 1, Float(0)), (5, 96, 3, 6), (7, 100, 2, 6), (4, 33, 4, 2.5), (6, 768, 6, 6),
                      (13, 200, 9, 6), (9, 65, 5, 0), (8, 17, 8, 0)])
    func int8ActivationAndScalingStepsMatchReference(out: Int, in inF: Int, rows: Int, threshold: Float) {
        var g = BnbSeededRandom(UInt64(out * 131 + inF * 7 + rows))
        let w = g.normals(out * inF, scale: 0.3)
        var x = g.normals(rows * inF, scale: 2)
        if threshold > 0 { for k in stride(from: 2, to: inF, by: 19) { x[(k % rows) * inF + k] = k % 2 == 0 ? 9.5 : -7.25 } }
        x[0] = 1e6   // past fp16's range: ±inf once cast, an outlier column, or absmax inf when threshold 0
        if threshold == 0 { x[0] = 0.5 }
        if rows > 2 { for i in 0..<inF { x[2 * inF + i] = 0 } }   // a row of zeros: absmax 0, codes 0
        let lin = BnbInt8Linear(values: w, out: out, in: inF, threshold: threshold)
        let versions = Dictionary(uniqueKeysWithValues: KernelVersion.allCases.map {
            ($0, BnbInt8Linear.quantizedActivations(x, rows: rows, inFeatures: inF, threshold: threshold, kernel: $0))
        })
        let simd = versions[.simd]!
        let outliers = x.withUnsafeBufferPointer { BnbInt8Linear.outlierColumns($0.baseAddress!, rows: rows, inFeatures: inF, threshold: threshold) }
        #expect(versions.values.allSatisfy { $0.outliers == outliers })
        #expect(threshold == 0 || !outliers.isEmpty)
        for r in 0..<rows {
            let a = (0..<inF).map { Float(Float16(x[r * inF + $0])) }
            var (codes, amax) = BnbInt8Linear.quantizeRow(a, threshold: threshold)
            for i in outliers { codes[i] = 0 }
            let sum = codes.reduce(Int32(0)) { $0 + Int32($1) }
            for (kernel, v) in versions {
                #expect(Array(v.codes[r * inF..<(r + 1) * inF]) == codes, "\(kernel) row \(r)")
                #expect(v.sca[r] == amax && v.sums[r] == sum, "\(kernel) row \(r)")
            }
        }
        let bias = g.normals(out)
        for b in [nil, bias] {
            let ys = lin.scaledProducts(simd.codes, sca: simd.sca, sums: simd.sums, rows: rows, bias: b, kernel: .simd)
            for kernel in [KernelVersion.avx2, .plain] {
                let y = lin.scaledProducts(simd.codes, sca: simd.sca, sums: simd.sums, rows: rows, bias: b, kernel: kernel)
                #expect(ys.map(\.bitPattern) == y.map(\.bitPattern), "\(kernel)")
            }
            guard outliers.isEmpty else { continue }
            x.withUnsafeBufferPointer { xp in
                for r in 0..<rows { for o in 0..<out {
                    let ref = lin.referenceOutput(row: r, of: xp.baseAddress!, rows: rows, out: o, bias: b?[o])
                    #expect(ys[r * out + o].bitPattern == ref.bitPattern, "r \(r) o \(o): \(ys[r * out + o]) vs \(ref)")
                } }
            }
        }
    }

    /// What LLM.int8() is for: with large activation outliers, computing their columns outside int8
    /// brings the product much closer to the exact one than pure vector-wise int8 does.
    @Test func outlierColumnsReduceError() {
        var g = BnbSeededRandom(21)
        let (out, inF, rows) = (64, 256, 4)
        let w = g.normals(out * inF, scale: 0.1)
        var x = g.normals(rows * inF, scale: 0.5)
        for k in [3, 77, 150] { for r in 0..<rows { x[r * inF + k] = Float(20 + r) } }
        let pool = ThreadPool(threads: 2)
        func err(_ t: Float) -> Float {
            let lin = BnbInt8Linear(values: w, out: out, in: inF, threshold: t)
            var y = [Float](repeating: 0, count: rows * out)
            lin.forward(x, rows: rows, into: &y, pool: pool)
            var e: Float = 0
            for r in 0..<rows { for o in 0..<out {
                var exact: Float = 0
                for i in 0..<inF { exact += x[r * inF + i] * w[o * inF + i] }
                e = max(e, abs(y[r * out + o] - exact))
            } }
            return e
        }
        #expect(err(6) * 2 < err(0))
    }

    @Test func catalogueValidatesParameters() throws {
        let w = [Float](repeating: 0.5, count: 64 * 2)
        #expect(throws: CoreError.self) { try Quantization.quantize(w, out: 2, in: 64, config: .init(method: "bnb-nf4", parameters: ["block_size": 100])) }
        #expect(throws: CoreError.self) { try Quantization.quantize(w, out: 2, in: 64, config: .init(method: "bnb-fp4", parameters: ["double_quant": 2])) }
        #expect(throws: CoreError.self) { try Quantization.quantize(w, out: 2, in: 64, config: .init(method: "bnb-int8", parameters: ["treshold": 6])) }
        #expect(throws: CoreError.self) { try Quantization.quantize(w, out: 2, in: 64, config: .init(method: "bnb-int8", parameters: ["threshold": -1])) }
        #expect(throws: CoreError.self) { try Quantization.quantize(w, out: 2, in: 64, config: .init(method: "fp16", parameters: ["bits": 16])) }
        let dq = try Quantization.quantize(w, out: 2, in: 64, config: .init(method: "bnb-nf4", parameters: ["double_quant": 1, "block_size": 32]))
        #expect(dq.format == "bnb-nf4" && (dq as? Bnb4BitLinear)?.doubleQuant == true && (dq as? Bnb4BitLinear)?.blockSize == 32)
        for name in ["fp16", "bf16", "bnb-int8", "bnb-nf4", "bnb-fp4"] { #expect(Quantization.availableNames.contains(name)) }
        // bitsandbytes leaves embeddings and the output head alone; fp16/bf16 store everything.
        let nf4 = QuantizationConfig(method: "bnb-nf4")
        #expect(Quantization.applies(to: "h.0.mlp.c_fc.weight", role: .linear, config: nf4))
        #expect(!Quantization.applies(to: "wte.weight", role: .embedding, config: nf4))
        #expect(!Quantization.applies(to: "lm_head.weight", role: .outputHead, config: nf4))
        #expect(Quantization.applies(to: "wte.weight", role: .embedding, config: .init(method: "fp16")))
    }
}
