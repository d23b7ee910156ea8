// GPT-2 from a GGUF file (llama.cpp's `gpt2` architecture, as llama.cpp's converter and exprun's
// `quantize` write it): the `gpt2.*` metadata becomes a GPT2Config and llama.cpp's tensor names map
// onto GPT2.swift's checkpoint names. GGUF stores every matrix as `[out, in]` (ggml's row-per-output
// layout), which is what GPT2.swift asks a Conv1D weight to be turned into, so nothing is transposed.
// The weights are dequantized to F32 and quantized per the configuration: GPT2.swift builds its
// own LinearWeights, so a GPT-2 GGUF cannot run `as-stored` (Llama-family GGUFs can).
import Foundation

public enum GPT2GGUF {
    static func load(_ file: GGUFFile, quantization: QuantizationConfig, threads: Int) throws -> GPT2 {
        let path = file.path
        guard quantization.method != LlamaGGUF.asStored else {
            throw CoreError.unsupported("\(path): as-stored is implemented for Llama-family GGUFs; run this GPT-2 GGUF as fp32 or re-quantize it (e.g. --quant q8_0)")
        }
        func required(_ key: String) throws -> Int {
            guard let v = try file.int("gpt2." + key) else { throw CoreError.file(path, "missing metadata 'gpt2.\(key)'") }
            return v
        }
        guard let embd = file.tensorInfo("token_embd.weight"), embd.shape.count == 2 else {
            throw CoreError.file(path, "no 2-D tensor 'token_embd.weight' (the token embedding)")
        }
        var values: [String: ParsedJSON] = [
            "model_type": .string("gpt2"), "vocab_size": .int(embd.shape[0]),
            "n_positions": .int(try required("context_length")), "n_embd": .int(try required("embedding_length")),
            "n_layer": .int(try required("block_count")), "n_head": .int(try required("attention.head_count")),
            "n_inner": .int(try required("feed_forward_length")), "activation_function": .string("gelu_new"),
        ]
        if let eps = try file.float("gpt2.attention.layer_norm_epsilon") { values["layer_norm_epsilon"] = .double(Double(eps)) }
        let config = try GPT2Config(HFConfig(values: values, source: path))
        let hasHead = file.tensorInfo("output.weight") != nil
        let tokenizer = try Tokenizers.load(gguf: file)
        file.dropArrays()     // the parsed vocabulary is not held beside the weights while they load
        let source: GPT2.WeightSource = { name, shape, transpose in
            let gguf = try ggufName(name, path: path)
            guard let info = file.tensorInfo(gguf) else { throw CoreError.file(path, "missing tensor \(quoted: gguf)") }
            let expected = transpose ? Array(shape.reversed()) : shape
            guard info.shape == expected else {
                throw CoreError.file(path, "tensor \(quoted: gguf) has shape \(info.shape); the metadata implies \(expected)")
            }
            if info.shape.count == 2 {
                return try LlamaGGUF.WeightLoader(file: file, quantization: .fp32).rows(info, out: info.shape[0], in: info.shape[1])
            }
            let values = try LlamaGGUF.floats(file, info, count: info.elementCount)
            return WeightRows(values, out: shape.count == 1 ? 1 : shape[0], in: shape.last!)
        }
        return try GPT2(config: config, source: source, hasLMHead: hasHead, quantization: quantization, threads: threads,
                        tokenizer: tokenizer)
    }

    /// GPT2.swift's checkpoint name → llama.cpp's.
    static func ggufName(_ name: String, path: String) throws -> String {
        let fixed = ["wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
                     "ln_f.bias": "output_norm.bias", "lm_head.weight": "output.weight"]
        if let n = fixed[name] { return n }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)     // h, N, rest
        let inner = ["ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
                     "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"]
        if parts.count == 3, parts[0] == "h", let suffix = ["weight", "bias"].first(where: { parts[2].hasSuffix("." + $0) }) {
            let module = String(parts[2].dropLast(suffix.count + 1))
            if let m = inner[module] { return "blk.\(parts[1]).\(m).\(suffix)" }
        }
        throw CoreError.file(path, "no GGUF tensor corresponds to GPT-2's \(quoted: name)")
    }
}
