// GPT-2's byte-level BPE (Radford et al. 2019; OpenAI's encoder.py, Hugging Face's ByteLevel BPE).
//
// Encoding: text → special tokens cut out → GPT-2's pre-tokenizer regex splits the rest into
// words → each word's UTF-8 bytes become the byte tokens (every byte has one, via the byte↔unicode
// map that gives the 256 bytes printable stand-ins: `Ġ` is the space) → adjacent pairs merge by rank,
// lowest rank first, one merge at a time (leftmost on ties), until no pair has a rank.
// Decoding: concatenate the tokens' bytes and repair invalid UTF-8 with U+FFFD.
//
// The pre-tokenizer is the regex
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// implemented by hand over Unicode scalars (NSRegularExpression is slow on Linux), alternative by
// alternative in the regex's order of preference. `\s` is Unicode White_Space.
import Foundation

public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    /// Token texts by id, in the byte↔unicode alphabet (`Ġhello`).
    public let tokens: [String]
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let addsBOS: Bool
    /// Ids that end generation: EOS and, as in llama.cpp, tokens such as `<|im_end|>`.
    public let endOfGenerationIDs: Set<Int>

    private let tokenBytes: ByteStrings        // decoded bytes per id (empty for holes in the vocabulary)
    private let validID: [Bool]
    private let byteToken: [Int32]             // the token of each single byte
    /// (left id, right id) → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
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
    /// - merges: merge rules in rank order, each a pair of token texts.
    /// - special: tokens cut out of text before the pre-tokenizer, with whether only when parsing
    ///   special tokens (control tokens) or always (user-defined tokens).
    /// - source: names the file(s) in errors.
    public init(tokens: [String?], merges: [(String, String)],
                special: [(text: String, id: Int, onlyWhenParsingSpecial: Bool)],
                bos: Int?, eos: Int?, addsBOS: Bool = false, source: String) throws {
        var idOf: [String: Int] = [:]
        idOf.reserveCapacity(tokens.count)
        for (id, t) in tokens.enumerated() {
            if let t, idOf[t] == nil { idOf[t] = id }
        }
        var unicodeToByte: [UInt32: UInt8] = [:]
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let scalar = Self.byteToUnicode[b]
            unicodeToByte[scalar.value] = UInt8(b)
            guard let id = idOf[String(Character(scalar))] else {
                throw CoreError.file(source, "the vocabulary has no token for byte 0x\(String(b, radix: 16)) ('\(scalar)'): not a byte-level BPE vocabulary")
            }
            byteToken[b] = Int32(id)
        }
        let specialIDs = Set(special.map(\.id))
        var tokenBytes = ByteStrings(capacity: tokens.count)
        for (id, t) in tokens.enumerated() {
            guard let t else { tokenBytes.append([]); continue }
            if specialIDs.contains(id) { tokenBytes.append(t.utf8); continue }
            var bytes: [UInt8] = []
            for s in t.unicodeScalars {
                if let b = unicodeToByte[s.value] { bytes.append(b) } else { bytes.append(contentsOf: String(s).utf8) }
            }
            tokenBytes.append(bytes)
        }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            // A rule whose parts or result are not tokens can never fire (its input cannot appear).
            guard let l = idOf[a], let r = idOf[b], let m = idOf[a + b] else { continue }
            let key = UInt64(l) << 32 | UInt64(r)
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(m) }
        }
        self.tokens = tokens.map { $0 ?? "" }
        self.vocabularySize = tokens.count
        self.tokenBytes = tokenBytes
        self.validID = tokens.map { $0 != nil }
        self.byteToken = byteToken
        self.merges = table
        self.specials = SpecialTokenMatcher(special)
        self.bosTokenID = bos
        self.eosTokenID = eos
        self.addsBOS = addsBOS
        var endOfGeneration = Set(eos.map { [$0] } ?? [])
        // Only special tokens qualify: a normal token spelled `</s>` is just text.
        for s in special where endOfGenerationTexts.contains(s.text) { endOfGeneration.insert(s.id) }
        self.endOfGenerationIDs = endOfGeneration
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
                Self.preTokenize(scalars) { a, b in
                    let word = bytes[offsets[a]..<offsets[b]]
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
        var symbols = word.map { byteToken[Int($0)] }
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
        }
        return symbols
    }

    /// Character classes the regex distinguishes.
    enum CharClass: UInt8 { case letter, number, whitespace, other }

    static func charClass(_ v: UInt32) -> CharClass {
        if v < 0x80 {
            switch v {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .whitespace
            default: return .other
            }
        }
        guard let s = Unicode.Scalar(v) else { return .other }
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// GPT-2's pre-tokenizer: calls `emit(a, b)` for each word, as a range of scalar indices.
    static func preTokenize(_ s: [UInt32], _ emit: (Int, Int) -> Void) {
        let n = s.count
        let cls = s.map(charClass)
        let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
        var i = 0
        while i < n {
            // 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2)
            if s[i] == apostrophe, i + 1 < n {
                let c1 = s[i + 1]
                var end = 0
                switch c1 {
                case 0x73, 0x74, 0x6D, 0x64: end = i + 2                               // s t m d
                case 0x72 where i + 2 < n && s[i + 2] == 0x65: end = i + 3             // re
                case 0x76 where i + 2 < n && s[i + 2] == 0x65: end = i + 3             // ve
                case 0x6C where i + 2 < n && s[i + 2] == 0x6C: end = i + 3             // ll
                default: break
                }
                if end > 0 { emit(i, end); i = end; continue }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional literal space, then a run of
            // one class. The space is taken only when a non-whitespace character follows it.
            var j = i
            if s[i] == space, i + 1 < n, cls[i + 1] != .whitespace { j = i + 1 }
            let k = cls[j]
            if k != .whitespace {
                var e = j + 1
                while e < n, cls[e] == k { e += 1 }
                emit(i, e); i = e; continue
            }
            // `\s+(?!\S)`: a whitespace run, less its last character when a non-space follows
            // (that character then starts the next word, e.g. as the space of ` word`);
            // `\s+`: a single whitespace character before a non-space.
            var e = i + 1
            while e < n, cls[e] == .whitespace { e += 1 }
            if e < n, e - i >= 2 { e -= 1 }
            emit(i, e); i = e
        }
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
        var special = added.map { (text: $0.text, id: $0.id, onlyWhenParsingSpecial: $0.special) }
        let eot = all["<|endoftext|>"]
        if let eot, !special.contains(where: { $0.id == eot }) {
            special.append((text: "<|endoftext|>", id: eot, onlyWhenParsingSpecial: true))
        }
        try self.init(tokens: tokens, merges: merges, special: special, bos: eot, eos: eot, source: source)
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

    /// From a GGUF with `tokenizer.ggml.model` = `gpt2`: `tokens`, `merges`, `token_type` (3 control,
    /// 4 user-defined become special tokens), BOS/EOS ids and `add_bos_token`.
    public convenience init(gguf: GGUFFile) throws {
        guard let tokens = try gguf.strings("tokenizer.ggml.tokens") else {
            throw CoreError.file(gguf.path, "no tokenizer.ggml.tokens in the metadata")
        }
        let mergeLines = try gguf.strings("tokenizer.ggml.merges") ?? []
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeLines.count)
        for (i, m) in mergeLines.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CoreError.file(gguf.path, "tokenizer.ggml.merges[\(i)] is \(quoted: m), not two tokens separated by one space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        let types = try gguf.ints("tokenizer.ggml.token_type") ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw CoreError.file(gguf.path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        var special: [(text: String, id: Int, onlyWhenParsingSpecial: Bool)] = []
        for (id, t) in types.enumerated() where t == GGUFTokenType.control || t == GGUFTokenType.userDefined {
            let control = t == GGUFTokenType.control || endOfGenerationTexts.contains(tokens[id])
            special.append((text: tokens[id], id: id, onlyWhenParsingSpecial: control))
        }
        let bos = try gguf.int("tokenizer.ggml.bos_token_id")
        let eos = try gguf.int("tokenizer.ggml.eos_token_id")
        for (key, id) in [("bos", bos), ("eos", eos)] {
            if let id, id < 0 || id >= tokens.count {
                throw CoreError.file(gguf.path, "tokenizer.ggml.\(key)_token_id \(id) is outside the vocabulary of \(tokens.count)")
            }
        }
        try self.init(tokens: tokens, merges: merges, special: special, bos: bos, eos: eos,
                      addsBOS: try gguf.bool("tokenizer.ggml.add_bos_token") ?? false, source: gguf.path)
    }
}

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
enum GGUFTokenType {
    static let normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}
