// Byte-level BPE (Radford et al. 2019, GPT-2; the tokenizer of Llama 3, Qwen, SmolLM, Mistral's
// Tekken, ...), as llama.cpp runs it (src/llama-vocab.cpp, `llm_tokenizer_bpe_session`).
//
// Encoding: text → special tokens cut out (SpecialTokens.swift) → the vocabulary's pre-tokenizer
// splits the rest into words (PreTokenizers.swift) → each word's UTF-8 bytes become symbols (every
// byte has a printable stand-in character, `Ġ` for the space) → adjacent pairs merge by the rank of
// their merge rule, lowest rank first, leftmost on ties, one merge at a time, until no pair has a
// rule. Where the pre-tokenizer says so (Llama 3, Tekken), a word that is itself a token skips the
// merging. A symbol that is not a token in the end (a rule whose result the vocabulary lacks) falls
// back to its characters' one-byte tokens, as llama.cpp's does.
// Decoding: concatenate the tokens' bytes and repair invalid UTF-8 with U+FFFD.
import Foundation

public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    /// Token texts by id, in the byte↔unicode alphabet (`Ġhello`).
    public let tokens: [String]
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// Ids that end generation: EOS and, as in llama.cpp, tokens such as `<|im_end|>`.
    public let endOfGenerationIDs: Set<Int>
    /// The `tokenizer.ggml.pre` name of the pre-tokenizer (`gpt-2` for Hugging Face files).
    public var preTokenizerName: String { preTokenizer.name }

    let preTokenizer: PreTokenizer
    private let tokenBytes: ByteStrings        // decoded bytes per id (empty for holes in the vocabulary)
    private let validID: [Bool]
    /// Symbols are token ids, or ids from `vocabularySize` on for strings that merge rules produce
    /// but the vocabulary lacks.
    private let byteSymbol: [Int32]            // the symbol of each single byte
    /// (left symbol, right symbol) → (rank << 32 | merged symbol).
    private let merges: [UInt64: UInt64]
    /// Per byte: the tokens a non-token symbol falls back to for it (those of its stand-in's UTF-8
    /// bytes taken one at a time; only an ASCII stand-in has one).
    private let byteFallback: [Int32]
    /// Token texts (UTF-8 of the stand-in alphabet) → id, for words that skip merging.
    private let wordTable: ByteStringTable?
    private let specials: SpecialTokenMatcher

    /// GPT-2's map from bytes to printable unicode stand-ins: printable Latin-1 bytes map to
    /// themselves, the other 68 to U+0100 onwards, in byte order.
    public static let byteToUnicode: [Unicode.Scalar] = {
        var map = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                map[b] = Unicode.Scalar(UInt8(b))
            } else {
                map[b] = Unicode.Scalar(next)!   // 256..<324: always valid scalars
                next += 1
            }
        }
        return map
    }()

    /// Builds the tokenizer from its parts.
    /// - tokens: token texts by id (holes: nil).
    /// - merges: merge rules in rank order, each a pair of symbol texts.
    /// - specials: the vocabulary's special tokens (attributes per id, end-of-generation ids).
    /// - source: names the file(s) in errors.
    init(tokens: [String?], merges: [(String, String)], specials: VocabularySpecials, preTokenizer: PreTokenizer,
         bos: Int?, eos: Int?, addsBOS: Bool = false, addsEOS: Bool = false, source: String) throws {
        let n = tokens.count
        guard n > 0 else { throw CoreError.file(source, "the vocabulary is empty") }
        var textID: [String: Int32] = [:]
        textID.reserveCapacity(n)
        for (id, t) in tokens.enumerated() { if let t { textID[t] = Int32(id) } }     // the last id wins, as in llama.cpp
        var virtual: [String: Int32] = [:]
        func symbol(_ text: String, create: Bool) -> Int32? {
            if let id = textID[text] ?? virtual[text] { return id }
            guard create else { return nil }
            let id = Int32(n + virtual.count)
            virtual[text] = id
            return id
        }
        var unicodeToByte: [UInt32: UInt8] = [:]
        var byteSymbol = [Int32](repeating: -1, count: 256)
        var byteFallback = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let scalar = Self.byteToUnicode[b]
            unicodeToByte[scalar.value] = UInt8(b)
            byteSymbol[b] = symbol(String(Character(scalar)), create: true)!
            if scalar.value < 128, let id = textID[String(Character(scalar))] { byteFallback[b] = id }
        }
        for (a, b) in merges { _ = symbol(a + b, create: true) }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            // A rule whose parts no byte or rule can produce never fires.
            guard let l = symbol(a, create: false), let r = symbol(b, create: false) else { continue }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(symbol(a + b, create: false)!)) }
        }
        var tokenBytes = ByteStrings(capacity: n)
        for (id, t) in tokens.enumerated() {
            guard let t else { tokenBytes.append([]); continue }
            if !specials.attributes[id].isDisjoint(with: [.control, .userDefined]) { tokenBytes.append(t.utf8); continue }
            var bytes: [UInt8] = []
            for s in t.unicodeScalars {
                if let b = unicodeToByte[s.value] { bytes.append(b) } else { bytes.append(contentsOf: String(s).utf8) }
            }
            tokenBytes.append(bytes)
        }
        self.tokens = tokens.map { $0 ?? "" }
        self.vocabularySize = n
        self.tokenBytes = tokenBytes
        self.validID = tokens.map { $0 != nil }
        self.byteSymbol = byteSymbol
        self.byteFallback = byteFallback
        self.merges = table
        self.preTokenizer = preTokenizer
        self.wordTable = preTokenizer.ignoreMerges ? ByteStringTable(tokens.map { Array(($0 ?? "").utf8) }) : nil
        self.specials = specials.matcher(tokens.map { $0 ?? "" })
        self.bosTokenID = bos
        self.eosTokenID = eos
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.endOfGenerationIDs = specials.endOfGeneration
    }

    // MARK: Encoding

    public func encode(_ text: String, parseSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        out.reserveCapacity(bytes.count / 3)
        // Words repeat a lot in running text; the cache lives for one call, so no locking is needed.
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        for piece in specials.split(bytes, parseSpecial: parseSpecial) {
            switch piece {
            case let .special(id): out.append(id)
            case let .text(range):
                let (scalars, offsets) = utf8Scalars(bytes[range])
                for w in preTokenizer.split(scalars) {
                    let word = bytes[offsets[w.lowerBound]..<offsets[w.upperBound]]
                    if let hit = cache[word] {
                        for id in hit { out.append(Int(id)) }
                    } else {
                        let ids = bpe(word)
                        if cache.count < 100_000 { cache[word] = ids }
                        for id in ids { out.append(Int(id)) }
                    }
                }
            }
        }
        return out
    }

    /// Merges one word's bytes into tokens: the pair of lowest rank merges first, leftmost on ties,
    /// one merge at a time (as Hugging Face tokenizers and llama.cpp do).
    func bpe(_ word: ArraySlice<UInt8>) -> [Int32] {
        if let wordTable {
            var encoded: [UInt8] = []
            encoded.reserveCapacity(word.count * 2)
            for b in word { encoded.append(contentsOf: String(Character(Self.byteToUnicode[Int(b)])).utf8) }
            let id = wordTable.lookup(encoded)
            if id >= 0 { return [id] }
        }
        var symbols = word.map { byteSymbol[Int($0)] }
        var lengths = [Int](repeating: 1, count: symbols.count)      // bytes per symbol
        while symbols.count > 1 {
            var best = UInt64.max
            var at = -1
            for k in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(bitPattern: symbols[k])) << 32 | UInt64(UInt32(bitPattern: symbols[k + 1]))
                if let m = merges[key], m < best { best = m; at = k }
            }
            if at < 0 { break }
            symbols[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: at + 1)
            lengths[at] += lengths.remove(at: at + 1)
        }
        guard symbols.contains(where: { $0 >= Int32(vocabularySize) }) else { return symbols }
        var out: [Int32] = []
        var offset = word.startIndex
        for (s, length) in zip(symbols, lengths) {
            if s < Int32(vocabularySize) {
                out.append(s)
            } else {
                for b in word[offset..<(offset + length)] where byteFallback[Int(b)] >= 0 { out.append(byteFallback[Int(b)]) }
            }
            offset += length
        }
        return out
    }

    // MARK: Decoding

    public func decode(_ ids: [Int]) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0, id < vocabularySize, validID[id] else {
                throw CoreError.invalid("token id \(id) is out of range: the vocabulary has ids 0..<\(vocabularySize)")
            }
            bytes.append(contentsOf: tokenBytes[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes a token stands for (before UTF-8 repair), for streaming output.
    public func bytes(of id: Int) -> [UInt8]? {
        guard id >= 0, id < vocabularySize, validID[id] else { return nil }
        return Array(tokenBytes[id])
    }

    // MARK: Loading

    /// From Hugging Face's `vocab.json` (token → id) and `merges.txt` (one `a b` rule per line, in
    /// rank order, after an optional `#version` line). `<|endoftext|>`, when in the vocabulary, is
    /// the special token and BOS/EOS, as in GPT-2.
    public convenience init(vocabJSON: URL, mergesTXT: URL) throws {
        let vocab = try Self.readVocabJSON(vocabJSON)
        let merges = try Self.readMergesTXT(mergesTXT)
        try self.init(vocab: vocab, merges: merges, source: vocabJSON.path)
    }

    /// From Hugging Face files: added tokens marked special are control tokens, the others
    /// user-defined (always cut out of text); GPT-2's pre-tokenizer.
    convenience init(vocab: [String: Int], merges: [(String, String)],
                     added: [(text: String, id: Int, special: Bool)] = [], source: String) throws {
        var all = vocab
        for a in added { all[a.text] = a.id }
        guard let maxID = all.values.max() else { throw CoreError.file(source, "the vocabulary is empty") }
        guard all.values.allSatisfy({ $0 >= 0 }), maxID < 10_000_000 else {
            throw CoreError.file(source, "token ids must lie in 0..<10,000,000 (found \(maxID) or a negative id)")
        }
        var tokens = [String?](repeating: nil, count: maxID + 1)
        for (t, id) in all {
            if let other = tokens[id], other != t {
                throw CoreError.file(source, "token id \(id) is given to both \(quoted: other) and \(quoted: t)")
            }
            tokens[id] = t
        }
        var types = [Int](repeating: GGUFTokenType.normal, count: tokens.count)
        for a in added { types[a.id] = a.special ? GGUFTokenType.control : GGUFTokenType.userDefined }
        let eot = all["<|endoftext|>"]
        if let eot, !added.contains(where: { $0.id == eot }) { types[eot] = GGUFTokenType.control }
        let specials = VocabularySpecials(tokens: tokens.map { $0 ?? "" }, types: types, roles: .init(eos: eot))
        try self.init(tokens: tokens, merges: merges, specials: specials, preTokenizer: try PreTokenizer.named("gpt-2"),
                      bos: eot, eos: eot, source: source)
    }

    static func readVocabJSON(_ url: URL) throws -> [String: Int] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CoreError.file(url.path, "cannot read: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode([String: Int].self, from: data) } catch {
            throw CoreError.file(url.path, "not a JSON object of token → integer id: \(error.localizedDescription)")
        }
    }

    static func readMergesTXT(_ url: URL) throws -> [(String, String)] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CoreError.file(url.path, "cannot read: \(error.localizedDescription)")
        }
        let text = String(decoding: data, as: UTF8.self)
        var merges: [(String, String)] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty || (lineNumber == 1 && line.hasPrefix("#version")) { continue }
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CoreError.file(url.path, "line \(lineNumber): a merge rule is two tokens separated by one space, found \(quoted: String(line))")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    /// From a GGUF with `tokenizer.ggml.model` = `gpt2`, as llama.cpp's `llama_vocab::impl::load`
    /// reads it: tokens, merges, token types, the pre-tokenizer (`default` when absent), special
    /// token ids (BOS and EOS default to 11), `add_bos_token` (by default per pre-tokenizer) and
    /// `add_eos_token`.
    /// `preTokenizer` replaces the file's `tokenizer.ggml.pre` (tests run llama.cpp's every
    /// pre-tokenizer on one vocabulary).
    public convenience init(gguf: GGUFFile, preTokenizer: String? = nil) throws {
        guard var tokens = try gguf.strings("tokenizer.ggml.tokens") else {
            throw CoreError.file(gguf.path, "no tokenizer.ggml.tokens in the metadata")
        }
        for i in tokens.indices where tokens[i].isEmpty { tokens[i] = "[EMPTY_\(i)]" }
        let pre = try PreTokenizer.named(try preTokenizer ?? gguf.string("tokenizer.ggml.pre") ?? "default", source: gguf.path)
        let mergeLines = try gguf.strings("tokenizer.ggml.merges") ?? []
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeLines.count)
        for (i, m) in mergeLines.enumerated() {
            // llama.cpp splits at the first space after the first character.
            guard let space = m.utf8.dropFirst().firstIndex(of: 0x20) else {
                throw CoreError.file(gguf.path, "tokenizer.ggml.merges[\(i)] is \(quoted: m), not two tokens separated by a space")
            }
            merges.append((String(m[..<space]), String(m[m.utf8.index(after: space)...])))
        }
        let types = try gguf.ints("tokenizer.ggml.token_type") ?? []
        guard types.isEmpty || types.count >= tokens.count else {
            throw CoreError.file(gguf.path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let n = tokens.count
        func specialID(_ key: String, default value: Int?) throws -> Int? {
            guard let id = try gguf.int("tokenizer.ggml.\(key)_token_id") else { return value.flatMap { $0 < n ? $0 : nil } }
            guard id >= 0, id < n else {
                throw CoreError.file(gguf.path, "tokenizer.ggml.\(key)_token_id \(id) is outside the vocabulary of \(n)")
            }
            return id
        }
        let bos = try specialID("bos", default: pre.hasDefaultBOS ? 11 : nil)
        let eos = try specialID("eos", default: 11)
        let specials = VocabularySpecials(tokens: tokens, types: Array(types.prefix(n)),
                                          roles: try .init(gguf: gguf, eos: eos, vocabularySize: n),
                                          modelName: try gguf.string("general.name"), pre: pre.name,
                                          architecture: try gguf.string("general.architecture"))
        try self.init(tokens: tokens, merges: merges, specials: specials, preTokenizer: pre, bos: bos, eos: eos,
                      addsBOS: try gguf.bool("tokenizer.ggml.add_bos_token") ?? pre.addsBOSByDefault,
                      addsEOS: try gguf.bool("tokenizer.ggml.add_eos_token") ?? false, source: gguf.path)
    }
}
