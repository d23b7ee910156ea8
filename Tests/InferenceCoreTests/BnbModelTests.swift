// Whole-model oracles: the tiny GPT-2 loaded by transformers 5.17 with bitsandbytes 0.50.2
// (`reference-bnb-logits.safetensors`; CUDA, compute dtype float32, every block Conv1D replaced by
// Linear4bit / Linear8bitLt, the tied head left in float32). exprun loads the same checkpoint with
// the matching quantization and must give the same logits (within 0.01; 4-bit quantization itself
// moves them by ~0.5) and the same greedy continuations. int8 lands within 1e-5: it needs both of
// bitsandbytes' own roundings (the bias added to the fp16 output in fp16; scales as 127·(1/absmax)),
// without either the logits are 0.03-0.04 off.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct BnbModelTests {
    static let configs: [(String, QuantizationConfig)] = [
        ("nf4", QuantizationConfig(method: "bnb-nf4")),
        ("fp4", QuantizationConfig(method: "bnb-fp4")),
        ("nf4-dq", QuantizationConfig(method: "bnb-nf4", parameters: ["double_quant": 1])),
        ("int8-t0", QuantizationConfig(method: "bnb-int8", parameters: ["threshold": 0])),
        ("int8-t6", QuantizationConfig(method: "bnb-int8", parameters: ["threshold": 6])),
    ]

    @Test(arguments: configs)
    func logitsAndGreedyMatchBitsandbytes(name: String, config: QuantizationConfig) throws {
        let oracle = try BnbOracle.file("reference-bnb-logits.safetensors")
        let model = try ModelLoader.load(Fixture.tiny, quantization: config, threads: 2)
        // Embeddings and the tied head stay F32, as bitsandbytes leaves them.
        #expect(model.weights.filter { $0.format == config.method }.count == 8)
        for (prompt, ids) in Fixture.prompts {
            let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), allLogits: true)
            let expected = try oracle.floats("\(name).logits.\(prompt)")
            let diff = Fixture.maxAbsDifference(logits, expected)
            #expect(diff <= (config.method == "bnb-int8" ? 1e-4 : 0.01), "\(name) \(prompt): max |Δlogit| = \(diff)")
            let greedy = try oracle.tensor("\(name).greedy.\(prompt)").toInt64Array().map(Int.init)
            #expect(try Fixture.greedy(model, ids) == greedy, "\(name) \(prompt)")
        }
    }
}
