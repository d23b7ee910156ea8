// The gptq / awq / rtn format: its kernel against its plain reference twin and against the
// dequantized weights, and the GPTQ (v1, v2) and AWQ GEMM checkpoints of ../shared/data/gptq-oracle
// read code for code (their codes, zeros, scales, g_idx are the reference's) and written back byte
// for byte; mislabelled and contradictory files refused with one clear error.
import Foundation
import GGMLSIMD
import Testing
@testable import InferenceCore

enum GroupQuantFixture {
    /// A random group-quantized weight: `bits`, groups of `gs` along `n` inputs, act-order g_idx when `permuted`.
    static func weight(out: Int, n: Int, bits: Int, gs: Int, permuted: Bool, seed: UInt64) -> GroupQuantizedWeight {
        var rng = SeededRandom(seed: seed)
        let groups = (n + gs - 1) / gs, maxq = (1 << bits) - 1
        var order = Array(0..<n)
        if permuted { for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) } }
        var gIdx = [Int32](repeating: 0, count: n)
        for (k, i) in order.enumerated() { gIdx[i] = Int32(k / gs) }
        return GroupQuantizedWeight(
            out: out, inFeatures: n, bits: bits, groupSize: gs,
            codes: (0..<out * n).map { _ in UInt8(rng.next() % UInt64(maxq + 1)) },
            scales: (0..<groups * out).map { _ in Float(rng.next() % 1000 + 1) / 50000 },
            zeros: (0..<groups * out).map { _ in Float(rng.next() % UInt64(maxq + 1)) },
            gIdx: gIdx)
    }

    static func activations(rows: Int, n: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var x = [Float](repeating: 0, count: rows * n)
        x.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: $0.count, std: 1) }
        return x
    }
}

