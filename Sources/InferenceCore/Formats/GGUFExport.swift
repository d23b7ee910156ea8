// A loaded model → a GGUF file that llama.cpp runs: its architecture's metadata and tensor names
// (llama.cpp's, from src/models/gpt2.cpp), the tokenizer as `tokenizer.ggml.*`, and every matrix
// in the requested ggml type or K-quant mix (GGMLTarget). Which tensors are quantized, and to
// what, follows `llama-quantize`: matrices (token embedding and output head included) are; norms,
// biases and GPT-2's position embedding stay F32; a mix chooses per tensor by llama.cpp's rules
// (Quant/KQuantMix.swift); a matrix whose rows do not fit the type's block falls back as llama.cpp does.
//
// GPT-2 in llama.cpp's names (ggml dims innermost first; exprun's shapes are the reverse, so the
// `[out, in]` LinearWeights are written as they are):
//   token_embd.weight [vocab, d]   position_embd.weight [n_ctx, d]   output_norm.{weight,bias} [d]
//   blk.N.attn_norm.{weight,bias}  blk.N.attn_qkv.{weight [3d, d], bias}  blk.N.attn_output.{weight [d, d], bias}
//   blk.N.ffn_norm.{weight,bias}   blk.N.ffn_up.{weight [f, d], bias}     blk.N.ffn_down.{weight [d, f], bias}
//   output.weight [vocab, d] only when the head is not tied to token_embd
import Foundation

public enum GGUFExport {
    /// One tensor as written, for the command's listing.
    public struct Written: Sendable {
        public let name: String
        public let shape: [Int]
        public let type: String
        public let bytes: Int
        public let note: String?
    }

    /// Writes `model` to `path` with its matrices in `type`. `tokenizerDirectory` holds GPT-2's
    /// `vocab.json` and `merges.txt` (llama.cpp will not load a model without its vocabulary);
    /// nil takes the GPT-2 tokenizer bundled with the package (for `random:gpt2`).
    /// Every matrix in `type` (`llama-quantize --pure`).
    public static func write(_ model: LanguageModel, type: GGMLFormat, tokenizerDirectory: String?,
                             name: String, to path: String) throws -> [Written] {
        try write(model, target: .pure(type), tokenizerDirectory: tokenizerDirectory, name: name, to: path)
    }

    public static func write(_ model: LanguageModel, target: GGMLTarget, tokenizerDirectory: String?,
                             name: String, to path: String) throws -> [Written] {
        guard let gpt2 = model as? GPT2 else {
            throw CoreError.unsupported("GGUF export of '\(model.architecture)' models (only gpt2 so far; a .gguf model of any architecture can be re-quantized)")
        }
        let c = gpt2.config
        let types = target.types(for: gpt2Tensors(c, tiedHead: gpt2.head === gpt2.wte), model: gpt2MixModel(c))
        var w = GGUFWriter()
        w.set("general.architecture", .string("gpt2"))
        w.set("general.name", .string(name))
        w.set("general.file_type", .uint32(target.llamaFileType))
        w.set("general.quantization_version", .uint32(2))
        w.set("gpt2.context_length", .uint32(UInt32(c.contextLength)))
        w.set("gpt2.embedding_length", .uint32(UInt32(c.embeddingSize)))
        w.set("gpt2.feed_forward_length", .uint32(UInt32(c.innerSize)))
        w.set("gpt2.block_count", .uint32(UInt32(c.layerCount)))
        w.set("gpt2.attention.head_count", .uint32(UInt32(c.headCount)))
        w.set("gpt2.attention.layer_norm_epsilon", .float32(c.layerNormEpsilon))
        let tokenizerDirectory = try tokenizerDirectory ?? Tokenizers.bundledResource("gpt2").path
        for (k, v) in try tokenizerMetadata(directory: tokenizerDirectory, vocabularySize: c.vocabSize,
                                            bos: c.bosTokenID ?? 50256, eos: c.eosTokenID ?? 50256) {
            w.set(k, v)
        }

        var written: [Written] = []
        func matrix(_ ggufName: String, _ weight: LinearWeight) throws {
            let q = try GGMLLinear.quantize(weight.dequantized(), out: weight.outFeatures, in: weight.inFeatures, as: types[ggufName]!)
            try w.add(name: ggufName, weight: q)
            written.append(Written(name: ggufName, shape: [q.outFeatures, q.inFeatures], type: q.type.name, bytes: q.storedBytes, note: q.note))
        }
        func vector(_ ggufName: String, _ values: [Float], shape: [Int]? = nil) throws {
            let s = shape ?? [values.count]
            try w.add(name: ggufName, shape: s, values: values)
            written.append(Written(name: ggufName, shape: s, type: "fp32", bytes: 4 * values.count, note: nil))
        }

        try matrix("token_embd.weight", gpt2.wte)
        if case let .pure(type) = target, type == .f32 || type == .f16 {
            let pos = try GGMLLinear.quantize(gpt2.wpe, out: c.contextLength, in: c.embeddingSize, as: type)
            try w.add(name: "position_embd.weight", weight: pos)
            written.append(Written(name: "position_embd.weight", shape: [c.contextLength, c.embeddingSize], type: pos.type.name, bytes: pos.storedBytes, note: nil))
        } else {
            try vector("position_embd.weight", gpt2.wpe, shape: [c.contextLength, c.embeddingSize])   // llama-quantize never quantizes it
        }
        for (i, b) in gpt2.blocks.enumerated() {
            let p = "blk.\(i)."
            try vector(p + "attn_norm.weight", b.ln1Weight); try vector(p + "attn_norm.bias", b.ln1Bias)
            try matrix(p + "attn_qkv.weight", b.attention); try vector(p + "attn_qkv.bias", b.attentionBias)
            try matrix(p + "attn_output.weight", b.attentionProjection); try vector(p + "attn_output.bias", b.attentionProjectionBias)
            try vector(p + "ffn_norm.weight", b.ln2Weight); try vector(p + "ffn_norm.bias", b.ln2Bias)
            try matrix(p + "ffn_up.weight", b.fc); try vector(p + "ffn_up.bias", b.fcBias)
            try matrix(p + "ffn_down.weight", b.projection); try vector(p + "ffn_down.bias", b.projectionBias)
        }
        try vector("output_norm.weight", gpt2.lnfWeight); try vector("output_norm.bias", gpt2.lnfBias)
        if gpt2.head !== gpt2.wte { try matrix("output.weight", gpt2.head) }
        try w.write(to: path)
        return written
    }

