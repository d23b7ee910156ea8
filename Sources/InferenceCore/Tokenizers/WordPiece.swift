// BERT's WordPiece tokenizer (Devlin et al. 2018; Wu et al. 2016), as Hugging Face tokenizers runs
// it for `BertTokenizerFast` (its `BertNormalizer`, `BertPreTokenizer` and `WordPiece` model):
//
//   special tokens ([CLS], [SEP], ...) are cut out of the raw text first (when parsing them);
//   normalize:  drop U+0000, U+FFFD and characters of category Cc / Cf / Co (tab, CR and LF are
//               whitespace, not control); every White_Space character → ' ';
//               ' ' around each CJK ideograph (the CJK Unified Ideograph blocks only: kana and
//               Hangul are left alone);
//               strip accents: NFD, then drop nonspacing marks (Mn); then lower-case each scalar
//               with its full mapping (İ → i + U+0307, no final-sigma rule) — in that order;
//   pre-tokenize: split on White_Space (dropped) and punctuation (ASCII punctuation, which also
//               counts $ + < = > ^ ` | ~, or Unicode category P*), each punctuation mark a word;
//   WordPiece:  a word of more than 100 scalars is [UNK]; else greedy longest match from the left,
//               pieces after the first looked up as "##piece"; a word with any unmatched rest is
//               one [UNK].
//
// `encode` gives the pieces without [CLS] / [SEP]; `wrap` adds them as BERT's post-processor does.
// Vocabularies come from `vocab.txt` (one token per line, the line number is the id), a
// `tokenizer.json` of this kind, or a GGUF with `tokenizer.ggml.model = bert`, where llama.cpp's
// converter stored word-initial pieces with a leading "▁" and continuations without "##".
import Foundation

