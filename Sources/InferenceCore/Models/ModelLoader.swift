// Model references → loaded models. A reference is a Hugging Face model directory
// (config.json + safetensors: GPT-2 here, the Llama family in DecoderHF.swift), a .gguf file, or
// `random:` synthetic weights of a configured shape:
//
//   random:gpt2                                   GPT-2 small (124M)
//   random:gpt2?n_layer=2&n_embd=64&n_head=4&seed=7   any GPT-2 config.json key, plus seed
//   random:/path/to/hf-dir                        that directory's config.json (and tokenizer)
//
// Synthetic weights follow transformers' initialisation (N(0, initializer_range) for matrices
// and embeddings, c_proj scaled by 1/√(2·n_layer), layer norms 1 and 0, biases 0), each tensor
// from its own stream seeded by (seed, name), so a model is the same whatever the thread count.
// They are valid for memory and speed measurements only.
import Foundation

public enum ModelLoader {
    /// `calibrated` receives what calibration did when `quantization` is a calibrated method (gptq,
    /// awq): the model is loaded in FP32 (a GGUF's dequantized weights) and quantized on its
    /// calibration set before it is returned.
    public static func load(_ reference: String, quantization: QuantizationConfig = .fp32,
                            threads: Int = 1, calibrated: ((CalibrationReport) -> Void)? = nil) throws -> LanguageModel {
        if Quantization.method(named: quantization.method)?.calibrated == true {
            // The block weights of GPT-2 and of a Llama-family model (GGUF or Hugging Face directory)
            // stay with their source until the calibration pass reaches them (Calibration/DeferredLinear.swift).
            let model = try load(reference, quantization: .fp32, threads: threads, deferringBlocks: true)
            let report = try Calibration.quantize(model, config: quantization)
            calibrated?(report)
            return model
        }
        return try load(reference, quantization: quantization, threads: threads, deferringBlocks: false)
    }

    static func load(_ reference: String, quantization: QuantizationConfig, threads: Int, deferringBlocks: Bool) throws -> LanguageModel {
        if reference.hasPrefix("random:") {
            let (config, seed, directory) = try randomConfig(reference)
            let gpt2 = try GPT2Config(config)
            let bytes = gpt2.parameterEstimate * 4
            guard bytes < Double(ProcessInfo.processInfo.physicalMemory) else {
                throw CoreError.invalid("\(reference): \(String(format: "%.3g", gpt2.parameterEstimate)) parameters (\(Int(bytes / 1e9)) GB in F32) do not fit in this machine's memory")
            }
            // random:gpt2 carries the bundled GPT-2 tokenizer when its vocabulary can hold the ids.
            let tokenizer = try directory.map { try tokenizerIfPresent(directory: $0) }
                ?? (gpt2.vocabSize >= 50257 ? try Tokenizers.gpt2() : nil)
            let source = randomSource(gpt2, seed: seed, threads: threads)
            return try GPT2(config: gpt2, source: source, quantization: quantization, threads: threads, tokenizer: tokenizer,
                            stored: deferringBlocks ? deferred(source, gpt2) : nil)
        }
        if reference.hasSuffix(".gguf") {
            let file = try GGUFFile(path: reference)
            if try file.string("general.architecture") == "gpt2" {
                return try GPT2GGUF.load(file, quantization: quantization, threads: threads)
            }
            if try file.string("general.architecture") == "bert" {
                throw CoreError.unsupported("\(reference) is a sentence encoder (architecture bert), not a language model: use `exprun embed`, or an experiment with `texts:` / `corpus:`")
            }
            return try LlamaGGUF.load(file, quantization: quantization, threads: threads, deferringBlocks: deferringBlocks)
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: reference, isDirectory: &isDir) else {
            throw CoreError.file(reference, "no such file or directory (expected a Hugging Face model directory, a .gguf file, or random:gpt2)")
        }
        guard isDir.boolValue else {
            throw CoreError.file(reference, "not a model directory (expected config.json and *.safetensors inside)")
        }
        let config = try HFConfig(path: URL(fileURLWithPath: reference).appendingPathComponent("config.json").path)
        let type = try config.string("model_type")
        if type == "bert" {
            throw CoreError.unsupported("\(reference) is a sentence encoder (model_type bert), not a language model: use `exprun embed`, or an experiment with `texts:` / `corpus:`")
        }
        if let type, DecoderHF.architectures[type] != nil {
            return try DecoderHF.load(directory: reference, config: config, quantization: quantization, threads: threads,
                                      deferringBlocks: deferringBlocks)
        }
        guard type == "gpt2" else {
            let known = (["gpt2"] + DecoderHF.architectures.keys.sorted()).joined(separator: ", ")
            throw CoreError.file(config.source, type == nil ? "missing model_type" : "model_type \(quoted: type!) is not supported (known: \(known), and bert as an encoder)")
        }
        let gpt2 = try GPT2Config(config)
        let checkpoint = try SafeTensorsCheckpoint(reference)
        let packed = try QuantizedCheckpointConfig.read(directory: reference)
        let (source, hasHead) = try checkpointSource(checkpoint, gpt2, quantized: packed)
        var stored: ((String) throws -> LinearWeight?)?
        if let packed {
            // A GPTQ / AWQ checkpoint: its linear layers run on their packed codes (`as-stored`),
            // or are dequantized into the format asked for.
            stored = { name in
                guard let (out, n) = gpt2.linearShape(name) else { return nil }
                let w = try GPTQCheckpoint.linear(checkpoint, prefix: name, out: out, in: n, config: packed)
                if quantization.method == LlamaGGUF.asStored { return w }
                let config = Quantization.applies(to: name, role: .linear, config: quantization) ? quantization : .fp32
                return try Quantization.quantize(WeightRows(dequantizing: w), config: config)
            }
        }
        if stored == nil && deferringBlocks { stored = deferred(source, gpt2) }
        let model = try GPT2(config: gpt2, source: source, hasLMHead: hasHead,
                             quantization: quantization.method == LlamaGGUF.asStored ? .fp32 : quantization, threads: threads,
                             tokenizer: try tokenizerIfPresent(directory: reference), stored: stored)
        if packed?.method == .awq {
            for l in 0..<gpt2.layerCount {
                let name = "transformer.h.\(l).mlp.act.scales"
                if checkpoint.contains(name) { model.blocks[l].activationScales = try checkpoint.tensor(name).toFloatArray() }
            }
        }
        return model
    }