@Suite struct GroupQuantizedTests {
    @Test(arguments: [(4, 128, false), (4, 32, true), (4, 48, false), (4, 100, true), (8, 64, false), (3, 32, true), (2, 64, false)])
    func kernelMatchesItsReferenceAndTheDequantizedWeights(bits: Int, gs: Int, permuted: Bool) throws {
        let out = 37, n = 384
        let q = GroupQuantFixture.weight(out: out, n: n, bits: bits, gs: gs, permuted: permuted, seed: UInt64(bits * 1000 + gs))
        let w = try GroupQuantizedLinear(q, format: "gptq")
        // Codes, zeros and fp16 scales are what was given.
        for o in 0..<out { for i in 0..<n { #expect(w.code(o, i) == q.codes[o * n + i]) } }
        let plain = w.dequantized()
        for o in 0..<out {
            for i in 0..<n {
                let g = Int(q.gIdx[i])
                #expect(plain[o * n + i] == Float(Float16(q.scales[g * out + o])) * (Float(q.codes[o * n + i]) - q.zeros[g * out + o]))
            }
        }
        let pool = ThreadPool(threads: 3)
        for rows in [1, 4, 7] {
            let x = GroupQuantFixture.activations(rows: rows, n: n, seed: UInt64(rows))
            var y = [Float](repeating: 0, count: rows * out)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { w.forward(xp.baseAddress!, rows: rows, into: $0.baseAddress!, pool: pool) } }
            let ref = x.withUnsafeBufferPointer { w.referenceForward($0.baseAddress!, rows: rows) }
            for k in y.indices { #expect(abs(y[k] - ref[k]) <= 1e-5 * (abs(ref[k]) + 1), "bits \(bits) gs \(gs) rows \(rows) [\(k)]: \(y[k]) vs \(ref[k])") }
            // Against the exact product with the dequantized weights: only the activations' 8-bit rounding apart.
            for r in 0..<rows {
                for o in 0..<out {
                    var exact = 0.0, scale = 0.0
                    for i in 0..<n { let p = Double(plain[o * n + i]) * Double(x[r * n + i]); exact += p; scale += abs(p) }
                    #expect(abs(Double(y[r * out + o]) - exact) <= 0.01 * scale, "bits \(bits) gs \(gs): \(y[r * out + o]) vs \(exact)")
                }
            }
        }
    }

    @Test func plainAndVectorKernelsAgree() throws {
        let q = GroupQuantFixture.weight(out: 8, n: 256, bits: 4, gs: 96, permuted: false, seed: 3)
        let w = try GroupQuantizedLinear(q, format: "gptq")
        let x = GroupQuantFixture.activations(rows: 4, n: 256, seed: 9)
        let p = x.withUnsafeBufferPointer { w.prepare($0.baseAddress!, rows: 4, pool: nil) }
        let slots = w.groups * w.blocksPerGroup * 32, nb = w.groups * w.blocksPerGroup
        w.codes.base.withMemoryRebound(to: UInt8.self, capacity: w.rowBytes * 8) { codes in
            w.scales.withUnsafeBufferPointer { s in
                w.zeros.withUnsafeBufferPointer { z in
                    for o in 0..<8 {
                        let c = codes + o * w.rowBytes, so = s.baseAddress! + o * w.groups, zo = z.baseAddress! + o * w.groups
                        var four = [Float](repeating: 0, count: 4), plainFour = [Float](repeating: 0, count: 4)
                        gq_simd_q4_x4(c, p.a.q, p.a.d, p.gsum, so, zo, Int32(w.groups), Int32(w.blocksPerGroup), slots, &four)
                        gq_plain_q4_x4(c, p.a.q, p.a.d, p.gsum, so, zo, Int32(w.groups), Int32(w.blocksPerGroup), slots, &plainFour)
                        var avx2Four = four
                        gq_avx2_q4_x4(c, p.a.q, p.a.d, p.gsum, so, zo, Int32(w.groups), Int32(w.blocksPerGroup), slots, &avx2Four)
                        for r in 0..<4 {
                            let (q, d, gs) = (Array(p.a.q[(r * slots)...]), Array(p.a.d[(r * nb)...]), Array(p.gsum[(r * w.groups)...]))
                            let one = gq_simd_q4(c, q, d, gs, so, zo, Int32(w.groups), Int32(w.blocksPerGroup))
                            let avx2One = gq_avx2_q4(c, q, d, gs, so, zo, Int32(w.groups), Int32(w.blocksPerGroup))
                            for v in [one, four[r], avx2One, avx2Four[r]] { #expect(abs(v - plainFour[r]) <= 1e-5 * (abs(plainFour[r]) + 1)) }
                        }
                    }
                }
            }
        }
    }
}

extension GroupQuantizedTests {
    /// The 16-row tile kernels (4-bit; the build's and the AVX2 ones) against their plain C twins, on 3 tiles and a partial last
    /// group (act-order, so groups are padded to whole blocks), one and four activation rows.
    @Test func tileKernelsAgreeWithTheirPlainTwins() throws {
        let q = GroupQuantFixture.weight(out: 48, n: 200, bits: 4, gs: 64, permuted: true, seed: 5)
        let w = try GroupQuantizedLinear(q, format: "gptq")
        #expect(w.tiles == 3)
        let x = GroupQuantFixture.activations(rows: 4, n: 200, seed: 13)
        let p = x.withUnsafeBufferPointer { w.prepare($0.baseAddress!, rows: 4, pool: nil) }
        let G = w.groups, bpg = w.blocksPerGroup, slots = G * bpg * 32
        w.codes.base.withMemoryRebound(to: UInt8.self, capacity: w.rowBytes * 48) { codes in
            w.scales.withUnsafeBufferPointer { s in
                w.zeros.withUnsafeBufferPointer { z in
                    for t in 0..<3 {
                        let c = codes + t * 16 * w.rowBytes, st = s.baseAddress! + t * 16 * G, zt = z.baseAddress! + t * 16 * G
                        var one = [Float](repeating: 0, count: 16), plainOne = one
                        var four = [Float](repeating: 0, count: 64), plainFour = four
                        gq_simd_q4x16(c, p.a.q, p.a.d, p.gsum, st, zt, Int32(G), Int32(bpg), &one)
                        gq_plain_q4x16(c, p.a.q, p.a.d, p.gsum, st, zt, Int32(G), Int32(bpg), &plainOne)
                        gq_simd_q4x16_x4(c, p.a.q, p.a.d, p.gsum, st, zt, Int32(G), Int32(bpg), slots, &four)
                        gq_plain_q4x16_x4(c, p.a.q, p.a.d, p.gsum, st, zt, Int32(G), Int32(bpg), slots, &plainFour)
                        var avx2One = one, avx2Four = four
                        gq_avx2_q4x16(c, p.a.q, p.a.d, p.gsum, st, zt, Int32(G), Int32(bpg), &avx2One)
                        gq_avx2_q4x16_x4(c, p.a.q, p.a.d, p.gsum, st, zt, Int32(G), Int32(bpg), slots, &avx2Four)
                        for k in 0..<16 {
                            #expect(abs(one[k] - plainOne[k]) <= 1e-5 * (abs(plainOne[k]) + 1), "tile \(t) row \(k)")
                            #expect(abs(avx2One[k] - plainOne[k]) <= 1e-5 * (abs(plainOne[k]) + 1), "AVX2, tile \(t) row \(k)")
                        }
                        for k in 0..<64 {
                            #expect(abs(four[k] - plainFour[k]) <= 1e-5 * (abs(plainFour[k]) + 1), "tile \(t) [\(k)]")
                            #expect(abs(avx2Four[k] - plainFour[k]) <= 1e-5 * (abs(plainFour[k]) + 1), "AVX2, tile \(t) [\(k)]")
                        }
                        #expect(plainFour[0..<16] == plainOne[0..<16])
                    }
                }
            }
        }
    }
}

@Suite struct GPTQCheckpointTests {
    static let checkpoints = [("ckpt-m1_b4_g32_sym-gptq", "gptq-m1_b4_g32_sym.safetensors"),
                              ("ckpt-m2_b4_g32_asym_act-gptq_v2", "gptq-m2_b4_g32_asym_act.safetensors"),
                              ("ckpt-awq-b4-g32-gemm", "awq-b4-g32.safetensors")]

    @Test(arguments: checkpoints)
    func loadsTheReferenceCodes(directory: String, oracle: String) throws {
        let dir = GPTQOracle.dir.appendingPathComponent(directory).path
        let model = try ModelLoader.load(dir, quantization: QuantizationConfig(method: "as-stored")) as! GPT2
        let f = try GPTQOracle.file(oracle)
        let config = try QuantizedCheckpointConfig.read(directory: dir)!
        for l in 0..<model.blockCount {
            for name in model.sequentialGroups(block: l).joined() {
                let w = model.linear(name) as! GroupQuantizedLinear
                #expect(w.format == config.method.rawValue)
                let out = w.outFeatures, n = w.inFeatures
                let codes = try GPTQOracle.ints(f, name + ".codes")
                #expect((0..<out * n).allSatisfy { Int(w.code($0 / n, $0 % n)) == codes[$0] }, "\(name): codes")
                let zeros = try f.tensor(name + ".zeros").dtype == .i32 ? try GPTQOracle.ints(f, name + ".zeros") : try GPTQOracle.floats(f, name + ".zeros").map { Int($0) }
                let scales = try GPTQOracle.floats(f, name + ".scales")
                #expect((0..<w.groups * out).allSatisfy { Int(w.zero($0 % out, $0 / out)) == zeros[$0] }, "\(name): zeros")
                #expect((0..<w.groups * out).allSatisfy { w.scaleBits($0 % out, $0 / out) == Float16(scales[$0]).bitPattern }, "\(name): scales")
                if f.contains(name + ".g_idx") { #expect(w.gIdx.map(Int.init) == (try GPTQOracle.ints(f, name + ".g_idx")), "\(name): g_idx") }
                // Dequantized: fp16 scale × (code − zero), exactly.
                let plain = w.dequantized()
                #expect((0..<out * n).allSatisfy { k in
                    let g = Int(w.gIdx[k % n]) * out + k / n
                    return plain[k] == Float(Float16(scales[g])) * Float(codes[k] - zeros[g])
                }, "\(name): dequantized values")
            }
        }
    }

    @Test(arguments: checkpoints)
    func writesTheCheckpointBackByteForByte(directory: String, oracle: String) throws {
        let dir = GPTQOracle.dir.appendingPathComponent(directory).path
        let model = try ModelLoader.load(dir, quantization: QuantizationConfig(method: "as-stored")) as! GPT2
        let config = try QuantizedCheckpointConfig.read(directory: dir)!
        let out = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let source = try String(contentsOfFile: Fixture.tiny + "/config.json", encoding: .utf8)
        try GPTQCheckpoint.write(model, config: config, configText: source, tokenizerDirectory: nil, to: out.path)
        for file in ["model.safetensors", "config.json"] + (config.method == .gptq ? ["quantize_config.json"] : []) {
            let a = try Data(contentsOf: out.appendingPathComponent(file)), b = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))
            #expect(a == b, "\(directory)/\(file): \(a.count) bytes written, \(b.count) in the reference")
        }
        // And it loads back.
        _ = try ModelLoader.load(out.path, quantization: QuantizationConfig(method: "as-stored"))
    }

