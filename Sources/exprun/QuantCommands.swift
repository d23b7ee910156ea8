// Commands over quantization formats: quantize (GGUF export).
import ArgumentParser
import Foundation
import InferenceCore

let quantCommands: [ParsableCommand.Type] = [Quantize.self]

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as a GGUF file (llama.cpp's format) with its matrices in one ggml type.",
        discussion: """
        TYPE is f32, f16, q8_0, q4_0, q5_0, q4_k or q6_k. Matrices whose rows do not fit the type's \
        block fall back as llama-quantize does (q4_k → q5_0, q6_k → q8_0, else f16); the listing says so.
        """)

    @Argument(help: "A Hugging Face GPT-2 directory, or random:gpt2 / random:/path/to/hf-dir (seeded random weights).")
    var model: String
    @Option(help: "The ggml type of the matrices: f32, f16, q8_0, q4_0, q5_0, q4_k, q6_k.")
    var to: String
    @Option(help: "The GGUF file to write.")
    var out: String
    @Option(help: "Directory with the model's vocab.json and merges.txt (default: the model directory, else the bundled GPT-2 tokenizer).")
    var tokenizer: String?

    func run() throws {
        try reportingErrors {
            var types = Dictionary(uniqueKeysWithValues: GGMLFormat.weightTypes.map { ($0.rawValue, $0) })
            types["fp32"] = .f32; types["fp16"] = .f16
            guard let type = types[to.lowercased()] else {
                throw CoreError.invalid("--to: unknown type '\(to)' (known: \(GGMLFormat.weightTypes.map(\.rawValue).joined(separator: ", ")))")
            }
            var directory = tokenizer
            if directory == nil {
                let base = model.hasPrefix("random:") ? String(model.dropFirst(7)).split(separator: "?").first.map(String.init) ?? "" : model
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: base, isDirectory: &isDir), isDir.boolValue,
                   FileManager.default.fileExists(atPath: base + "/vocab.json") { directory = base }
            }
            let loaded = try ModelLoader.load(model, quantization: .fp32, threads: 1)
            let start = Date()
            let name = URL(fileURLWithPath: model.hasPrefix("random:") ? model : model).lastPathComponent
            let written = try GGUFExport.write(loaded, type: type, tokenizerDirectory: directory, name: name, to: out)
            var total = 0
            for t in written {
                total += t.bytes
                let shape = t.shape.map(String.init).joined(separator: "×")
                print("\(t.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(shape.padding(toLength: 12, withPad: " ", startingAt: 0)) \(t.type.padding(toLength: 5, withPad: " ", startingAt: 0)) \(t.bytes)\(t.note.map { "  (\($0))" } ?? "")")
            }
            let fallbacks = written.filter { $0.note != nil }.count
            print("wrote \(out): \(written.count) tensors, \(total) bytes of tensor data, \(fallbacks) fallback(s), \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
    }
}
