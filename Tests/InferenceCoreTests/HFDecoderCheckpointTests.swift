// GPTQ and AWQ checkpoints of the Llama family in the Hugging Face layout, against the real packers:
// scripts/oracles/hf-decoder-gptq-awq.py made small random Llama and Qwen2 models with transformers,
// packed their round-to-nearest codes with AutoGPTQ's `QuantLinear.pack` (v1, and v2 by the same
// pack) and AutoAWQ's `WQLinear_GEMM.from_linear`, read them back with those packages' own
// dequantizers, and ran transformers on the dequantized weights (Oracles/hf-quant/, README in the
// script). Checked: every layer's dequantized weights exactly; the logits; the same bytes written
// back; a Llama from GGUF written in this layout and read back; mislabelled and contradicting files.
//
// Logit tolerance (logits within ±6 here): exprun's attention rounds K, V, the queries and the
// softmax weights to F16 as llama.cpp does (DecoderPass.attention), transformers computes in F32;
// with the weights dequantized to F32 that moves logits by at most 7.7e-3 (measured 2026-11-30),
// 2e-2 allowed. On the packed codes (`as-stored`) the kernel also quantizes the activations to
// 8-bit blocks of 32 (as q4_0's does: an RMS error near 0.5% of each matrix's input, compounding
// over 7 matrices a layer): measured 1.5-2.0% relative RMS, at most 0.20 on one logit; 4% and 0.4
// allowed. The kernel itself is checked against its plain twin in GroupQuantizedTests. A wrong
// layout moves them by far more (zero points of the v2 file read one off: 7.0 on one logit).
import Foundation
import Testing
@testable import InferenceCore

enum HFQuantFixture {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/hf-quant")
    static let names = ["llama-gptq-g24-act", "qwen2-gptq_v2-g32-static", "llama-awq-g32"]
    static func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    static func oracle(_ name: String) throws -> SafeTensorsFile { try SafeTensorsFile(path: dir.appendingPathComponent(name + ".oracle.safetensors").path) }

    static func logits(_ model: LanguageModel, _ tokens: [Int]) throws -> [Float] {
        try model.forward(tokens, cache: model.makeCache(capacity: tokens.count), allLogits: true)
    }

    /// ‖a − b‖ / ‖b‖.
    static func relativeRMS(_ a: [Float], _ b: [Float]) -> Float {
        (zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / b.map { $0 * $0 }.reduce(0, +)).squareRoot()
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}

@Suite struct HFDecoderCheckpointTests {
    static let asStored = QuantizationConfig(method: "as-stored")

    @Test(arguments: HFQuantFixture.names)
    func loadsThePackersCodesAndRunsThem(name: String) throws {
        let model = try #require(try ModelLoader.load(HFQuantFixture.path(name), quantization: Self.asStored) as? DecoderModel)
        let oracle = try HFQuantFixture.oracle(name)
        let method = try QuantizedCheckpointConfig.read(directory: HFQuantFixture.path(name))!.method.rawValue
        var layers = 0
        for entry in oracle.entries where entry.name.hasSuffix(".weight") {
            let hf = String(entry.name.dropLast(".weight".count))
            let gguf = try #require(DecoderHF.layerNames.first { hf.hasSuffix("." + $0.hf) }.map { "blk.\(hf.split(separator: ".")[2]).\($0.gguf)" })
            let w = try #require(model.linear(gguf) as? GroupQuantizedLinear, "\(gguf) is not on its codes")
            #expect(w.format == method)
            #expect(w.dequantized() == (try oracle.tensor(entry.name).toFloatArray()), "\(hf): dequantized weights")
            layers += 1
        }
        #expect(layers == 7 * model.config.layerCount)
        let tokens = try oracle.tensor("tokens").toInt64Array().map(Int.init)
        let reference = try oracle.tensor("logits").toFloatArray()
        let plain = try ModelLoader.load(HFQuantFixture.path(name), quantization: .fp32)
        let dPlain = HFQuantFixture.maxDifference(try HFQuantFixture.logits(plain, tokens), reference)
        #expect(dPlain < 2e-2, "\(name): dequantized to F32, logits differ from transformers' by \(dPlain)")
        let packed = try HFQuantFixture.logits(model, tokens)
        let dPacked = HFQuantFixture.maxDifference(packed, reference)
        let rms = HFQuantFixture.relativeRMS(packed, reference)
        #expect(dPacked < 0.4 && rms < 0.04, "\(name): on the packed codes, logits differ from transformers' by \(dPacked) at most, \(rms) relative RMS")
    }

    @Test(arguments: HFQuantFixture.names)
    func writesTheCheckpointBackByteForByte(name: String) throws {
        let dir = HFQuantFixture.path(name)
        let model = try ModelLoader.load(dir, quantization: Self.asStored) as! DecoderModel
        let out = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        try GPTQCheckpoint.write(model, config: try QuantizedCheckpointConfig.read(directory: dir)!, configText: nil, tokenizerDirectory: nil, to: out.path)
        let a = try Data(contentsOf: out.appendingPathComponent("model.safetensors")), b = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
        #expect(a == b, "\(name): \(a.count) bytes written, \(b.count) by the packer")
        // The config.json made from the hyper-parameters reads back as the same model.
        let again = try ModelLoader.load(out.path, quantization: Self.asStored)
        let tokens = try HFQuantFixture.oracle(name).tensor("tokens").toInt64Array().map(Int.init)
        #expect(try HFQuantFixture.logits(again, tokens) == HFQuantFixture.logits(model, tokens))
    }