    /// A copy of a checkpoint with its config edited.
    static func editedCopy(_ directory: String, in base: URL = GPTQOracle.dir, _ edit: (inout String) -> Void) throws -> URL {
        let src = base.appendingPathComponent(directory)
        let dst = try Fixture.temporaryDirectory()
        for file in try FileManager.default.contentsOfDirectory(atPath: src.path) {
            if file.hasSuffix(".json") {
                var text = try String(contentsOf: src.appendingPathComponent(file), encoding: .utf8)
                edit(&text)
                try text.write(to: dst.appendingPathComponent(file), atomically: true, encoding: .utf8)
            } else {
                try FileManager.default.createSymbolicLink(at: dst.appendingPathComponent(file), withDestinationURL: src.appendingPathComponent(file))
            }
        }
        return dst
    }

    @Test func mislabelledFilesAreNamed() throws {
        // A v1 file (symmetric: zeros stored as 7) labelled gptq_v2.
        let a = try Self.editedCopy("ckpt-m1_b4_g32_sym-gptq") { $0 = $0.replacingOccurrences(of: "\"checkpoint_format\": \"gptq\"", with: "\"checkpoint_format\": \"gptq_v2\"") }
        defer { try? FileManager.default.removeItem(at: a) }
        #expect { _ = try ModelLoader.load(a.path, quantization: QuantizationConfig(method: "as-stored")) } throws: { e in
            "\(e)".contains("mislabelled") && "\(e)".contains("transformer.h.0.attn.c_attn") && "\(e)".contains("every zero point should be 8, but one is 7")
        }
        // The same codes written as gptq_v2 (zeros stored as 8), then labelled gptq (v1): they would read 9.
        let model = try ModelLoader.load(GPTQOracle.dir.appendingPathComponent("ckpt-m1_b4_g32_sym-gptq").path,
                                         quantization: QuantizationConfig(method: "as-stored")) as! GPT2
        var v2 = try QuantizedCheckpointConfig.read(directory: GPTQOracle.dir.appendingPathComponent("ckpt-m1_b4_g32_sym-gptq").path)!
        v2.v2 = true
        let b = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: b) }
        try GPTQCheckpoint.write(model, config: v2, configText: nil, tokenizerDirectory: nil, to: b.path)
        let v2Model = try ModelLoader.load(b.path, quantization: QuantizationConfig(method: "as-stored")) as! GPT2
        #expect((v2Model.linear("transformer.h.1.mlp.c_proj") as! GroupQuantizedLinear).zero(0, 0) == 8)
        for file in ["config.json", "quantize_config.json"] {
            let u = b.appendingPathComponent(file)
            try (try String(contentsOf: u, encoding: .utf8)).replacingOccurrences(of: "\"gptq_v2\"", with: "\"gptq\"").write(to: u, atomically: true, encoding: .utf8)
        }
        #expect { _ = try ModelLoader.load(b.path, quantization: QuantizationConfig(method: "as-stored")) } throws: { e in
            "\(e)".contains("mislabelled") && "\(e)".contains("but one is 9") && "\(e)".contains("checkpoint_format gptq_v2")
        }
    }

    @Test func qweightContradictingTheConfigIsRefused() throws {
        let a = try Self.editedCopy("ckpt-m1_b4_g32_sym-gptq") { $0 = $0.replacingOccurrences(of: "\"bits\": 4", with: "\"bits\": 8") }
        defer { try? FileManager.default.removeItem(at: a) }
        #expect { _ = try ModelLoader.load(a.path, quantization: QuantizationConfig(method: "as-stored")) } throws: { e in
            "\(e)".contains("transformer.h.0.attn.c_attn.") && "\(e)".contains("bits 8")
        }
    }

    /// The loaded checkpoints run on their codes: KL from FP32 within 5% of the reference's (whose
    /// model had F32 scales and F32 activations; here fp16 scales and 8-bit activations).
    @Test(arguments: [("ckpt-m1_b4_g32_sym-gptq", "m1_b4_g32_sym"), ("ckpt-m2_b4_g32_asym_act-gptq_v2", "m2_b4_g32_asym_act")])
    func loadedCheckpointsKeepTheReferenceQuality(directory: String, configuration: String) throws {
        let model = try ModelLoader.load(GPTQOracle.dir.appendingPathComponent(directory).path, quantization: QuantizationConfig(method: "as-stored"))
        let kl = try GPTQModelTests.meanKL(model)
        let ref = ((try GPTQOracle.meta()["gptq"] as! [String: Any])[configuration] as! [String: Any])["kl_gptq"] as! Double
        #expect(abs(kl - ref) <= 0.05 * ref, "\(directory): KL \(kl), reference \(ref)")
    }
}

