// GGUF export read back by exprun's GGUF reader (what PyPI's gguf package reads in the same files is
// checked by ExpRunKitTests/GGUFExportOracleTests, and llama.cpp loads them in scripts/bench-quant): metadata that
// llama.cpp needs, tensor names/shapes/types, the fallback of rows that do not fit, and tensor
// bytes equal to the weights of the model they came from.
import Foundation
import Testing
@testable import InferenceCore

private let dataDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("shared/data")

@Suite struct GGUFWriterTests {
    let tiny = dataDir.appendingPathComponent("gpt2-tiny-random").path

    func export(_ type: GGMLFormat) throws -> (GGUFFile, GPT2, [GGUFExport.Written]) {
        let model = try ModelLoader.load(tiny) as! GPT2
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exprun-test-\(type.rawValue)-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let written = try GGUFExport.write(model, type: type, tokenizerDirectory: tiny, name: "tiny", to: path)
        return (try GGUFFile(path: path), model, written)
    }

    @Test func metadataAndNamesAreLlamaCpps() throws {
        let (f, model, _) = try export(.f32)
        #expect(f.version == 3)
        #expect(try f.string("general.architecture") == "gpt2")
        #expect(try f.int("gpt2.block_count") == 2)
        #expect(try f.int("gpt2.embedding_length") == 64)
        #expect(try f.int("gpt2.feed_forward_length") == 256)
        #expect(try f.int("gpt2.attention.head_count") == 4)
        #expect(try f.int("gpt2.context_length") == 256)
        #expect(try f.float("gpt2.attention.layer_norm_epsilon") == model.config.layerNormEpsilon)
        #expect(try f.string("tokenizer.ggml.model") == "gpt2")
        let tokens = try #require(try f.strings("tokenizer.ggml.tokens"))
        #expect(tokens.count == 50257 && tokens[50256] == "<|endoftext|>" && tokens[220] == "Ġ")
        #expect(try f.strings("tokenizer.ggml.merges")?.count == 50000)
        #expect(try f.strings("tokenizer.ggml.merges")?.first == "Ġ t")
        #expect(try f.ints("tokenizer.ggml.token_type")?[50256] == 3)
        #expect(f.tensors.count == 4 + 12 * 2)
        for t in f.tensors { #expect((t.fileOffset - f.dataOffset) % 32 == 0) }
        let qkv = try #require(f.tensorInfo("blk.1.attn_qkv.weight"))
        #expect(qkv.dims == [64, 192] && qkv.type == .f32)
        // F32 tensors are the model's weights exactly (c_attn transposed to [out, in] at load).
        let data = f.data(qkv).assumingMemoryBound(to: Float.self)
        let expected = model.blocks[1].attention.dequantized()
        #expect((0..<expected.count).allSatisfy { data[$0] == expected[$0] })
        let emb = try f.tensor("token_embd.weight").toFloatArray()
        #expect(emb == model.wte.dequantized())
    }

    @Test func quantizedTensorsAreTheQuantizersBlocksWithLlamaCppsFallback() throws {
        let (f, model, written) = try export(.q4_k)
        // n_embd 64 is no multiple of 256: those matrices fall back to Q5_0; ffn_down (rows of 256) stays Q4_K
        #expect(f.tensorInfo("blk.0.attn_qkv.weight")?.type == .q5_0)
        #expect(f.tensorInfo("blk.0.ffn_down.weight")?.type == .q4_K)
        #expect(f.tensorInfo("token_embd.weight")?.type == .q5_0)
        #expect(f.tensorInfo("position_embd.weight")?.type == .f32)
        #expect(written.first { $0.name == "blk.0.ffn_up.weight" }?.note?.contains("q5_0") == true)
        let info = try #require(f.tensorInfo("blk.0.ffn_down.weight"))
        let w = model.blocks[0].projection
        let q = try GGMLLinear.quantize(w.dequantized(), out: w.outFeatures, in: w.inFeatures, as: .q4_k)
        #expect(info.byteCount == q.storedBytes)
        // (in memory the rows are interleaved in groups of 8; the file holds them plainly)
        var plain = [UInt8](repeating: 0, count: q.storedBytes)
        plain.withUnsafeMutableBytes { p in for r in 0..<q.outFeatures { q.copyPlainRow(r, into: p.baseAddress! + r * q.rowBytes) } }
        #expect(memcmp(f.data(info), plain, q.storedBytes) == 0)
        // and what the file holds decodes to the same values as a GGMLLinear over the mapped bytes
        let mapped = try GGMLLinear(type: .q4_k, out: 64, in: 256, storage: f.storage, byteOffset: info.fileOffset)
        #expect(mapped.dequantized() == q.dequantized())
    }
}