public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    /// What the normalizer does (BertNormalizer's switches; `stripAccents` nil follows `lowercase`).
    public struct Normalization: Sendable, Equatable {
        public var cleanText = true
        public var splitChineseCharacters = true
        public var stripAccents = true
        public var lowercase = true
        public init(cleanText: Bool = true, splitChineseCharacters: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
            self.cleanText = cleanText; self.splitChineseCharacters = splitChineseCharacters
            self.stripAccents = stripAccents ?? lowercase; self.lowercase = lowercase
        }
    }

    /// Token texts by id, in Hugging Face form (`hello`, `##ing`, `[CLS]`).
    public let tokens: [String]
    public let normalization: Normalization
    public let unknownID: Int
    public let clsID: Int
    public let sepID: Int
    public let padID: Int?
    public var vocabularySize: Int { tokens.count }
    public var bosTokenID: Int? { clsID }
    public var eosTokenID: Int? { sepID }
    /// Encoding for the model adds [CLS] and [SEP] (`wrap`); plain `encode` adds neither.
    public var addsBOS: Bool { false }
    public let maxInputCharactersPerWord = 100

    private let ids: [String: Int32]
    private let longestToken: Int              // in scalars, "##" excluded: bounds the greedy search
    private let specials: SpecialTokenMatcher
    private let specialIDs: Set<Int>

    /// - tokens: token texts by id, continuations with "##".
    /// - special: tokens matched in raw text before normalization (when parsing special tokens).
    public init(tokens: [String], normalization: Normalization = Normalization(), unknown: String = "[UNK]",
                cls: String = "[CLS]", sep: String = "[SEP]", pad: String? = "[PAD]", special: [String]? = nil,
                source: String) throws {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        var longest = 1
        for (i, t) in tokens.enumerated() where ids[t] == nil {
            ids[t] = Int32(i)
            longest = max(longest, t.unicodeScalars.count - (t.hasPrefix("##") ? 2 : 0))
        }
        func id(_ name: String) throws -> Int {
            guard let i = ids[name] else { throw CoreError.file(source, "the vocabulary has no \(name) token; a BERT vocabulary needs [UNK], [CLS] and [SEP]") }
            return Int(i)
        }
        unknownID = try id(unknown)
        clsID = try id(cls)
        sepID = try id(sep)
        padID = pad.flatMap { ids[$0].map(Int.init) }
        self.tokens = tokens
        self.normalization = normalization
        self.ids = ids
        longestToken = longest
        let specialNames = special ?? [pad, unknown, cls, sep, "[MASK]"].compactMap { $0 }
        let specialList = specialNames.compactMap { name in ids[name].map { (text: name, id: Int($0), attributes: TokenAttributes.control) } }
        specials = SpecialTokenMatcher(specialList)
        specialIDs = Set(specialList.map(\.id))
    }

    /// `vocab.txt` of a model directory, with the switches of its `tokenizer_config.json` when given
    /// (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`; transformers' defaults otherwise).
    public convenience init(vocabTXT: URL, tokenizerConfig: URL? = nil) throws {
        let text: String
        do { text = try String(contentsOf: vocabTXT, encoding: .utf8) } catch {
            throw CoreError.file(vocabTXT.path, "cannot read: \(error.localizedDescription)")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        // transformers strips each line's trailing newline only (a "\r" would be part of the token).
        var normalization = Normalization()
        if let tokenizerConfig, FileManager.default.fileExists(atPath: tokenizerConfig.path) {
            let c = try HFConfig(path: tokenizerConfig.path)
            let lower = try c.bool("do_lower_case") ?? true
            normalization = Normalization(splitChineseCharacters: try c.bool("tokenize_chinese_chars") ?? true,
                                          stripAccents: try c.bool("strip_accents"), lowercase: lower)
        }
        try self.init(tokens: lines, normalization: normalization, source: vocabTXT.path)
    }

    /// A `tokenizer.json` whose model is WordPiece (BertNormalizer, BertPreTokenizer).
    public convenience init(tokenizerJSON url: URL) throws {
        struct File: Decodable {
            struct Model: Decodable {
                var type: String?
                var vocab: [String: Int]?
                var unk_token: String?
                var continuing_subword_prefix: String?
                var max_input_chars_per_word: Int?
            }
            struct Normalizer: Decodable {
                var type: String
                var clean_text: Bool?
                var handle_chinese_chars: Bool?
                var strip_accents: Bool?
                var lowercase: Bool?
            }
            struct Pre: Decodable { var type: String }
            struct Added: Decodable { var id: Int; var content: String; var special: Bool? }
            var model: Model
            var normalizer: Normalizer?
            var pre_tokenizer: Pre?
            var added_tokens: [Added]?
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: try Data(contentsOf: url)) } catch {
            throw CoreError.file(url.path, "not a Hugging Face tokenizer.json: \(error.localizedDescription)")
        }
        guard file.model.type == "WordPiece", let vocab = file.model.vocab else {
            throw CoreError.file(url.path, "model type is \(file.model.type ?? "missing"), not WordPiece")
        }
        guard let n = file.normalizer, n.type == "BertNormalizer", file.pre_tokenizer?.type == "BertPreTokenizer" else {
            throw CoreError.unsupported("\(url.path): only BERT's normalizer and pre-tokenizer (BertNormalizer, BertPreTokenizer) are implemented for WordPiece; found \(file.normalizer?.type ?? "none") and \(file.pre_tokenizer?.type ?? "none")")
        }
        guard (file.model.continuing_subword_prefix ?? "##") == "##", (file.model.max_input_chars_per_word ?? 100) == 100 else {
            throw CoreError.unsupported("\(url.path): WordPiece with continuing_subword_prefix '\(file.model.continuing_subword_prefix ?? "")' and max_input_chars_per_word \(file.model.max_input_chars_per_word ?? 0) (only '##' and 100 are implemented)")
        }
        var tokens = [String](repeating: "", count: (vocab.values.max() ?? -1) + 1)
        for (text, id) in vocab {
            guard id >= 0 else { throw CoreError.file(url.path, "model.vocab gives \(quoted: text) the negative id \(id)") }
            tokens[id] = text
        }
        let special = (file.added_tokens ?? []).filter { $0.special ?? true }.map(\.content)
        try self.init(tokens: tokens,
                      normalization: Normalization(cleanText: n.clean_text ?? true, splitChineseCharacters: n.handle_chinese_chars ?? true,
                                                   stripAccents: n.strip_accents, lowercase: n.lowercase ?? true),
                      unknown: file.model.unk_token ?? "[UNK]", special: special.isEmpty ? nil : special, source: url.path)
    }

    /// A GGUF vocabulary (`tokenizer.ggml.model = bert`). llama.cpp's converter wrote "▁piece" for
    /// word-initial pieces, "piece" for continuations and "[NAME]" unchanged; this undoes it.
    public convenience init(gguf: GGUFFile) throws {
        guard let stored = try gguf.strings("tokenizer.ggml.tokens") else {
            throw CoreError.file(gguf.path, "no tokenizer.ggml.tokens in the metadata")
        }
        let tokens = stored.map { t -> String in
            if t.hasPrefix("▁") { return String(t.dropFirst()) }
            if t.hasPrefix("[") && t.hasSuffix("]") { return t }
            return "##" + t
        }
        func name(_ key: String, _ fallback: String) throws -> String {
            guard let id = try gguf.int("tokenizer.ggml.\(key)") else { return fallback }
            guard tokens.indices.contains(id) else { throw CoreError.file(gguf.path, "tokenizer.ggml.\(key) = \(id) is not a token id (the vocabulary has \(tokens.count))") }
            return tokens[id]
        }
        let types = try gguf.ints("tokenizer.ggml.token_type") ?? []
        let control = types.enumerated().filter { $0.element == 3 }.map { tokens[$0.offset] }
        try self.init(tokens: tokens, unknown: try name("unknown_token_id", "[UNK]"), cls: try name("cls_token_id", "[CLS]"),
                      sep: try name("seperator_token_id", "[SEP]"), pad: try name("padding_token_id", "[PAD]"),
                      special: control.isEmpty ? nil : control, source: gguf.path)
    }

    /// The WordPiece tokenizer of a model directory that has BERT's `vocab.txt`: its `tokenizer.json`
    /// when that is WordPiece (what transformers loads), else `vocab.txt` with `tokenizer_config.json`.
    /// Nil when there is no `vocab.txt`.
    public static func load(directory dir: URL) throws -> WordPieceTokenizer? {
        let fm = FileManager.default
        let vocab = dir.appendingPathComponent("vocab.txt")
        guard fm.fileExists(atPath: vocab.path) else { return nil }
        let json = dir.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: json.path) {
            struct Kind: Decodable { struct Model: Decodable { var type: String? }; var model: Model }
            if let data = fm.contents(atPath: json.path), (try? JSONDecoder().decode(Kind.self, from: data))?.model.type == "WordPiece" {
                return try WordPieceTokenizer(tokenizerJSON: json)
            }
        }
        return try WordPieceTokenizer(vocabTXT: vocab, tokenizerConfig: dir.appendingPathComponent("tokenizer_config.json"))
    }

    // MARK: Encoding

    public func encode(_ text: String, parseSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        out.reserveCapacity(bytes.count / 3)
        for piece in specials.split(bytes, parseSpecial: parseSpecial) {
            switch piece {
            case let .special(id): out.append(id)
            case let .text(range):
                for word in preTokenize(normalize(String(decoding: bytes[range], as: UTF8.self))) {
                    wordPiece(word, into: &out)
                }
            }
        }
        return out
    }

    /// `[CLS] ids [SEP]`, cut to `maxLength` tokens as sentence-transformers truncates (the first
    /// `maxLength - 2` pieces are kept).
    public func wrap(_ ids: [Int], maxLength: Int? = nil) -> [Int] {
        let keep = maxLength.map { max(0, $0 - 2) } ?? ids.count
        return [clsID] + ids.prefix(keep) + [sepID]
    }

    /// The text the pre-tokenizer sees, as scalars.
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        for u in text.unicodeScalars {
            if normalization.cleanText {
                if u.value == 0 || u.value == 0xFFFD || Self.isControl(u) { continue }
                if Self.isWhitespace(u) { scalars.append(" "); continue }
            }
            if normalization.splitChineseCharacters && Self.isChineseCharacter(u) {
                scalars.append(" "); scalars.append(u); scalars.append(" ")
            } else {
                scalars.append(u)
            }
        }
        if normalization.stripAccents && scalars.contains(where: { $0.value >= 0x80 }) {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars)
            scalars = String(s).decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if normalization.lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(scalars.count)
            for u in scalars {
                if u.value < 0x80 {
                    lowered.append(u.value >= 0x41 && u.value <= 0x5A ? Unicode.Scalar(u.value + 32)! : u)
                } else {
                    lowered.append(contentsOf: u.properties.lowercaseMapping.unicodeScalars)
                }
            }
            scalars = lowered
        }
        return scalars
    }

    /// Words: runs between White_Space, each punctuation mark on its own.
    func preTokenize(_ scalars: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        for (i, u) in scalars.enumerated() {
            let space = u.properties.isWhitespace
            if space || Self.isPunctuation(u) {
                if start < i { words.append(scalars[start..<i]) }
                if !space { words.append(scalars[i...i]) }
                start = i + 1
            }
        }
        if start < scalars.count { words.append(scalars[start...]) }
        return words
    }

    /// Greedy longest-match-first over one word.
    func wordPiece(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        guard word.count <= maxInputCharactersPerWord else { out.append(unknownID); return }
        let chars = Array(word)
        var pieces: [Int] = []
        var start = 0
        while start < chars.count {
            var end = min(chars.count, start + longestToken)
            var found: Int32?
            while end > start {
                var view = String.UnicodeScalarView()
                if start > 0 { view.append(contentsOf: "##".unicodeScalars) }
                view.append(contentsOf: chars[start..<end])
                if let id = ids[String(view)] { found = id; break }
                end -= 1
            }
            guard let found else { out.append(unknownID); return }
            pieces.append(Int(found))
            start = end
        }
        out.append(contentsOf: pieces)
    }

    // MARK: Decoding

    /// Hugging Face's WordPiece decoder: "##" continuations glued on, other pieces after a space,
    /// then its clean-up (" ." → "." and the like) on each piece by itself, as tokenizers does it.
    public func decode(_ ids: [Int]) throws -> String {
        var text = ""
        for (i, id) in ids.enumerated() {
            guard tokens.indices.contains(id) else { throw CoreError.invalid("token id \(id) is out of range: the vocabulary has \(tokens.count) tokens") }
            var piece = tokens[id]
            if piece.hasPrefix("##") && !specialIDs.contains(id) { piece.removeFirst(2) } else if i > 0 { piece = " " + piece }
            for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                               (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
                piece = piece.replacingOccurrences(of: from, with: to)
            }
            text += piece
        }
        return text
    }

    // MARK: Character classes (as Hugging Face tokenizers defines them)

    /// Tab, LF and CR count as whitespace; otherwise White_Space.
    static func isWhitespace(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace }

    /// Categories Cc, Cf and Co (the `unicode_categories` crate's `is_other`), tab / LF / CR excepted.
    static func isControl(_ u: Unicode.Scalar) -> Bool {
        if u == "\t" || u == "\n" || u == "\r" { return false }
        switch u.properties.generalCategory {
        case .control, .format, .privateUse: return true
        default: return false
        }
    }

    static func isPunctuation(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if v < 0x80 { return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v) }
        switch u.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks (and compatibility ideographs), as BERT defines "Chinese".
    static func isChineseCharacter(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}
