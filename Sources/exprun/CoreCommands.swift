// Commands over the inference core: generate, tokenize, logits, inspect, perplexity.
import ArgumentParser
import Foundation
import InferenceCore

let coreCommands: [ParsableCommand.Type] = [Generate.self, Logits.self, Tokenize.self, Inspect.self, PerplexityCommand.self]

/// Runs `body`; a thrown error becomes one line `exprun: error: ...` on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("exprun: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// `7454,2402,257,640` (commas or spaces) → ids.
func parseTokenList(_ text: String, option: String) throws -> [Int] {
    let parts = text.split(whereSeparator: { $0 == "," || $0 == " " })
    guard !parts.isEmpty else { throw CoreError.invalid("\(option): no token ids given") }
    return try parts.map {
        guard let id = Int($0) else { throw CoreError.invalid("\(option): '\($0)' is not a token id (expected integers separated by commas)") }
        return id
    }
}

struct ModelOptions: ParsableArguments {
    @Argument(help: "A Hugging Face model directory, a .gguf file, or random:gpt2 / random:gpt2?n_layer=2&n_embd=64&n_head=4&seed=7.")
    var model: String
    @Option(name: .customLong("quant"), help: "Quantization method for the linear weights (fp32, q8_0, bnb-nf4, as-stored, ...); default: as-stored for a .gguf (the file as shipped), else fp32.")
    var quantOption: String?
    var quant: String { quantOption ?? (model.hasSuffix(".gguf") ? LlamaGGUF.asStored : "fp32") }
    @Option(help: "Worker threads.")
    var threads: Int = 1

    func load() throws -> LanguageModel {
        guard threads >= 1 else { throw CoreError.invalid("--threads must be at least 1, got \(threads)") }
        guard Quantization.method(named: quant) != nil else {
            throw CoreError.invalid("--quant: unknown method '\(quant)' (available: \(Quantization.availableNames.joined(separator: ", ")))")
        }
        return try ModelLoader.load(model, quantization: QuantizationConfig(method: quant), threads: threads)
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text: the continuation on stdout; token ids and prefill / decode speed on stderr.")

    @OptionGroup var options: ModelOptions
    @Option(help: "The prompt text (needs the model's tokenizer).")
    var prompt: String?
    @Option(help: "The prompt as token ids, e.g. 7454,2402,257,640 (instead of --prompt).")
    var tokens: String?
    @Option(help: "Tokens to generate.")
    var maxNewTokens: Int = 50
    @Option(help: "0 = greedy.")
    var temperature: Float = 0
    @Option(help: "Keep the K most likely tokens (0 = off).")
    var topK: Int = 0
    @Option(help: "Keep the most likely tokens up to this probability mass (1 = off).")
    var topP: Float = 1
    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0
    @Flag(help: "Always produce --max-new-tokens tokens, even past end-of-text.")
    var ignoreEos = false

    func run() throws {
        try reportingErrors {
            guard (prompt == nil) != (tokens == nil) else { throw CoreError.invalid("give exactly one of --prompt TEXT and --tokens IDS") }
            let model = try options.load()
            let ids: [Int]
            if let prompt {
                guard let tokenizer = model.tokenizer else {
                    throw CoreError.invalid("\(options.model) has no tokenizer (vocab.json + merges.txt); pass --tokens instead of --prompt")
                }
                ids = tokenizer.encodePrompt(prompt)
            } else {
                ids = try parseTokenList(tokens!, option: "--tokens")
            }
            let result = try generate(model, prompt: ids, options: GenerationOptions(
                maxNewTokens: maxNewTokens, stopAtEOS: !ignoreEos, temperature: temperature, topK: topK, topP: topP, seed: seed))
            if let tokenizer = model.tokenizer {
                print(try tokenizer.decode(result.tokens))
            } else {
                print(result.tokens.map(String.init).joined(separator: " "))
            }
            let decodeSeconds = result.decodeStepSeconds.reduce(0, +)
            let err = """
                prompt tokens: \(ids.map(String.init).joined(separator: " "))
                generated tokens: \(result.tokens.map(String.init).joined(separator: " "))
                prefill: \(ids.count) tokens in \(String(format: "%.4f", result.prefillSeconds)) s, \(String(format: "%.2f", result.prefillTokensPerSecond)) tok/s
                decode: \(result.decodeStepSeconds.count) tokens in \(String(format: "%.4f", decodeSeconds)) s, \(String(format: "%.2f", result.decodeTokensPerSecond)) tok/s (threads: \(options.threads), \(options.quant))
                weights: \(model.storedWeightBytes) bytes as stored

                """
            FileHandle.standardError.write(Data(err.utf8))
        }
    }
}

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the logits of every position of a token sequence as an F32 safetensors tensor `logits` [T, vocab].")

