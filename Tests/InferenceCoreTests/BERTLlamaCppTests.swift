// all-MiniLM-L6-v2 in the ggml types with no other check on the encoder, against llama.cpp itself
// (Oracles/bert/minilm-llama.cpp.*, made by scripts/oracles/bert-llama.cpp.py: llama-quantize writes
// each type from llama.cpp's own F32 conversion, `--pure` for one type throughout and without it for
// the K-quant mixes, and llama-cpp-python 0.3.36 embeds 8 sentences with each file).
import Foundation
import Testing
@testable import InferenceCore

extension MiniLMTests {
    struct LlamaCppOracle: Decodable {
        struct Quantize: Decodable { var type: String; var pure: Bool }
        var first: Int
        var sentences: Int
        var quantize: [String: Quantize]
        var tensor_types: [String: [String: String]]
    }
    static let llamaCpp = (
        file: try! SafeTensorsFile(path: BERTFixture.oracles.appendingPathComponent("minilm-llama.cpp.safetensors").path),
        meta: try! JSONDecoder().decode(LlamaCppOracle.self, from: Data(contentsOf: BERTFixture.oracles.appendingPathComponent("minilm-llama.cpp.json"))))
    static var llamaCppTexts: [String] {
        let all = try! BERTFixture.meta(BERTFixture.oracles.appendingPathComponent("minilm-extra.json")).sentences.map(\.text)
        return Array(all[llamaCpp.meta.first ..< llamaCpp.meta.first + llamaCpp.meta.sentences])
    }

    /// Lowest cosine between each text's vector and the matching row of `expected`.
    static func lowestCosine(_ e: SentenceEncoder.Embeddings, _ expected: [Float]) -> Float {
        (0..<e.count).map { i in zip(e.vector(i), expected[i * 384 ..< (i + 1) * 384]).reduce(Float(0)) { $0 + $1.0 * $1.1 } }.min()!
    }

    /// The control: llama.cpp's F32 file embeds as exprun's FP32 model (and sentence-transformers)
    /// but for its GELU, ggml's tanh form where BERT's is erf (1 − cosine 2e-6, entries within 3.3e-4).
    @Test func llamaCppF32MatchesFP32() throws {
        let e = try Self.model.encode(Self.llamaCppTexts)
        let worst = 1 - Self.lowestCosine(e, try BERTFixture.floats(Self.llamaCpp.file, "f32.embeddings"))
        #expect(worst < 1e-5, "1 − cosine to llama.cpp's F32: \(worst)")
    }

    /// Each type: every matrix stored in the type llama-quantize gave it (the mixes' choices per
    /// layer and role, the fallbacks for 384-wide rows), and embeddings that agree with llama.cpp's
    /// far more closely than either agrees with FP32. Agreement is not exact: llama.cpp's GELU is
    /// the tanh form, and both sides quantize every Linear's input to 8 bits, so a last-bit
    /// difference upstream flips an activation's rounding. Measured (2026-11-30): 1 − cosine to
    /// llama.cpp 1.5e-4 to 3.1e-4 for every type, where the types' own distance from FP32 is 7e-3
    /// (q5_k_m) to 6e-2 (iq4_nl; q2_k pure 0.21); the bound is a tenth of that distance, at least
    /// 5e-4. A wrong block layout or scale moves a type by its whole distance.
    @Test(arguments: ["q4_1", "q5_1", "q2_k-pure", "q3_k", "q5_k", "iq4_nl", "iq4_xs",
                      "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m"])
    func ggmlTypeMatchesLlamaCpp(type: String) throws {
        let pure = Self.llamaCpp.meta.quantize[type]!.pure
        let method = type.replacingOccurrences(of: "-pure", with: "")
        let config = QuantizationConfig(method: method, parameters: pure && KQuantMix(rawValue: method) != nil ? ["pure": 1] : [:])
        let q = try SentenceEncoder.load(BERTFixture.miniLM!, quantization: config)
        let names = BERT.ggufNames(layers: q.bert.config.layerCount), stored = Self.llamaCpp.meta.tensor_types[type]!
        var matrices = 0
        for w in q.weights where w.shape.count == 2 {
            let expected = stored[names[w.name]!].map { $0 == "F32" ? "fp32" : $0.lowercased() } ?? "missing"
            #expect(w.format == expected, "\(type): \(w.name) stored as \(w.format), llama-quantize: \(expected)")
            matrices += 1
        }
        #expect(matrices == stored.count)
        let texts = Self.llamaCppTexts
        let e = try q.encode(texts, batchSize: 4)
        let llama = try BERTFixture.floats(Self.llamaCpp.file, type + ".embeddings")
        let toLlama = 1 - Self.lowestCosine(e, llama)
        let llamaToFP32 = 1 - Self.lowestCosine(try Self.model.encode(texts), llama)
        #expect(toLlama < max(5e-4, llamaToFP32 / 10), "\(type): 1 − cosine to llama.cpp \(toLlama), llama.cpp's to FP32 \(llamaToFP32)")
    }
}
