// A sentence-transformers model folder around a BERT encoder, computing what
// `SentenceTransformer.encode` returns:
//
//   modules.json                 the modules in order: Transformer, Pooling, optionally Normalize
//   config.json, model.safetensors, vocab.txt / tokenizer.json     the Transformer (BertModel)
//   sentence_bert_config.json    max_seq_length (texts are cut to it: [CLS], the first
//                                max_seq_length − 2 pieces, [SEP]) and do_lower_case (lower-cases
//                                the text before the tokenizer, which has its own rule besides)
//   1_Pooling/config.json        how token vectors become one: cls, mean, max, mean_sqrt_len_tokens
//                                (several are concatenated in that order, cls / max / mean / sqrt)
//   Normalize                    x / max(‖x‖, 1e-12)
//
// A folder without modules.json (a plain Hugging Face BERT) gets what sentence-transformers gives it:
// mean pooling, no normalization. A llama.cpp GGUF of architecture `bert` (convert_hf_to_gguf.py's
// names: token_embd, position_embd, token_types, blk.N.attn_q ... layer_output_norm) loads too:
// pooling from `bert.pooling_type`, normalized as llama-embedding normalizes by default, texts cut
// at `bert.context_length` (the file does not keep sentence-transformers' max_seq_length), and
// the tokenizer from its metadata (llama.cpp's WordPiece always lower-cases). Pooling over a text sees only that text's tokens, [CLS] and [SEP]
// included, as sentence-transformers' attention-masked pooling does for a padded batch.
import Foundation

public final class SentenceEncoder {
    public enum Pooling: String, Sendable, CaseIterable {
        case cls, max, mean, meanSqrtLength = "mean_sqrt_len_tokens"
    }

    public let bert: BERT
    public let tokenizer: WordPieceTokenizer
    /// Concatenated in this order.
    public let pooling: [Pooling]
    public let normalize: Bool
    /// Tokens per text, [CLS] and [SEP] included.
    public let maxSequenceLength: Int
    public let lowercasesInput: Bool
    public let directory: String

    public var dimension: Int { bert.config.hiddenSize * pooling.count }
    public var weights: [WeightInfo] { bert.weights }
    public var pool: ThreadPool { bert.pool }

    /// What `encode` gives: `count × dimension` values, row by row, and what was fed to the model.
    public struct Embeddings: Sendable {
        public var values: [Float]
        public var count: Int
        public var dimension: Int
        /// Tokens per text as the model saw them.
        public var tokenCounts: [Int]
        /// Indices of texts cut to `maxSequenceLength`.
        public var truncated: [Int]
        public func vector(_ i: Int) -> ArraySlice<Float> { values[i * dimension ..< (i + 1) * dimension] }
    }

    init(bert: BERT, tokenizer: WordPieceTokenizer, pooling: [Pooling], normalize: Bool, maxSequenceLength: Int,
         lowercasesInput: Bool, directory: String) {
        self.bert = bert; self.tokenizer = tokenizer; self.pooling = pooling; self.normalize = normalize
        self.maxSequenceLength = maxSequenceLength; self.lowercasesInput = lowercasesInput; self.directory = directory
    }

    /// Whether `reference` is a model directory whose config.json says `model_type: bert` (or a
    /// GGUF of architecture `bert`).
    public static func isEncoder(_ reference: String) -> Bool {
        if reference.hasSuffix(".gguf") { return (try? GGUFFile(path: reference).string("general.architecture")) == "bert" }
        let path = URL(fileURLWithPath: reference).appendingPathComponent(transformerPath(reference)).appendingPathComponent("config.json").path
        guard let config = try? HFConfig(path: path) else { return false }
        return (try? config.string("model_type")) == "bert"
    }

    /// Loads a sentence-transformers folder (or a plain BERT directory), quantizing per `quantization`.
    /// A calibrated method (gptq) quantizes the FP32 model on its calibration texts after loading.
    public static func load(_ reference: String, quantization: QuantizationConfig = .fp32, threads: Int = 1) throws -> SentenceEncoder {
        if Quantization.method(named: quantization.method)?.calibrated == true {
            let encoder = try load(reference, quantization: .fp32, threads: threads)
            _ = try Calibration.quantize(encoder, config: quantization)
            return encoder
        }
        if reference.hasSuffix(".gguf") { return try loadGGUF(reference, quantization: quantization, threads: threads) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: reference, isDirectory: &isDir) else {
            throw CoreError.file(reference, "no such directory (expected a sentence-transformers or Hugging Face BERT model folder)")
        }
        guard isDir.boolValue else { throw CoreError.file(reference, "not a directory (an encoder is a model folder with config.json and model.safetensors)") }
        let root = URL(fileURLWithPath: reference)
        let modules = try readModules(root)
        let transformer = root.appendingPathComponent(modules.transformerPath)
        let config = try BertConfig(HFConfig(path: transformer.appendingPathComponent("config.json").path))
        guard let tokenizer = try WordPieceTokenizer.load(directory: transformer) else {
            throw CoreError.file(transformer.path, "no vocab.txt: a BERT model folder needs its WordPiece vocabulary")
        }
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw CoreError.file(transformer.path, "the tokenizer has \(tokenizer.vocabularySize) tokens, more than config.json's vocab_size \(config.vocabSize)")
        }
        let checkpoint = try SafeTensorsCheckpoint(transformer.path)
        let bert = try BERT(config: config, source: try checkpointSource(checkpoint), quantization: quantization, threads: threads)