    /// GPT-2's block linear layers left with `source`, read when first used (DeferredLinear).
    static func deferred(_ source: @escaping GPT2.WeightSource, _ config: GPT2Config) -> (String) throws -> LinearWeight? {
        { name in
            guard let (out, n) = config.linearShape(name) else { return nil }
            return DeferredLinear(try source(String(name.dropFirst("transformer.".count)) + ".weight", [n, out], true))
        }
    }

    /// Files whose bytes define the model; empty for synthetic weights.
    public static func modelFiles(_ reference: String) throws -> [String] {
        if reference.hasPrefix("random:") { return [] }
        if reference.hasSuffix(".gguf") { return [reference] }
        let dir = URL(fileURLWithPath: reference)
        let checkpoint = try SafeTensorsCheckpoint(reference)
        let extra = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                     "vocab.txt", "modules.json", "sentence_bert_config.json"]
            .map { dir.appendingPathComponent($0).path }
            .filter { FileManager.default.fileExists(atPath: $0) }
        return extra + checkpoint.paths
    }

    /// The tokenizer files of a model directory, when it has them.
    static func tokenizerIfPresent(directory: String) throws -> Tokenizer? {
        let dir = URL(fileURLWithPath: directory)
        let present = ["vocab.json", "tokenizer.json"].contains {
            FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path)
        }
        return present ? try Tokenizers.load(directory: directory) : nil
    }

    // MARK: random references

    /// Parses `random:NAME_OR_DIR[?key=value&...]` into a config, the seed and the directory (if any).
    static func randomConfig(_ reference: String) throws -> (HFConfig, UInt64, String?) {
        let body = String(reference.dropFirst("random:".count))
        let parts = body.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let base = String(parts[0])
        var values: [String: ParsedJSON]
        var directory: String?
        if base == "gpt2" {
            values = GPT2Config.smallValues
        } else if base.contains("/") || FileManager.default.fileExists(atPath: base) {
            values = try HFConfig(path: URL(fileURLWithPath: base).appendingPathComponent("config.json").path).values
            directory = base
        } else {
            throw CoreError.invalid("\(reference): unknown random model '\(base)' (known: random:gpt2, or random:/path/to/model-dir)")
        }
        var seed: UInt64 = 0
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, !kv[0].isEmpty else { throw CoreError.invalid("\(reference): '\(pair)' is not key=value") }
                let key = String(kv[0]), text = String(kv[1])
                if key == "seed" {
                    guard let s = UInt64(text) else { throw CoreError.invalid("\(reference): seed must be a non-negative integer, found '\(text)'") }
                    seed = s
                    continue
                }
                guard GPT2Config.knownKeys.contains(key) else {
                    let near = GPT2Config.knownKeys.sorted().min { editDistance($0, key) < editDistance($1, key) } ?? ""
                    throw CoreError.invalid("\(reference): '\(key)' is not a GPT-2 config key (did you mean '\(near)'?)")
                }
                if let i = Int(text) { values[key] = .int(i) }
                else if let d = Double(text) { values[key] = .double(d) }
                else if text == "true" || text == "false" { values[key] = .bool(text == "true") }
                else if text == "null" { values[key] = .null }
                else { values[key] = .string(text) }
            }
        }
        return (HFConfig(values: values, source: reference), seed, directory)
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]; row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }

    static func randomSource(_ config: GPT2Config, seed: UInt64, threads: Int) -> GPT2.WeightSource {
        let pool = ThreadPool(threads: threads)
        let std = config.initializerRange
        let projectionStd = std / (2 * Float(config.layerCount)).squareRoot()
        return { name, shape, transpose in
            let n = shape.reduce(1, *)
            // Values in the flat order of the stored shape, served as the rows the model asks for.
            let (out, width) = shape.count == 1 ? (1, n) : transpose ? (shape[1], shape[0]) : (shape[0], shape[1])
            if name.hasSuffix(".bias") { return WeightRows([Float](repeating: 0, count: n), out: out, in: width) }
            if name.contains(".ln_") || name.hasPrefix("ln_f") { return WeightRows([Float](repeating: 1, count: n), out: out, in: width) }
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325          // FNV-1a of the name, mixed with the seed
            for b in name.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01B3 }
            let s = name.hasSuffix("c_proj.weight") ? projectionStd : std
            // Blocks of 2^16 values, each from its own stream (so a range is the same whichever
            // rows are asked for), filled in parallel. Chunks start on block boundaries where that
            // keeps them small, so no block is drawn twice.
            let block = 1 << 16
            let blockRows = block / Bnb4BitLinear.gcd(width, block)
            return WeightRows(out: out, in: width, alignedTo: blockRows * width <= 1 << 21 ? blockRows : 1) { rows, dst in
                let lo = rows.lowerBound * width, hi = rows.upperBound * width
                pool.parallelFor((hi - 1) / block - lo / block + 1) { range in
                    let values = UnsafeMutablePointer<Float>.allocate(capacity: block)
                    defer { values.deallocate() }
                    for k in range {
                        let b = lo / block + k, start = b * block, end = min(n, start + block)
                        var rng = SeededRandom(seed: hash ^ (seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(b) &* 0xD1B5_4A32_D192_ED03))
                        rng.fillNormal(values, count: end - start, std: s)
                        let from = max(lo, start), to = min(hi, end)
                        (dst + (from - lo)).update(from: values + (from - start), count: to - from)
                    }
                }
            }
        }
    }

    // MARK: checkpoints

    /// Maps GPT-2 names onto a checkpoint of either layout (`transformer.h.0...` or the Hub's older
    /// `h.0...`), checking shapes and dtypes, and refusing tensors the config does not explain.
    static func checkpointSource(_ ckpt: SafeTensorsCheckpoint, _ config: GPT2Config,
                                 quantized: QuantizedCheckpointConfig? = nil) throws -> (GPT2.WeightSource, Bool) {
        let file = ckpt.displayName
        let prefix: String
        if ckpt.contains("transformer.wte.weight") { prefix = "transformer." }
        else if ckpt.contains("wte.weight") { prefix = "" }
        else { throw CoreError.file(file, "no GPT-2 embedding table: expected 'transformer.wte.weight' or 'wte.weight'") }
        let hasHead = ckpt.contains("lm_head.weight")

        guard config.layerCount <= (ckpt.names.count - 4) / 12 || quantized != nil else {
            throw CoreError.file(file, "holds \(ckpt.names.count) tensors, too few for the n_layer=\(config.layerCount) of config.json")
        }
        var expected: Set<String> = ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"]
        for i in 0..<config.layerCount {
            for s in ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                      "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                      "mlp.c_proj.weight", "mlp.c_proj.bias"] { expected.insert("h.\(i).\(s)") }
            if quantized != nil {
                // Packed layers: their tensors instead of `.weight`, and AWQ's scaled activation.
                for layer in GPT2.linearSuffixes {
                    expected.remove("h.\(i).\(layer).weight")
                    for t in ["qweight", "qzeros", "scales", "g_idx"] { expected.insert("h.\(i).\(layer).\(t)") }
                }
                expected.insert("h.\(i).mlp.act.scales")
            }
        }
        for name in ckpt.names {
            if name == "lm_head.weight" { continue }
            let local = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
            if expected.contains(local) { continue }
            if local.hasSuffix(".attn.bias") || local.hasSuffix(".attn.masked_bias") { continue }   // causal-mask buffers
            throw CoreError.file(file, "unexpected tensor \(quoted: name) (config.json says n_layer=\(config.layerCount); do the config and the weights belong together?)")
        }
        let source: GPT2.WeightSource = { name, shape, transpose in
            let key = name == "lm_head.weight" ? name : prefix + name
            guard let e = ckpt.entry(key) else { throw CoreError.file(file, "missing tensor \(quoted: key)") }
            guard e.shape == shape else {
                throw CoreError.file(file, "tensor \(quoted: key) has shape \(e.shape), but config.json implies \(shape)")
            }
            guard [.f32, .f16, .bf16, .f64].contains(e.dtype) else {
                throw CoreError.file(file, "tensor \(quoted: key) is \(e.dtype.rawValue); expected a float type (F32, F16, BF16)")
            }
            return WeightRows(tensor: try ckpt.tensor(key), transposed: transpose)
        }
        return (source, hasHead)
    }
}
