// Where tokenizers come from: a Hugging Face model directory, a GGUF file's `tokenizer.ggml.*`
// metadata, or the GPT-2 tokenizer bundled with the package (for synthetic `random:gpt2` models,
// which have no files of their own). Picks the implementation from what the files say.
import Foundation

public enum Tokenizers {
    /// GPT-2's tokenizer from the package's bundled `vocab.json` + `merges.txt`. Loaded once.
    public static func gpt2() throws -> ByteLevelBPETokenizer {
        try bundledGPT2.get()
    }

    private static let bundledGPT2: Result<ByteLevelBPETokenizer, Error> = Result {
        let dir = try bundledResource("gpt2")
        return try ByteLevelBPETokenizer(vocabJSON: dir.appendingPathComponent("vocab.json"),
                                         mergesTXT: dir.appendingPathComponent("merges.txt"))
    }

    /// Finds a bundled resource folder without SwiftPM's generated `Bundle.module`, which stops the
    /// process when the bundle is missing: beside the executable (Linux `.resources`, macOS
    /// `.bundle`), then in the source tree (a binary run from the package it was built in).
    static func bundledResource(_ name: String) throws -> URL {
        let bundleName = "exprun_InferenceCore"
        var candidates: [URL] = []
        var dirs = [Bundle.main.bundleURL]
        if let exe = Bundle.main.executableURL { dirs.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        for dir in dirs {
            candidates.append(dir.appendingPathComponent("\(bundleName).resources/\(name)"))
            candidates.append(dir.appendingPathComponent("\(bundleName).bundle/\(name)"))
            candidates.append(dir.appendingPathComponent("\(bundleName).bundle/Contents/Resources/\(name)"))
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Resources/\(name)"))
        for c in candidates where FileManager.default.fileExists(atPath: c.path) { return c }
        throw CoreError.file(candidates.first?.path ?? name,
                             "bundled resource '\(name)' not found (looked in \(candidates.map(\.path).joined(separator: ", "))); keep the \(bundleName) resources beside the exprun binary")
    }

    /// From a Hugging Face model directory: `vocab.json` + `merges.txt`, else a byte-level BPE
    /// `tokenizer.json`; BERT's `vocab.txt` (with its WordPiece `tokenizer.json`) is WordPiece.
    public static func load(directory: String) throws -> Tokenizer {
        let dir = URL(fileURLWithPath: directory)
        let fm = FileManager.default
        if let wordPiece = try WordPieceTokenizer.load(directory: dir) { return wordPiece }
        let vocab = dir.appendingPathComponent("vocab.json"), merges = dir.appendingPathComponent("merges.txt")
        if fm.fileExists(atPath: vocab.path), fm.fileExists(atPath: merges.path) {
            return try ByteLevelBPETokenizer(vocabJSON: vocab, mergesTXT: merges)
        }
        let json = dir.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: json.path) {
            return try loadTokenizerJSON(json)
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw CoreError.file(directory, "not a directory")
        }
        if fm.fileExists(atPath: dir.appendingPathComponent("tokenizer.model").path) {
            throw CoreError.unsupported("\(directory): only a SentencePiece tokenizer.model is present; exprun reads SentencePiece vocabularies from GGUF files (convert the model with llama.cpp's convert_hf_to_gguf.py)")
        }
        throw CoreError.file(directory, "no tokenizer files (looked for vocab.json + merges.txt, and tokenizer.json)")
    }

    /// From a GGUF file's metadata (`tokenizer.ggml.model`: `gpt2` or `llama`).
    public static func load(gguf path: String) throws -> Tokenizer {
        try load(gguf: GGUFFile(path: path))
    }

    public static func load(gguf file: GGUFFile) throws -> Tokenizer {
        guard let model = try file.string("tokenizer.ggml.model") else {
            throw CoreError.file(file.path, "no tokenizer in the metadata (tokenizer.ggml.model is missing)")
        }
        switch model {
        case "gpt2":
            return try ByteLevelBPETokenizer(gguf: file)
        case "llama":
            return try SentencePieceBPETokenizer(gguf: file)
        case "bert":
            return try WordPieceTokenizer(gguf: file)
        default:
            throw CoreError.unsupported("\(file.path): tokenizer.ggml.model = \(quoted: model) (supported: 'gpt2' byte-level BPE, 'llama' SentencePiece BPE, 'bert' WordPiece)")
        }
    }

    /// The tokenizer of a model reference: a Hugging Face directory, a `.gguf` file, `random:gpt2`
    /// (with or without `?options`: the bundled GPT-2 tokenizer) or `random:/path/to/hf-dir`.
    public static func load(model reference: String) throws -> Tokenizer {
        if reference.hasPrefix("random:") {
            let rest = String(reference.dropFirst("random:".count))
            let name = rest.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
            if name == "gpt2" { return try gpt2() }
            return try load(directory: name)
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: reference, isDirectory: &isDir) else {
            throw CoreError.file(reference, "no such file or directory (expected a Hugging Face model directory, a .gguf file, or random:gpt2)")
        }
        if isDir.boolValue { return try load(directory: reference) }
        return try load(gguf: reference)
    }

    /// Hugging Face `tokenizer.json` of GPT-2's kind: a BPE model with the ByteLevel pre-tokenizer.
    static func loadTokenizerJSON(_ url: URL) throws -> Tokenizer {
        struct File: Decodable {
            struct Model: Decodable {
                var type: String?
                var vocab: [String: Int]?
                var merges: [MergeRule]?
            }
            struct Added: Decodable { var id: Int; var content: String; var special: Bool? }
            struct Pre: Decodable { var type: String; var add_prefix_space: Bool?; var use_regex: Bool? }
            var model: Model
            var added_tokens: [Added]?
            var pre_tokenizer: Pre?
        }
        /// Merges are "a b" strings in older files and ["a", "b"] pairs in newer ones.
        enum MergeRule: Decodable {
            case line(String), pair([String])
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .line(s) } else { self = .pair(try c.decode([String].self)) }
            }
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CoreError.file(url.path, "cannot read: \(error.localizedDescription)")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw CoreError.file(url.path, "not a Hugging Face tokenizer.json: \(error.localizedDescription)")
        }
        guard file.model.type == "BPE", let vocab = file.model.vocab,
              let pre = file.pre_tokenizer, pre.type == "ByteLevel", pre.add_prefix_space != true, pre.use_regex != false else {
            throw CoreError.unsupported("\(url.path): only GPT-2-style tokenizers (BPE model, ByteLevel pre-tokenizer without prefix space) are read from tokenizer.json; found model \(file.model.type ?? "?"), pre-tokenizer \(file.pre_tokenizer?.type ?? "none")")
        }
        var merges: [(String, String)] = []
        for (i, rule) in (file.model.merges ?? []).enumerated() {
            let parts: [String]
            switch rule {
            case let .line(s): parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            case let .pair(p): parts = p
            }
            guard parts.count == 2 else { throw CoreError.file(url.path, "model.merges[\(i)] is not a pair of tokens") }
            merges.append((parts[0], parts[1]))
        }
        let added = (file.added_tokens ?? []).map { (text: $0.content, id: $0.id, special: $0.special ?? true) }
        return try ByteLevelBPETokenizer(vocab: vocab, merges: merges, added: added, source: url.path)
    }
}
