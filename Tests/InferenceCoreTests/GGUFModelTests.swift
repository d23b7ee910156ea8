// Models read back from GGUF files: a GPT-2 written by GGUFExport in F32 must give exactly the
// logits of the model it was written from (and in Q8_0, what that Q8_0 model gives once
// dequantized); a GGUF whose architecture exprun does not know, or whose metadata is missing a
// key, is one clear error naming the file and the key.
import Foundation
import Testing
@testable import InferenceCore

@Suite struct GGUFModelTests {
    static let reference = "random:gpt2?n_layer=2&n_embd=64&n_head=4&n_positions=32&seed=5"

    @Test func gpt2RoundTripsThroughGGUF() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try ModelLoader.load(Self.reference)
        let path = dir.appendingPathComponent("tiny.gguf").path
        _ = try GGUFExport.write(original, type: .f32, tokenizerDirectory: nil, name: "tiny", to: path)
        let loaded = try ModelLoader.load(path)
        #expect(loaded is GPT2 && loaded.tokenizer != nil)
        let tokens = [464, 2068, 7586, 21831]
        let a = try original.forward(tokens, cache: original.makeCache(capacity: 8), allLogits: true)
        let b = try loaded.forward(tokens, cache: loaded.makeCache(capacity: 8), allLogits: true)
        #expect(a == b)
        #expect(throws: CoreError.self) { try ModelLoader.load(path, quantization: QuantizationConfig(method: LlamaGGUF.asStored)) }
    }

    @Test func unknownArchitectureAndMissingKeysAreClearErrors() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ arch: String, _ keys: [String: GGUFValue]) throws -> String {
            var w = GGUFWriter()
            w.set("general.architecture", .string(arch))
            for (k, v) in keys.sorted(by: { $0.key < $1.key }) { w.set(k, v) }
            try w.add(name: "token_embd.weight", shape: [8, 4], values: [Float](repeating: 0.5, count: 32))
            let path = dir.appendingPathComponent("\(arch)-\(keys.count).gguf").path
            try w.write(to: path)
            return path
        }
        let mamba = try write("mamba", [:])
        #expect { try ModelLoader.load(mamba) } throws: {
            "\($0)".contains("general.architecture 'mamba' is not supported") && "\($0)".contains("llama, qwen2, qwen3, phi3, gemma, gemma2, gemma3, gpt2")
        }
        let llama = try write("llama", ["llama.embedding_length": .uint32(4), "llama.block_count": .uint32(1), "llama.context_length": .uint32(64)])
        #expect { try ModelLoader.load(llama) } throws: { "\($0)".contains(llama) && "\($0)".contains("missing metadata 'llama.feed_forward_length'") }
    }
}
