// `exprun tokenize` and `exprun inspect`: look at a model's tokenizer and at a GGUF file's contents
// without loading weights.
import ArgumentParser
import Foundation
import InferenceCore

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text on one line, separated by spaces.")

    @Argument(help: "A Hugging Face model directory, a .gguf file, or random:gpt2 (the bundled GPT-2 tokenizer).")
    var model: String
    @Argument(help: "The text to tokenize.")
    var text: String?
    @Option(help: "Tokenize this file's contents instead of TEXT.")
    var file: String?
    @Flag(help: "Print only the number of tokens (and the time taken, on stderr).")
    var count = false
    @Flag(help: "Start with the BOS token where the model expects one (as generate does).")
    var bos = false
    @Flag(help: "Treat special-token text such as <|endoftext|> as plain text.")
    var noParseSpecial = false

    func run() throws {
        try reportingErrors {
            guard (text == nil) != (file == nil) else { throw CoreError.invalid("give exactly one of TEXT and --file PATH") }
            var input = text ?? ""
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw CoreError.file(file, "cannot read") }
                input = String(decoding: data, as: UTF8.self)
            }
            let tokenizer = try Tokenizers.load(model: model)
            let start = Date()
            var ids = tokenizer.encode(input, parseSpecial: !noParseSpecial)
            let seconds = Date().timeIntervalSince(start)
            if bos, tokenizer.addsBOS, let b = tokenizer.bosTokenID { ids.insert(b, at: 0) }
            // An encoder's input is [CLS] text [SEP] (BERT's post-processor), always.
            if let wordPiece = tokenizer as? WordPieceTokenizer { ids = wordPiece.wrap(ids) }
            if count {
                print(ids.count)
                FileHandle.standardError.write(Data("\(input.utf8.count) bytes, \(ids.count) tokens in \(String(format: "%.3f", seconds)) s\n".utf8))
            } else {
                print(ids.map(String.init).joined(separator: " "))
            }
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a GGUF file's metadata (long arrays summarized) and a table of its tensors.")

    @Argument(help: "A .gguf file.")
    var file: String

    func run() throws {
        try reportingErrors {
            let gguf = try GGUFFile(path: file)
            var out = "\(file): GGUF v\(gguf.version), \(gguf.keys.count) metadata keys, \(gguf.tensors.count) tensors, alignment \(gguf.alignment), \(gguf.storage.byteCount) bytes\n"
            out += "\nmetadata:\n"
            let keyWidth = gguf.keys.map(\.count).max() ?? 0
            for key in gguf.keys {
                guard let value = gguf.metadata[key] else { continue }
                let type = value.type == .array ? "array" : value.type.name
                out += "  \(key.padding(toLength: keyWidth, withPad: " ", startingAt: 0))  \(type.padding(toLength: 6, withPad: " ", startingAt: 0))  \(value.summary())\n"
            }
            if !gguf.tensors.isEmpty {
                let nameWidth = max(4, gguf.tensors.map(\.name.count).max() ?? 0)
                out += "\ntensors:\n"
                out += "  \("name".padding(toLength: nameWidth, withPad: " ", startingAt: 0))  type     \("shape".padding(toLength: 20, withPad: " ", startingAt: 0))  \(String(repeating: " ", count: 9))bytes\n"
                var totalBytes = 0, totalElements = 0
                var byType: [String: (count: Int, bytes: Int)] = [:]
                for t in gguf.tensors {
                    let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
                    let bytes = String(t.byteCount)
                    out += "  \(t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  \(t.type.name.padding(toLength: 7, withPad: " ", startingAt: 0))  \(shape.padding(toLength: 20, withPad: " ", startingAt: 0))  \(String(repeating: " ", count: max(0, 14 - bytes.count)))\(bytes)\n"
                    totalBytes += t.byteCount
                    totalElements += t.elementCount
                    byType[t.type.name, default: (0, 0)].count += 1
                    byType[t.type.name, default: (0, 0)].bytes += t.byteCount
                }
                let types = byType.sorted { $0.value.bytes > $1.value.bytes }
                    .map { "\($0.key) \($0.value.count) (\($0.value.bytes) bytes)" }.joined(separator: ", ")
                let bpw = totalElements > 0 ? String(format: "%.3f", Double(totalBytes) * 8 / Double(totalElements)) : "-"
                out += "\ntotal: \(gguf.tensors.count) tensors, \(totalElements) parameters, \(totalBytes) bytes, \(bpw) bits per weight; by type: \(types)\n"
            }
            print(out, terminator: "")
        }
    }
}
