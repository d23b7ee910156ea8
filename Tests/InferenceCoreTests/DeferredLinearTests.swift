// Block weights left with their source until calibration reaches them (Calibration/DeferredLinear.swift)
// against the same source loaded whole: every row and every product bit for bit, and a model
// calibrated through the deferred load quantized exactly as the whole-loaded one.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct DeferredLinearTests {
    /// mlp.c_fc of a random GPT-2 520 wide (Conv1D, transposed): 2080 rows of 520, about five
    /// 1 MiB chunks, the last one partial.
    static func rows() throws -> WeightRows {
        let (values, seed, _) = try ModelLoader.randomConfig("random:gpt2?n_layer=1&n_embd=520&n_head=8&vocab_size=300&seed=3")
        let config = try GPT2Config(values)
        return try ModelLoader.randomSource(config, seed: seed, threads: 2)("h.0.mlp.c_fc.weight", [520, 2080], true)
    }

    @Test func rowsInAnyOrderAndProductsAreTheWholeWeights() throws {
        let whole = F32Linear(rows: try Self.rows()), deferred = DeferredLinear(try Self.rows())
        #expect(deferred.format == "fp32" && deferred.storedBytes == whole.storedBytes)
        #expect(deferred.rows.chunks().count > 2)
        let n = whole.inFeatures
        var rng = SeededRandom(seed: 11)
        // Back and forth across chunk boundaries, then every row.
        let order = (0..<200).map { _ in Int(rng.next() % UInt64(whole.outFeatures)) } + Array(0..<whole.outFeatures)
        var a = [Float](repeating: 0, count: n), b = a
        for r in order {
            whole.dequantizeRow(r, into: &a)
            deferred.dequantizeRow(r, into: &b)
            #expect(a == b, "row \(r)")
            if a != b { return }
        }
        let x = (0..<3 * n).map { _ in Float(rng.next() % 2001) / 1000 - 1 }
        var y1 = [Float](repeating: 0, count: 3 * whole.outFeatures), y2 = y1
        let pool = ThreadPool(threads: 2)
        whole.forward(x, rows: 3, into: &y1, pool: pool)
        deferred.forward(x, rows: 3, into: &y2, pool: pool)
        #expect(y1 == y2)
        deferred.dequantizeRow(7, into: &b); whole.dequantizeRow(7, into: &a)
        #expect(a == b, "a row after the weight was loaded whole")
    }

    /// GPTQ through `ModelLoader.load` (block weights deferred, read from the checkpoint's mapped
    /// bytes when reached) gives the codes of the calibration pass on the model loaded whole.
    @Test func calibratedThroughTheDeferredLoadAsLoadedWhole() throws {
        let ids = GPTQOracle.dir.appendingPathComponent("tokens.safetensors").path
        let config = QuantizationConfig(method: "gptq", parameters: ["bits": 4, "group_size": 32, "desc_act": 1],
                                        calibration: CalibrationConfig(ids: ids))
        let deferred = try ModelLoader.load(Fixture.tiny, quantization: config, threads: 2) as! GPT2
        let whole = try ModelLoader.load(Fixture.tiny, threads: 2) as! GPT2
        #expect(!(whole.linear("transformer.h.0.attn.c_attn") is DeferredLinear))
        _ = try CalibrationPass.gptq(whole, samples: try CalibrationData.read(ids: ids),
                                     config: try Calibration.gptqConfiguration(config, known: Set(Calibration.gptqParameters.keys)),
                                     trueSequential: true)
        for l in 0..<whole.blockCount {
            for name in whole.sequentialGroups(block: l).joined() {
                let a = try #require(whole.linear(name) as? GroupQuantizedLinear), b = try #require(deferred.linear(name) as? GroupQuantizedLinear)
                #expect(a.dequantized() == b.dequantized() && a.gIdx == b.gIdx, "\(name)")
            }
        }
        #expect(whole.weights.map(\.format) == deferred.weights.map(\.format))
    }

    /// The `llama-gptq-g24-act` checkpoint with its packed layers dequantized: a Hugging Face Llama
    /// directory of plain F32 matrices (config.json without its quantization_config), written to a
    /// temporary directory.
    static func plainHFLlama() throws -> String {
        let source = HFQuantFixture.path("llama-gptq-g24-act")
        let packed = try #require(try ModelLoader.load(source, quantization: QuantizationConfig(method: LlamaGGUF.asStored), threads: 1) as? DecoderModel)
        let checkpoint = try SafeTensorsCheckpoint(source)
        let codes = ["qweight", "qzeros", "scales", "g_idx"]
        var tensors = try checkpoint.names.filter { name in !codes.contains { name.hasSuffix("." + $0) } }.map { ($0, try checkpoint.tensor($0)) }
        for (l, layer) in packed.layers.enumerated() {
            let matrices: [(String, LinearWeight?)] = [("attn_q", layer.q), ("attn_k", layer.k), ("attn_v", layer.v), ("attn_output", layer.o),
                                                      ("ffn_gate", layer.gate), ("ffn_up", layer.up), ("ffn_down", layer.down)]
            for (name, w) in matrices {
                let w = try #require(w), n = w.inFeatures
                var values = [Float](repeating: 0, count: w.outFeatures * n)
                values.withUnsafeMutableBufferPointer { v in for r in 0..<w.outFeatures { w.dequantizeRow(r, into: v.baseAddress! + r * n) } }
                tensors.append((DecoderHF.hfName("blk.\(l).\(name)") + ".weight", Tensor(values, shape: [w.outFeatures, n])))
            }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exprun-plain-llama-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as? [String: Any])
        config["quantization_config"] = nil
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try GPTQCheckpoint.writeSafeTensors(tensors, to: dir.appendingPathComponent("model.safetensors").path)
        return dir.path
    }

    /// A Llama-family model, from a GGUF (the small `gemma3` and `llama-linear` decoders) or from a
    /// Hugging Face directory (`hf-llama`, plainHFLlama), loaded for calibration keeps its block
    /// matrices in the file until the pass reaches them, and GPTQ and AWQ through that load give the
    /// weights of the pass on the model loaded whole.
    @Test(arguments: ["gemma3", "llama-linear", "hf-llama"])
    func decoderCalibratedThroughTheDeferredLoadAsLoadedWhole(name: String) throws {
        let path = name == "hf-llama" ? try Self.plainHFLlama() : DecoderFixture.directory.appendingPathComponent(name + ".gguf").path
        defer { if name == "hf-llama" { try? FileManager.default.removeItem(atPath: path) } }
        func deferredModel() throws -> DecoderModel {
            try #require(try ModelLoader.load(path, quantization: .fp32, threads: 2, deferringBlocks: true) as? DecoderModel)
        }
        func wholeModel() throws -> DecoderModel { try #require(try ModelLoader.load(path, threads: 2) as? DecoderModel) }
        let deferred = try deferredModel(), whole = try wholeModel()
        for l in 0..<whole.blockCount {
            for layer in whole.sequentialGroups(block: l).joined() {
                #expect(deferred.linear(layer) is DeferredLinear && !(whole.linear(layer) is DeferredLinear), "\(layer)")
            }
        }
        #expect(!(deferred.embedding is DeferredLinear) && !(deferred.head is DeferredLinear))
        let samples = SmallDecoder.windows(4, 32, vocabulary: whole.vocabularySize, seed: 3)
        let gptq = GPTQConfiguration(bits: 4, groupSize: 16, symmetric: true, actOrder: true)
        _ = try CalibrationPass.gptq(deferred, samples: samples, config: gptq, trueSequential: true)
        _ = try CalibrationPass.gptq(whole, samples: samples, config: gptq, trueSequential: true)
        for l in 0..<whole.blockCount {
            for layer in whole.sequentialGroups(block: l).joined() {
                let a = try #require(whole.linear(layer) as? GroupQuantizedLinear), b = try #require(deferred.linear(layer) as? GroupQuantizedLinear)
                #expect(a.dequantized() == b.dequantized() && a.gIdx == b.gIdx, "\(layer)")
            }
        }
        #expect(whole.weights.map(\.format) == deferred.weights.map(\.format))
        // AWQ scales the matrices and folds into the ops before them: the same through either load.
        let awqDeferred = try deferredModel(), awqWhole = try wholeModel()
        for m in [awqDeferred, awqWhole] {
            _ = try AWQ.quantize(m, samples: samples, groupSize: 16, duoScaling: true, skip: { _ in false }, observe: { _ in })
        }
        let ids = SmallDecoder.windows(1, 16, vocabulary: whole.vocabularySize, seed: 9)[0]
        #expect(try SmallDecoder.logits(awqDeferred, ids) == SmallDecoder.logits(awqWhole, ids))
    }
}
