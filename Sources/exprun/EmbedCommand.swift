// `exprun embed`: sentence embeddings from an encoder (a sentence-transformers BERT folder), what
// `SentenceTransformer.encode` returns: one line per text on stdout, or an F32 `embeddings` [n, d]
// safetensors file; timing on stderr.
import ArgumentParser
import Foundation
import InferenceCore

let encoderCommands: [ParsableCommand.Type] = [Embed.self]

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed texts with a sentence encoder (BERT): first values and norm per text, or --out FILE.safetensors.",
        discussion: """
        MODEL is a sentence-transformers folder (modules.json, 1_Pooling/, config.json with model_type \
        bert, model.safetensors, vocab.txt) or a plain Hugging Face BERT directory (mean pooling). Texts \
        longer than the model's max_seq_length are cut as sentence-transformers cuts them; stderr says which.
        """)

    @Argument(help: "A sentence-transformers / Hugging Face BERT model folder.")
    var model: String
    @Argument(help: "Texts to embed.")
    var texts: [String] = []
    @Option(help: "Also embed this file's lines, one text per line (blank lines skipped).")
    var file: String?
    @Option(name: .customLong("quant"), help: "Quantization of the linear layers (fp32, fp16, bnb-int8, bnb-nf4, q8_0, q4_0, q4_k, ...).")
    var quant: String = "fp32"
    @Option(help: "Worker threads.")
    var threads: Int = 1
    @Option(help: "Texts per forward pass (packed, no padding).")
    var batchSize: Int = 32
    @Option(help: "Write the embeddings as an F32 tensor `embeddings` [n, d] to this .safetensors file.")
    var out: String?
    @Option(help: "Untimed encodes of all the texts before the timed ones (benchmarks).")
    var warmup: Int = 0
    @Option(help: "Timed encodes of all the texts; stderr gives each one's time and their median.")
    var repeats: Int = 1

    func run() throws {
        try reportingErrors {
            guard threads >= 1 else { throw CoreError.invalid("--threads must be at least 1, got \(threads)") }
            guard batchSize >= 1 else { throw CoreError.invalid("--batch-size must be at least 1, got \(batchSize)") }
            guard warmup >= 0, repeats >= 1 else { throw CoreError.invalid("--warmup must be at least 0 and --repeats at least 1") }
            guard Quantization.method(named: quant) != nil else {
                throw CoreError.invalid("--quant: unknown method '\(quant)' (available: \(Quantization.availableNames.joined(separator: ", ")))")
            }
            var inputs = texts
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw CoreError.file(file, "cannot read") }
                inputs += String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
                    .map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            }
            guard !inputs.isEmpty else { throw CoreError.invalid("no texts: give them as arguments or with --file FILE") }
            let loadStart = Date()
            let encoder = try SentenceEncoder.load(model, quantization: QuantizationConfig(method: quant), threads: threads)
            let loadSeconds = Date().timeIntervalSince(loadStart)
            for _ in 0..<warmup { _ = try encoder.encode(inputs, batchSize: batchSize) }
            var e: SentenceEncoder.Embeddings!
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = DispatchTime.now()
                e = try encoder.encode(inputs, batchSize: batchSize)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
            }
            let seconds = times.sorted()[times.count / 2]
            if let out {
                try SafeTensorsWriter.write([("embeddings", Tensor(e.values, shape: [e.count, e.dimension]))],
                                            metadata: ["format": "pt", "model": model, "quantization": quant], to: out)
            } else {
                for i in 0..<e.count {
                    let v = e.vector(i)
                    let first = v.prefix(6).map { String(format: "%.6f", $0) }.joined(separator: ", ")
                    let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                    print("\(i): [\(first), ...] norm \(String(format: "%.6f", norm)) (\(e.tokenCounts[i]) tokens)")
                }
            }
            let tokens = e.tokenCounts.reduce(0, +)
            var report = "\(e.count) text(s), \(tokens) tokens, \(e.dimension) dimensions; load \(String(format: "%.2f", loadSeconds)) s; "
                + (repeats > 1 ? "encode times \(times.map { String(format: "%.3f", $0) }.joined(separator: " ")) s, median " : "encode ")
                + "\(String(format: "%.3f", seconds)) s: \(String(format: "%.1f", Double(e.count) / seconds)) texts/s, "
                + "\(String(format: "%.0f", Double(tokens) / seconds)) tokens/s (\(quant), threads \(threads), batch \(batchSize))\n"
            if !e.truncated.isEmpty {
                report += "truncated to max_seq_length \(encoder.maxSequenceLength): text(s) \(e.truncated.map(String.init).joined(separator: ", "))\n"
            }
            FileHandle.standardError.write(Data(report.utf8))
        }
    }
}