extension GPTQCheckpointTests {
    /// The reference's GPTQ results (codes, F32 scales, zeros, g_idx) put into the FP32 model and
    /// written: the same bytes as the reference's packed checkpoint (scales rounded to fp16, v1 zeros
    /// minus one, biases in fp16).
    @Test(arguments: [("m1_b4_g32_sym", "ckpt-m1_b4_g32_sym-gptq"), ("m2_b4_g32_asym_act", "ckpt-m2_b4_g32_asym_act-gptq_v2")])
    func writesTheReferenceResultsAsItsCheckpoint(configuration: String, directory: String) throws {
        let f = try GPTQOracle.file("gptq-\(configuration).safetensors")
        let model = try ModelLoader.load(Fixture.tiny) as! GPT2
        for l in 0..<model.blockCount {
            for name in model.sequentialGroups(block: l).joined() {
                let current = model.linear(name), out = current.outFeatures, n = current.inFeatures
                let q = GroupQuantizedWeight(out: out, inFeatures: n, bits: 4, groupSize: 32,
                                             codes: try GPTQOracle.ints(f, name + ".codes").map { UInt8($0) },
                                             scales: try GPTQOracle.floats(f, name + ".scales"), zeros: try GPTQOracle.floats(f, name + ".zeros"),
                                             gIdx: try GPTQOracle.ints(f, name + ".g_idx").map { Int32($0) })
                model.setWeight(name, try GroupQuantizedLinear(q, format: "gptq"))
            }
        }
        let dir = GPTQOracle.dir.appendingPathComponent(directory).path
        let out = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        try GPTQCheckpoint.write(model, config: try QuantizedCheckpointConfig.read(directory: dir)!,
                                 configText: try String(contentsOfFile: Fixture.tiny + "/config.json", encoding: .utf8), tokenizerDirectory: nil, to: out.path)
        #expect(try Data(contentsOf: out.appendingPathComponent("model.safetensors")) == Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors")))
    }
}