    @OptionGroup var options: ModelOptions
    @Option(help: "Token ids, e.g. 7454,2402,257,640.")
    var tokens: String
    @Option(help: "Output .safetensors file.")
    var out: String

    func run() throws {
        try reportingErrors {
            let ids = try parseTokenList(tokens, option: "--tokens")
            let model = try options.load()
            let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), allLogits: true)
            try SafeTensorsWriter.write([("logits", Tensor(logits, shape: [ids.count, model.vocabularySize]))],
                                        metadata: ["format": "pt", "model": options.model, "quantization": options.quant], to: out)
        }
    }
}

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text as llama.cpp's llama-perplexity computes it (chunks of --context tokens, second halves scored).")

    @Argument(help: "A .gguf file, a Hugging Face model directory, or random:gpt2.")
    var model: String
    @Option(help: "A text file, or wikitext-2-raw:test / wikitext-2-raw:valid (found in $EXPRUN_DATA_DIR or ../shared/data).")
    var text: String
    @Option(help: "Tokens per chunk (llama-perplexity's -c).")
    var context: Int = 512
    @Option(help: "Chunks to score (llama-perplexity's --chunks); default: all the text holds.")
    var chunks: Int?
    @Option(help: "Worker threads.")
    var threads: Int = 1
    @Option(help: "Quantization (as-stored keeps a GGUF's own types; fp32 dequantizes; q8_0, q4_k, ... re-quantize). Default: as-stored for .gguf, else fp32.")
    var quant: String?

    func run() throws {
        try reportingErrors {
            guard threads >= 1 else { throw CoreError.invalid("--threads must be at least 1, got \(threads)") }
            let method = quant ?? (model.hasSuffix(".gguf") ? LlamaGGUF.asStored : "fp32")
            guard Quantization.method(named: method) != nil else {
                throw CoreError.invalid("--quant: unknown method '\(method)' (available: \(Quantization.availableNames.joined(separator: ", ")))")
            }
            let body = try EvaluationText.load(text)
            let loaded = try ModelLoader.load(model, quantization: QuantizationConfig(method: method), threads: threads)
            guard let tokenizer = loaded.tokenizer else { throw CoreError.invalid("\(model) has no tokenizer: perplexity needs one to tokenize the text") }
            let t0 = Date()
            let tokens = Perplexity.tokenize(body, tokenizer: tokenizer)
            FileHandle.standardError.write(Data("tokenized \(text): \(tokens.count) tokens in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s\n".utf8))
            let result = try Perplexity.evaluate(loaded, tokens: tokens, context: context, chunks: chunks) { i, ppl in
                FileHandle.standardError.write(Data("[\(i)]\(String(format: "%.4f", ppl)),".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            fflush(stdout)
            print(String(format: "Final estimate: PPL = %.4f +/- %.5f", result.perplexity, result.uncertainty))
            FileHandle.standardError.write(Data("""
                \(result.chunks) chunks of \(result.context) tokens (\(result.scored) predictions scored; text: \(result.textTokens) tokens), \
                \(method), \(threads) threads, \(String(format: "%.1f", result.seconds)) s

                """.utf8))
        }
    }
}
