// llama.cpp's K-quant mixes against llama-quantize itself: Oracles/kquant-mixes-*.json hold the type
// `llama-quantize --dry-run` gives every tensor of F32 GGUFs of real model shapes (GPT-2 124M,
// SmolLM-135M, TinyLlama-1.1B, and a width-72 Llama where no block fits), for each mix and a few
// --pure types (scripts/oracles/kquant-mixes.py, which with --check also runs `exprun quantize`
// end to end on the big files). Then the mixes as loaders apply them, and GGUF re-quantization.
import Foundation
import Testing
@testable import InferenceCore

private let oracleDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles")
private let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")

private struct MixOracle: Decodable {
    struct Facts: Decodable { let architecture: String; let layers: Int; let gqa: Int }
    let facts: Facts
    let tensors: [[Tensor]]
    let types: [String: [String]]
    enum Tensor: Decodable {
        case name(String), dims([Int])
        init(from d: Decoder) throws {
            let c = try d.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .name(s) } else { self = .dims(try c.decode([Int].self)) }
        }
    }
    var mixTensors: [KQuantMix.Tensor] {
        tensors.map { pair in
            guard case let .name(n) = pair[0], case let .dims(d) = pair[1] else { fatalError("oracle tensor entry is [name, dims]") }
            return KQuantMix.Tensor(name: n, dims: d)
        }
    }
}

@Suite struct KQuantMixTests {
    /// Every tensor of the four models, under every mix and --pure type of the oracle: the type
    /// llama-quantize stores (untouched tensors stay F32, as in the F32 source file).
    @Test(arguments: ["gpt2-124m", "smollm-135m", "tinyllama-1.1b", "odd-72"])
    func tensorTypesEqualLlamaQuantizes(_ model: String) throws {
        let o = try JSONDecoder().decode(MixOracle.self, from: Data(contentsOf: oracleDir.appendingPathComponent("kquant-mixes-\(model).json")))
        let tensors = o.mixTensors
        let facts = KQuantMix.Model(architecture: o.facts.architecture, layers: o.facts.layers, gqa: o.facts.gqa)
        #expect(o.types.count == 16)
        for (key, theirs) in o.types.sorted(by: { $0.key < $1.key }) {
            let pure = key.hasPrefix("pure:")
            let target = try #require(GGMLTarget(name: String(key.dropFirst(pure ? 5 : 0)), pure: pure))
            let asked = target.types(for: tensors, model: facts)
            let ours = tensors.map { t in asked[t.name].map { $0.fitting(rowLength: t.dims[0]).format.rawValue } ?? "f32" }
            let diffs = zip(tensors, zip(ours, theirs)).filter { $0.1.0 != $0.1.1 }.map { "\($0.0.name): \($0.1.0) vs llama.cpp's \($0.1.1)" }
            #expect(diffs.isEmpty, "\(model) \(key): \(diffs.count) of \(tensors.count) tensors differ: \(diffs.prefix(4).joined(separator: "; "))")
        }
    }

    /// A mix as a quantization name: the loader gives each GPT-2 matrix the type the rules choose
    /// for its llama.cpp name (on the tiny model every K-type falls back: 64 columns).
    @Test func loadersResolveAMixTensorByTensor() throws {
        let model = try ModelLoader.load(sharedData.appendingPathComponent("gpt2-tiny-random").path,
                                         quantization: QuantizationConfig(method: "q4_k_m")) as! GPT2
        let c = model.config
        let asked = GGMLTarget.mix(.q4_k_m).types(for: GGUFExport.gpt2Tensors(c, tiedHead: true), model: GGUFExport.gpt2MixModel(c))
        let formats = Dictionary(uniqueKeysWithValues: model.weights.map { ($0.name, $0.format) })
        #expect(formats["transformer.h.1.attn.c_attn.weight"] == "q8_0")     // last layer: Q6_K (use_more_bits) → Q8_0
        #expect(formats["transformer.h.0.attn.c_attn.weight"] == "q5_0")     // Q4_K → Q5_0
        #expect(formats["transformer.h.0.mlp.c_fc.weight"] == "q5_0")
        #expect(formats["transformer.wte.weight"] == "q8_0")                 // the tied head: Q8_0, 64 % 256 ≠ 0
        for (i, name) in [(0, "attn.c_attn"), (1, "attn.c_proj"), (1, "mlp.c_proj")] {
            let want = asked[GGUFExport.gpt2TensorName("h.\(i).\(name)")]!.fitting(rowLength: name == "mlp.c_proj" ? c.innerSize : c.embeddingSize).format
            #expect(formats["transformer.h.\(i).\(name).weight"] == want.name)
        }
    }

    /// `exprun quantize model.gguf --to MIX`: types by the rules, blocks equal to quantizing the
    /// source rows directly, untouched tensors copied byte for byte, metadata kept.
    @Test func ggufRequantizationKeepsEverythingElse() throws {
        let model = try ModelLoader.load(sharedData.appendingPathComponent("gpt2-tiny-random").path)
        let tmp = FileManager.default.temporaryDirectory
        let src = tmp.appendingPathComponent("exprun-mix-src-\(getpid()).gguf").path, dst = tmp.appendingPathComponent("exprun-mix-dst-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: src); try? FileManager.default.removeItem(atPath: dst) }
        _ = try GGUFExport.write(model, type: .f32, tokenizerDirectory: nil, name: "tiny", to: src)
        let f32 = try GGUFFile(path: src)
        let written = try GGUFRequantize.write(f32, target: .mix(.q3_k_m), to: dst)
        let out = try GGUFFile(path: dst)
        #expect(out.metadata["general.file_type"] == .uint32(12))
        #expect(out.metadata["tokenizer.ggml.merges"] == f32.metadata["tokenizer.ggml.merges"])
        let asked = GGMLTarget.mix(.q3_k_m).types(for: f32.mixTensors, model: try f32.mixModel())
        for info in f32.tensors {
            let o = try #require(out.tensorInfo(info.name))
            guard let t = asked[info.name] else {
                #expect(o.type == info.type && Data(bytes: out.storage.base + o.fileOffset, count: o.byteCount) == Data(bytes: f32.storage.base + info.fileOffset, count: info.byteCount))
                continue
            }
            let type = t.fitting(rowLength: info.dims[0]).format
            #expect(o.type.rawValue == type.ggmlTypeID)
            let values = try f32.tensor(info.name).toFloatArray()
            var direct = [UInt8](repeating: 0, count: o.byteCount)
            let n = info.dims[0]
            values.withUnsafeBufferPointer { v in direct.withUnsafeMutableBytes { d in
                for r in 0..<values.count / n { GGMLLinear.quantizeRow(type, v.baseAddress! + r * n, count: n, into: d.baseAddress! + r * type.rowBytes(n)) }
            } }
            #expect(Data(bytes: out.storage.base + o.fileOffset, count: o.byteCount) == Data(direct), "\(info.name)")
        }
        for w in written where asked[w.name] != nil {
            #expect((w.note != nil) == (w.type != asked[w.name]!.name), "\(w.name): a note exactly where the type fell back")
        }
    }
}