    /// GPT-2's matrices under llama.cpp's names, dimensions innermost first (for the type rules).
    static func gpt2Tensors(_ c: GPT2Config, tiedHead: Bool) -> [KQuantMix.Tensor] {
        let d = c.embeddingSize, f = c.innerSize, v = c.vocabSize
        var t = [KQuantMix.Tensor(name: "token_embd.weight", dims: [d, v]), KQuantMix.Tensor(name: "position_embd.weight", dims: [d, c.contextLength])]
        for i in 0..<c.layerCount {
            t += [.init(name: "blk.\(i).attn_qkv.weight", dims: [d, 3 * d]), .init(name: "blk.\(i).attn_output.weight", dims: [d, d]),
                  .init(name: "blk.\(i).ffn_up.weight", dims: [d, f]), .init(name: "blk.\(i).ffn_down.weight", dims: [f, d])]
        }
        if !tiedHead { t.append(.init(name: "output.weight", dims: [d, v])) }
        return t
    }

    static func gpt2MixModel(_ c: GPT2Config) -> KQuantMix.Model { .init(architecture: "gpt2", layers: c.layerCount, gqa: 1) }

    /// llama.cpp's name of a GPT-2 checkpoint matrix (`h.3.mlp.c_fc` → `blk.3.ffn_up.weight`).
    static func gpt2TensorName(_ checkpointName: String) -> String {
        if checkpointName == "wte" { return "token_embd.weight" }
        if checkpointName == "lm_head" { return "output.weight" }
        let parts = checkpointName.split(separator: ".", maxSplits: 2)
        let role = ["attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"]
        guard parts.count == 3, parts[0] == "h", let r = role[String(parts[2])] else { return checkpointName }
        return "blk.\(parts[1]).\(r).weight"
    }

    /// GPT-2's byte-level BPE vocabulary as llama.cpp's `tokenizer.ggml.*` keys: tokens in id order,
    /// merges in rank order, token types (1 normal, 3 control for `<|endoftext|>`).
    static func tokenizerMetadata(directory: String, vocabularySize: Int, bos: Int, eos: Int) throws -> [(String, GGUFValue)] {
        let dir = URL(fileURLWithPath: directory)
        let vocabPath = dir.appendingPathComponent("vocab.json").path, mergesPath = dir.appendingPathComponent("merges.txt").path
        guard let vocabData = FileManager.default.contents(atPath: vocabPath) else {
            throw CoreError.file(vocabPath, "missing: GGUF export needs the model's vocab.json and merges.txt (pass --tokenizer DIR)")
        }
        guard let vocab = (try? JSONSerialization.jsonObject(with: vocabData)) as? [String: Int] else {
            throw CoreError.file(vocabPath, "not a JSON object of token → id")
        }
        var tokens = [String?](repeating: nil, count: vocab.count)
        for (t, id) in vocab {
            guard id >= 0, id < vocab.count, tokens[id] == nil else { throw CoreError.file(vocabPath, "ids are not 0..<\(vocab.count), each once (token '\(t)' has \(id))") }
            tokens[id] = t
        }
        guard vocab.count == vocabularySize else {
            throw CoreError.file(vocabPath, "has \(vocab.count) tokens but the model's vocabulary is \(vocabularySize)")
        }
        guard let mergesText = try? String(contentsOfFile: mergesPath, encoding: .utf8) else {
            throw CoreError.file(mergesPath, "missing or not UTF-8: GGUF export needs the model's merges.txt")
        }
        let merges = mergesText.split(separator: "\n", omittingEmptySubsequences: true)
            .filter { !$0.hasPrefix("#version") }.map { GGUFValue.string(String($0)) }
        let types = tokens.map { GGUFValue.int32($0 == "<|endoftext|>" ? 3 : 1) }
        return [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0 ?? "") })),
            ("tokenizer.ggml.token_type", .array(.int32, types)),
            ("tokenizer.ggml.merges", .array(.string, merges)),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos))),
        ]
    }
}
