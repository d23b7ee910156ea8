// The fuzz targets: each takes arbitrary bytes through one reader of untrusted input, the way
// exprun reads a file from a stranger. A target may reject its input with an error (that is the
// reader doing its job); it must never crash, hang, read or write out of bounds (AddressSanitizer
// watches), or return something that breaks the reader's own promises (checked with `require`:
// token ids inside the vocabulary, GPT-2's byte-level round trip).
import ExpRunKit
import Foundation
import InferenceCore

enum FuzzTargets {
    static let all: [String: (UnsafeRawBufferPointer) -> Void] = [
        "gguf": gguf, "safetensors": safetensors, "config": config, "experiment": experiment, "tokenizers": tokenizers,
    ]

    /// A GGUF file: header, metadata, tensor table; then what loaders read from it (a tokenizer
    /// from the `tokenizer.ggml.*` arrays, a decoder configuration), without the weights.
    static func gguf(_ bytes: UnsafeRawBufferPointer) {
        guard let file = try? GGUFFile(storage: owned(bytes), path: "fuzz.gguf") else { return }
        for key in file.keys { _ = file.metadata[key]?.summary() }
        for info in file.tensors { touch(file.data(info), info.byteCount) }
        // A mutated vocabulary promises no round trip (a byte without a token is dropped, as llama.cpp does).
        if let tokenizer = try? Tokenizers.load(gguf: file) { exercise(tokenizer, "Hello world! 123 <|endoftext|> ünïcødé", "fuzz.gguf", roundTrip: false) }
        _ = try? DecoderConfig(gguf: file)
    }

    /// A safetensors file: the length, the JSON header, every entry's dtype, shape and offsets.
    static func safetensors(_ bytes: UnsafeRawBufferPointer) {
        guard let file = try? SafeTensorsFile(storage: owned(bytes), path: "fuzz.safetensors") else { return }
        for e in file.entries {
            guard let t = try? file.tensor(e.name) else { continue }
            touch(UnsafeRawPointer(t.raw), t.byteCount)
        }
    }

    /// A Hugging Face config.json, as the GPT-2 and BERT loaders read it.
    static func config(_ bytes: UnsafeRawBufferPointer) {
        guard case let .object(values)? = try? ParsedJSON.parse(Data(bytes), source: "config.json") else { return }
        let config = HFConfig(values: values, source: "config.json")
        if let c = try? GPT2Config(config) { _ = c.parameterEstimate }
        _ = try? BertConfig(config)
    }

    /// An experiment file, parsed, validated and planned.
    static func experiment(_ bytes: UnsafeRawBufferPointer) {
        guard let text = String(validating: bytes, as: UTF8.self),
              let spec = try? SpecParser.parse(text: text, path: NSTemporaryDirectory() + "fuzz.exp") else { return }
        _ = Plan(spec: spec, version: "fuzz").describe()
    }

    /// The tokenizers exprun builds from the vocabularies in ../shared/data (llama.cpp's
    /// ggml-vocab-*.gguf) and its bundled GPT-2: the first byte chooses one (one per input keeps
    /// the fuzzer fast enough to explore), which encodes the bytes as text (special tokens parsed
    /// and not) and decodes them as token ids.
    static func tokenizers(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        let (name, tokenizer, roundTrip) = loadedTokenizers[Int(bytes.first ?? 0) % loadedTokenizers.count]
        exercise(tokenizer, text, name, roundTrip: roundTrip)
        // Three bytes per id, mostly inside the vocabulary, a few just past its end.
        let ids = stride(from: 0, to: bytes.count - 2, by: 3).map {
            (Int(bytes[$0]) | Int(bytes[$0 + 1]) << 8 | Int(bytes[$0 + 2]) << 16) % (tokenizer.vocabularySize + 8)
        }
        _ = try? tokenizer.decode(ids)
    }

    /// `roundTrip`: decode(encode(text)) must give the text back, as it does for a byte-level BPE
    /// vocabulary with a token for each of the 256 bytes and special tokens left unparsed.
    static func exercise(_ tokenizer: Tokenizer, _ text: String, _ name: String, roundTrip: Bool) {
        let n = tokenizer.vocabularySize
        for parseSpecial in [true, false] {
            let ids = tokenizer.encode(text, parseSpecial: parseSpecial)
            require(ids.allSatisfy { $0 >= 0 && $0 < n }, "\(name): an id outside the vocabulary of \(n) in \(ids)")
            let decoded = try? tokenizer.decode(ids)
            require(decoded != nil, "\(name): decode refused what encode produced: \(ids)")
            if !parseSpecial, roundTrip {
                require(decoded == text, "\(name): byte-level round trip changed the text: \(text.debugDescription) → \(ids) → \(decoded!.debugDescription)")
            }
        }
    }

    nonisolated(unsafe) static var loadedTokenizers: [(name: String, tokenizer: Tokenizer, roundTrip: Bool)] = []

    /// Whether a byte-level BPE vocabulary has a token for every byte (GPT-2's byte → character map:
    /// printable Latin-1 bytes stand for themselves, the others for U+0100 on). Falcon's, for one,
    /// lacks some control bytes, which encoding then drops.
    static func coversEveryByte(_ tokenizer: Tokenizer) -> Bool {
        guard let bpe = tokenizer as? ByteLevelBPETokenizer else { return false }
        let vocabulary = Set(bpe.tokens)
        var next: UInt32 = 256
        return (0..<256).allSatisfy { (b: UInt32) in
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let scalar = printable ? b : { defer { next += 1 }; return next }()
            return vocabulary.contains(String(Character(Unicode.Scalar(scalar)!)))
        }
    }

    static func setUp(_ target: String) {
        guard target == "tokenizers" else { return }
        let data = ProcessInfo.processInfo.environment["EXPRUN_FUZZ_DATA"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../../shared/data").standardized.path
        let vocab = data + "/llama.cpp-vocab"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: vocab)) ?? []).filter { $0.hasSuffix(".gguf") }.sorted()
        for f in files {
            if let t = try? Tokenizers.load(gguf: vocab + "/" + f) { loadedTokenizers.append((f, t, coversEveryByte(t))) }
        }
        if let gpt2 = try? Tokenizers.gpt2() { loadedTokenizers.append(("bundled gpt2", gpt2, coversEveryByte(gpt2))) }
        let names = loadedTokenizers.map { $0.name + ($0.roundTrip ? " (round trip)" : "") }
        FileHandle.standardError.write(Data("exprun-fuzz: tokenizers: \(names.joined(separator: ", "))\n".utf8))
        if loadedTokenizers.isEmpty { fatalError("no tokenizer could be loaded from \(vocab) (set EXPRUN_FUZZ_DATA)") }
    }

    /// The bytes in a buffer of exactly their size, so that AddressSanitizer sees a read past the end.
    static func owned(_ bytes: UnsafeRawBufferPointer) -> Storage {
        let s = Storage(byteCount: bytes.count)
        if let base = bytes.baseAddress { s.base.copyMemory(from: base, byteCount: bytes.count) }
        return s
    }

    /// Reads every byte a reader handed out, so an out-of-bounds range is caught here.
    static func touch(_ p: UnsafeRawPointer, _ count: Int) {
        var x: UInt8 = 0
        for i in 0..<count { x ^= p.load(fromByteOffset: i, as: UInt8.self) }
        blackHole(x)
    }

    @inline(never) static func blackHole(_ x: UInt8) { if x == 0x5A && ProcessInfo.processInfo.environment["NEVER"] != nil { print(x) } }

    static func require(_ condition: Bool, _ what: String) {
        if !condition { fatalError("property violated: \(what)") }
    }
}