    /// A GGUF Llama (q/k rows permuted by llama.cpp's converter, linear rotary scaling) quantized
    /// round-to-nearest, written in transformers' layout, read back: the q/k rows go back to
    /// transformers' order, so the model computes the same logits (to float order within a head).
    @Test(arguments: [("llama-linear", "gptq"), ("qwen3", "awq")])
    func ggufModelsAreWrittenInTheHuggingFaceLayout(fixture: String, method: String) throws {
        let gguf = DecoderFixture.directory.appendingPathComponent(fixture + ".gguf").path
        let rtn = QuantizationConfig(method: "rtn", parameters: ["bits": 4, "group_size": 32, "sym": method == "gptq" ? 1 : 0])
        let model = try ModelLoader.load(gguf, quantization: rtn) as! DecoderModel
        let config = QuantizedCheckpointConfig(method: method == "gptq" ? .gptq : .awq, bits: 4, groupSize: 32, symmetric: method == "gptq")
        let out = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        try GPTQCheckpoint.write(model, config: config, configText: nil, tokenizerDirectory: nil, to: out.path)
        let again = try ModelLoader.load(out.path, quantization: Self.asStored) as! DecoderModel
        #expect(again.config.rope.freqScale == model.config.rope.freqScale && again.config.rope.base == model.config.rope.base)
        let tokens = try DecoderFixture.oracle(fixture).prompt
        let a = try HFQuantFixture.logits(model, tokens), b = try HFQuantFixture.logits(again, tokens)
        let d = HFQuantFixture.maxDifference(a, b)
        #expect(d < 1e-3, "\(fixture): logits move by \(d) through the Hugging Face layout")
        // Without putting the rows back, the written model would compute something else.
        if model.config.rope.style == .interleaved {
            let k = model.layers[0].k as! GroupQuantizedLinear, kBack = again.layers[0].k as! GroupQuantizedLinear
            func row(_ w: GroupQuantizedLinear, _ r: Int) -> [UInt8] { (0..<w.inFeatures).map { w.code(r, $0) } }
            #expect(row(k, 1) == row(kBack, model.config.headSize / 2) && row(k, 2) == row(kBack, 1))
        }
    }

    @Test func mislabelledFilesAreNamed() throws {
        // The v1 (zeros minus one) symmetric Llama file labelled gptq_v2.
        let a = try GPTQCheckpointTests.editedCopy("llama-gptq-g24-act", in: HFQuantFixture.dir) {
            $0 = $0.replacingOccurrences(of: "\"checkpoint_format\": \"gptq\"", with: "\"checkpoint_format\": \"gptq_v2\"")
        }
        defer { try? FileManager.default.removeItem(at: a) }
        #expect { _ = try ModelLoader.load(a.path, quantization: Self.asStored) } throws: { e in
            "\(e)".contains("mislabelled") && "\(e)".contains("model.layers.0.self_attn.q_proj") && "\(e)".contains("every zero point should be 8, but one is 7")
        }
        // The same codes written as gptq_v2, labelled gptq: the zeros would read 9.
        let model = try ModelLoader.load(HFQuantFixture.path("llama-gptq-g24-act"), quantization: Self.asStored) as! DecoderModel
        var v2 = try QuantizedCheckpointConfig.read(directory: HFQuantFixture.path("llama-gptq-g24-act"))!
        v2.v2 = true
        let b = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: b) }
        try GPTQCheckpoint.write(model, config: v2, configText: nil, tokenizerDirectory: nil, to: b.path)
        for file in ["config.json", "quantize_config.json"] {
            let u = b.appendingPathComponent(file)
            try (try String(contentsOf: u, encoding: .utf8)).replacingOccurrences(of: "\"gptq_v2\"", with: "\"gptq\"").write(to: u, atomically: true, encoding: .utf8)
        }
        #expect { _ = try ModelLoader.load(b.path, quantization: Self.asStored) } throws: { e in
            "\(e)".contains("mislabelled") && "\(e)".contains("but one is 9") && "\(e)".contains("checkpoint_format gptq_v2")
        }
    }

    @Test func qweightContradictingTheConfigIsRefused() throws {
        let a = try GPTQCheckpointTests.editedCopy("llama-awq-g32", in: HFQuantFixture.dir) {
            $0 = $0.replacingOccurrences(of: "\"group_size\": 32", with: "\"group_size\": 16")
        }
        defer { try? FileManager.default.removeItem(at: a) }
        #expect { _ = try ModelLoader.load(a.path, quantization: Self.asStored) } throws: { e in
            "\(e)".contains("tensor 'model.layers.0.self_attn.q_proj.scales' has shape [2, 64]") && "\(e)".contains("group_size 16")
        }
        let b = try GPTQCheckpointTests.editedCopy("qwen2-gptq_v2-g32-static", in: HFQuantFixture.dir) {
            $0 = $0.replacingOccurrences(of: "\"bits\": 4", with: "\"bits\": 8")
        }
        defer { try? FileManager.default.removeItem(at: b) }
        #expect { _ = try ModelLoader.load(b.path, quantization: Self.asStored) } throws: { e in
            "\(e)".contains("tensor 'model.layers.0.self_attn.q_proj.qweight' has shape [8, 64]") && "\(e)".contains("bits 8")
        }
    }
}