        // max_seq_length: sentence_bert_config.json, else the tokenizer's model_max_length, never
        // past the position table.
        var maxLength = config.maxPositions
        var lowercase = false
        let stConfig = transformer.appendingPathComponent("sentence_bert_config.json")
        let tokConfig = transformer.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: stConfig.path) {
            let c = try HFConfig(path: stConfig.path)
            lowercase = try c.bool("do_lower_case") ?? false
            if let m = try c.int("max_seq_length") {
                guard m >= 2 else { throw CoreError.file(stConfig.path, "max_seq_length must be at least 2 ([CLS] and [SEP]), found \(m)") }
                maxLength = min(m, maxLength)
            } else if let m = try tokenizerMaxLength(tokConfig) { maxLength = min(m, maxLength) }
        } else if let m = try tokenizerMaxLength(tokConfig) { maxLength = min(m, maxLength) }

        let pooling = try modules.poolingPath.map { try readPooling(root.appendingPathComponent($0), hidden: config.hiddenSize) } ?? [.mean]
        return SentenceEncoder(bert: bert, tokenizer: tokenizer, pooling: pooling, normalize: modules.normalize,
                               maxSequenceLength: maxLength, lowercasesInput: lowercase, directory: reference)
    }

    static func loadGGUF(_ path: String, quantization: QuantizationConfig, threads: Int) throws -> SentenceEncoder {
        let file = try GGUFFile(path: path)
        let arch = try file.string("general.architecture")
        guard arch == "bert" else {
            throw CoreError.file(path, "general.architecture is '\(arch ?? "missing")', not an encoder exprun knows (known: bert)")
        }
        guard quantization.method != LlamaGGUF.asStored else {
            throw CoreError.unsupported("\(path): as-stored is not available for encoders; give a format (fp32 dequantizes the file's tensors)")
        }
        let tokenizer = try WordPieceTokenizer(gguf: file)
        func hparam(_ key: String) throws -> ParsedJSON? { try file.int("bert." + key).map(ParsedJSON.int) }
        var values: [String: ParsedJSON] = ["model_type": .string("bert"), "vocab_size": .int(tokenizer.vocabularySize)]
        values["num_hidden_layers"] = try hparam("block_count")
        values["hidden_size"] = try hparam("embedding_length")
        values["intermediate_size"] = try hparam("feed_forward_length")
        values["num_attention_heads"] = try hparam("attention.head_count")
        values["max_position_embeddings"] = try hparam("context_length")
        values["type_vocab_size"] = .int(file.tensorInfo("token_types.weight")?.shape.first ?? 2)
        values["layer_norm_eps"] = try file.float("bert.attention.layer_norm_epsilon").map { .double(Double($0)) }
        let config = try BertConfig(HFConfig(values: values, source: path))
        let names = BERT.ggufNames(layers: config.layerCount)
        let loader = LlamaGGUF.WeightLoader(file: file, quantization: .fp32)
        let bert = try BERT(config: config, source: { name, shape in
            guard let stored = names[name], let info = file.tensorInfo(stored) else {
                throw CoreError.file(path, "missing tensor '\(names[name] ?? name)' (a bert GGUF from convert_hf_to_gguf.py has it)")
            }
            let (out, n) = shape.count == 1 ? (1, shape[0]) : (shape[0], shape[1])
            guard info.elementCount == out * n, info.shape.count == 1 || info.shape == shape else {
                throw CoreError.file(path, "tensor '\(stored)' has shape \(info.shape); the metadata implies \(shape)")
            }
            return try loader.rows(info, out: out, in: n)
        }, quantization: quantization, threads: threads)
        let pooling: Pooling
        switch try file.int("bert.pooling_type") ?? 1 {
        case 1: pooling = .mean
        case 2: pooling = .cls
        case let t: throw CoreError.file(path, "bert.pooling_type \(t) is not supported (1 = mean, 2 = cls)")
        }
        return SentenceEncoder(bert: bert, tokenizer: tokenizer, pooling: [pooling], normalize: true,
                               maxSequenceLength: config.maxPositions, lowercasesInput: false, directory: path)
    }

    // MARK: Encoding

    /// The ids the model sees for `text` and whether it was cut to `maxSequenceLength`.
    public func tokenize(_ text: String) -> (ids: [Int], truncated: Bool) {
        let pieces = tokenizer.encode(lowercasesInput ? text.lowercased() : text)
        return (tokenizer.wrap(pieces, maxLength: maxSequenceLength), pieces.count + 2 > maxSequenceLength)
    }

    /// `SentenceTransformer.encode(texts, batch_size)`: each batch of texts runs as one packed
    /// forward pass; the result does not depend on how texts are batched (no padding).
    public func encode(_ texts: [String], batchSize: Int = 32) throws -> Embeddings {
        guard batchSize >= 1 else { throw CoreError.invalid("batch size must be at least 1, got \(batchSize)") }
        var out = Embeddings(values: [], count: texts.count, dimension: dimension, tokenCounts: [], truncated: [])
        out.values.reserveCapacity(texts.count * dimension)
        for first in stride(from: 0, to: texts.count, by: batchSize) {
            let batch = texts[first..<min(texts.count, first + batchSize)]
            var ids: [[Int]] = []
            for (i, text) in batch.enumerated() {
                let t = tokenize(text)
                ids.append(t.ids)
                if t.truncated { out.truncated.append(first + i) }
            }
            out.tokenCounts += ids.map(\.count)
            out.values += try embed(ids)
        }
        return out
    }

    /// Pooled (and normalized) vectors of token sequences already wrapped in [CLS] / [SEP]:
    /// `ids.count × dimension` values.
    public func embed(_ ids: [[Int]]) throws -> [Float] {
        let hidden = try bert.forward(ids)
        let d = bert.config.hiddenSize, dim = dimension
        var out = [Float](repeating: 0, count: ids.count * dim)
        var start = 0
        hidden.withUnsafeBufferPointer { h in
            out.withUnsafeMutableBufferPointer { o in
                for (s, seq) in ids.enumerated() {
                    let n = seq.count, rows = h.baseAddress! + start * d
                    for (k, mode) in pooling.enumerated() {
                        Self.poolRows(rows, count: n, d: d, mode: mode, into: o.baseAddress! + s * dim + k * d)
                    }
                    if normalize {
                        let v = o.baseAddress! + s * dim
                        var sum: Float = 0
                        for i in 0..<dim { sum += v[i] * v[i] }
                        let inv = 1 / max(sum.squareRoot(), 1e-12)
                        for i in 0..<dim { v[i] *= inv }
                    }
                    start += n
                }
            }
        }
        return out
    }

    static func poolRows(_ rows: UnsafePointer<Float>, count n: Int, d: Int, mode: Pooling, into v: UnsafeMutablePointer<Float>) {
        switch mode {
        case .cls:
            v.update(from: rows, count: d)
        case .max:
            v.update(from: rows, count: d)
            for t in 1..<max(n, 1) { for i in 0..<d { v[i] = Swift.max(v[i], rows[t * d + i]) } }
        case .mean, .meanSqrtLength:
            v.initialize(repeating: 0, count: d)
            for t in 0..<n { for i in 0..<d { v[i] += rows[t * d + i] } }
            let scale = mode == .mean ? 1 / Float(n) : 1 / Float(n).squareRoot()
            for i in 0..<d { v[i] *= scale }
        }
    }

    // MARK: The folder's files

    struct Modules { var transformerPath = ""; var poolingPath: String?; var normalize = false }

    /// The Transformer module's folder inside `reference` ("" when the model files sit at the top).
    static func transformerPath(_ reference: String) -> String {
        (try? readModules(URL(fileURLWithPath: reference)))?.transformerPath ?? ""
    }

    static func readModules(_ root: URL) throws -> Modules {
        let file = root.appendingPathComponent("modules.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { return Modules(poolingPath: nil) }
        guard case let .array(items) = try ParsedJSON.parse(data, source: file.path) else {
            throw CoreError.file(file.path, "expected a JSON list of modules")
        }
        var m = Modules()
        var sawTransformer = false
        for (i, item) in items.enumerated() {
            guard case let .object(o) = item, case let .string(type)? = o["type"] else {
                throw CoreError.file(file.path, "module \(i) has no \"type\"")
            }
            let path: String
            if case let .string(p)? = o["path"] { path = p } else { path = "" }
            switch type.split(separator: ".").last.map(String.init) ?? type {
            case "Transformer":
                guard i == 0 else { throw CoreError.file(file.path, "the Transformer must be the first module, found it at \(i)") }
                m.transformerPath = path; sawTransformer = true
            case "Pooling": m.poolingPath = path
            case "Normalize": m.normalize = true
            default:
                throw CoreError.unsupported("\(file.path): module \(i) is \(type); exprun runs Transformer, Pooling and Normalize modules only")
            }
        }
        guard sawTransformer else { throw CoreError.file(file.path, "no sentence_transformers Transformer module") }
        return m
    }

    /// Pooling modes from `1_Pooling/config.json`: sentence-transformers' older booleans
    /// (`pooling_mode_mean_tokens: true`) or its newer `pooling_mode: "mean"` (a name or a list).
    static func readPooling(_ dir: URL, hidden: Int) throws -> [Pooling] {
        let path = dir.appendingPathComponent("config.json").path
        let c = try HFConfig(path: path)
        let known = Pooling.allCases.map(\.rawValue).joined(separator: ", ")
        var modes: Set<Pooling> = []
        if let v = c.values["pooling_mode"], v != .null {
            let names: [ParsedJSON]
            if case let .array(a) = v { names = a } else { names = [v] }
            for n in names {
                guard case let .string(s) = n else { throw CoreError.file(path, "pooling_mode must be a name or a list of names, found \(n)") }
                let name = s == "mean_sqrt_len" ? Pooling.meanSqrtLength.rawValue : s
                guard let mode = Pooling(rawValue: name) else {
                    throw CoreError.file(path, "pooling_mode \(quoted: s) is not supported (known: \(known))")
                }
                modes.insert(mode)
            }
        } else {
            let flags: [(String, Pooling?)] = [
                ("pooling_mode_cls_token", .cls), ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_tokens", .mean),
                ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLength), ("pooling_mode_weightedmean_tokens", nil),
                ("pooling_mode_lasttoken", nil),
            ]
            for (key, mode) in flags where try c.bool(key) == true {
                guard let mode else { throw CoreError.file(path, "\(key) is true: that pooling mode is not supported (known: \(known))") }
                modes.insert(mode)
            }
        }
        guard !modes.isEmpty else { throw CoreError.file(path, "no pooling mode is set (known: \(known))") }
        let dim = try c.int("word_embedding_dimension") ?? c.int("embedding_dimension")
        if let dim, dim != hidden {
            throw CoreError.file(path, "the pooling expects \(dim)-dimensional token vectors, but the model's hidden_size is \(hidden)")
        }
        return Pooling.allCases.filter(modes.contains)
    }

    static func tokenizerMaxLength(_ url: URL) throws -> Int? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let c = try HFConfig(path: url.path)
        // transformers writes a huge number (1e30) for "no limit".
        guard let m = try? c.double("model_max_length"), m >= 2, m < 1e9 else { return nil }
        return Int(m)
    }

    /// BertModel names onto a checkpoint (`embeddings...` or `bert.embeddings...` when saved from a
    /// model with a head); unused tensors (position_ids, the pooler, heads) are skipped, unknown
    /// ones under the model's prefix refused.
    static func checkpointSource(_ ckpt: SafeTensorsCheckpoint) throws -> BERT.WeightSource {
        let file = ckpt.displayName
        let prefix: String
        if ckpt.contains("embeddings.word_embeddings.weight") { prefix = "" }
        else if ckpt.contains("bert.embeddings.word_embeddings.weight") { prefix = "bert." }
        else { throw CoreError.file(file, "no BERT embedding table: expected 'embeddings.word_embeddings.weight' (or 'bert.embeddings...')") }
        let known = try! Regex(#"^embeddings\.(word_embeddings|position_embeddings|token_type_embeddings)\.weight$|^embeddings\.LayerNorm\.(weight|bias)$|^encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|attention\.output\.LayerNorm|intermediate\.dense|output\.dense|output\.LayerNorm)\.(weight|bias)$"#)
        for name in ckpt.names where name.hasPrefix(prefix) {
            let local = String(name.dropFirst(prefix.count))
            if BERT.isUnused(local) || local.wholeMatch(of: known) != nil { continue }
            throw CoreError.file(file, "unexpected tensor \(quoted: name) for a BertModel (is this a BERT checkpoint? LayerNorm.gamma / beta names of old checkpoints are not read)")
        }
        return { name, shape in
            let key = prefix + name
            guard let e = ckpt.entry(key) else { throw CoreError.file(file, "missing tensor \(quoted: key) (config.json implies it)") }
            guard e.shape == shape else {
                throw CoreError.file(file, "tensor \(quoted: key) has shape \(e.shape), but config.json implies \(shape)")
            }
            guard e.dtype.isFloat else {
                throw CoreError.file(file, "tensor \(quoted: key) is \(e.dtype.rawValue); expected a float type (F32, F16, BF16)")
            }
            return WeightRows(tensor: try ckpt.tensor(key), transposed: false)
        }
    }
}
