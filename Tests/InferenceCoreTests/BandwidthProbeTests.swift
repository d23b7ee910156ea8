// The memory-bandwidth probe: it reads every stored byte of the matrices a decode step multiplies,
// in every format, and nothing else (the oracle is each format's own `storedBytes` and the model's
// own list of tensors), and its reading loop loads every byte (against a plain byte-by-byte twin).
import Foundation
import Testing
@testable import InferenceCore

@Suite struct BandwidthProbeTests {
    @Test(arguments: ["fp32", "fp16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k", "bnb-int8", "bnb-nf4", "bnb-fp4", "rtn"])
    func aPassReadsEveryStoredByteOfTheFormat(_ method: String) throws {
        var rng = SeededRandom(seed: 11)
        let out = 64, n = 512
        let values = (0..<out * n).map { _ in rng.nextUnitFloat() - 0.5 }
        let w = try Quantization.quantize(values, out: out, in: n, config: QuantizationConfig(method: method))
        #expect(BandwidthProbe.storedBytesRead(w) == w.storedBytes, "\(method): \(w.format)")
        let sample = BandwidthProbe.measure([w], pool: ThreadPool(threads: 2))
        #expect(sample.bytes == sample.passes * w.storedBytes && sample.bytes >= BandwidthProbe.minimumBytes && sample.seconds > 0)
    }

    @Test func doubleQuantizedNF4ReadsItsStoredArrays() throws {
        var rng = SeededRandom(seed: 12)
        let values = (0..<64 * 1024).map { _ in rng.nextUnitFloat() - 0.5 }
        let w = try Quantization.quantize(values, out: 64, in: 1024, config: QuantizationConfig(method: "bnb-nf4", parameters: ["double_quant": 1]))
        // storedBytes counts the 4-byte mean offset too, a scalar the kernels keep in a register.
        #expect(BandwidthProbe.storedBytesRead(w) == w.storedBytes - 4)
    }

    /// The probe reads the matrices of every layer and the head once each, as the model lists them.
    @Test func theDecodeMatricesAreTheModelsOwnMatrices() throws {
        let model = try ModelLoader.load("random:gpt2?n_layer=3&n_embd=96&n_head=6&n_inner=200&vocab_size=1000&n_positions=64&seed=1",
                                         quantization: QuantizationConfig(method: "q8_0"), threads: 2)
        let matrices = BandwidthProbe.decodeMatrices(of: model)
        #expect(matrices.count == 3 * 4 + 1)   // c_attn, attn.c_proj, c_fc, mlp.c_proj; the tied head (wte) once
        // Every matrix the model lists except the position table (looked up, never multiplied).
        let listed = model.weights.filter { $0.shape.count == 2 && !$0.name.hasSuffix("wpe.weight") }
        #expect(matrices.reduce(0) { $0 + BandwidthProbe.storedBytesRead($1) } == listed.reduce(0) { $0 + $1.storedBytes })
        let sample = try #require(BandwidthProbe.measure(model))
        #expect(sample.bytes == sample.passes * listed.reduce(0) { $0 + $1.storedBytes })
    }

    @Test func theReadingLoopLoadsEveryByte() {
        var rng = SeededRandom(seed: 13)
        let bytes = (0..<10_000 + 77).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.withUnsafeBytes { p in
            for (start, count) in [(0, p.count), (3, 1000), (5, 255), (64, 257), (1, 0)] {
                // Plain twin: little-endian 64-bit words of the whole 256-byte blocks, then the tail's bytes.
                let whole = count / 256 * 256
                var expected: UInt64 = 0
                for i in stride(from: 0, to: whole, by: 8) { expected &+= p.loadUnaligned(fromByteOffset: start + i, as: UInt64.self) }
                for i in whole..<count { expected &+= UInt64(p[start + i]) }
                #expect(BandwidthProbe.readSum(p.baseAddress! + start, count: count) == expected, "\(start)+\(count)")
            }
        }
    }
}
