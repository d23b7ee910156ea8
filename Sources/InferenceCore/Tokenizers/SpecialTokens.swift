// Special tokens (`<|endoftext|>`, `<start_of_turn>`, ...): which tokens of a vocabulary are special
// and how, and cutting them out of text before the ordinary tokenizer sees it, as llama.cpp does
// (src/llama-vocab.cpp: token attributes in `load`, `tokenizer_st_partition`).
//
// A token's attributes start from its GGUF type (control, user-defined, unknown, ...). llama.cpp
// then makes control tokens of those whose text marks an end of turn or a fill-in-the-middle role,
// and adjusts a few by model name (Phi-3's special tokens eat the whitespace after them). Control
// and unknown tokens are cut out of text only when special tokens are parsed; user-defined ones
// always. Cutting goes token by token, longest text first: each token's occurrences, left to right,
// in the text that earlier tokens left.
import Foundation

struct TokenAttributes: OptionSet, Sendable {
    let rawValue: UInt16
    static let undefined   = TokenAttributes(rawValue: 1 << 0)
    static let unknown     = TokenAttributes(rawValue: 1 << 1)
    static let unused      = TokenAttributes(rawValue: 1 << 2)
    static let normal      = TokenAttributes(rawValue: 1 << 3)
    static let control     = TokenAttributes(rawValue: 1 << 4)
    static let userDefined = TokenAttributes(rawValue: 1 << 5)
    static let byte        = TokenAttributes(rawValue: 1 << 6)
    static let leftStrip   = TokenAttributes(rawValue: 1 << 8)     // whitespace before it is dropped
    static let rightStrip  = TokenAttributes(rawValue: 1 << 9)     // whitespace after it is dropped

    /// What marks a special token (llama.cpp's special-token cache).
    static let special: TokenAttributes = [.control, .userDefined, .unknown]

    /// From llama.cpp's token type (`tokenizer.ggml.token_type`).
    init(type: Int) {
        switch type {
        case GGUFTokenType.normal: self = .normal
        case GGUFTokenType.unknown: self = .unknown
        case GGUFTokenType.control: self = .control
        case GGUFTokenType.userDefined: self = .userDefined
        case GGUFTokenType.unused: self = .unused
        case GGUFTokenType.byte: self = .byte
        default: self = .undefined
        }
    }

    init(rawValue: UInt16) { self.rawValue = rawValue }
}

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
enum GGUFTokenType {
    static let normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// The special tokens of a vocabulary: attributes per token and the ids that end generation.
struct VocabularySpecials: Sendable {
    var attributes: [TokenAttributes]
    var endOfGeneration: Set<Int>

    /// Ids the metadata gives for roles llama.cpp otherwise finds by a token's text.
    struct Roles {
        var eos: Int?
        var eot: Int?, eom: Int?
        var fimPrefix: Int?, fimSuffix: Int?, fimMiddle: Int?, fimPad: Int?, fimRepo: Int?, fimSeparator: Int?

        init(eos: Int?) { self.eos = eos }

        /// From `tokenizer.ggml.*_token_id` (ids outside the vocabulary are ignored, as llama.cpp does).
        init(gguf: GGUFFile, eos: Int?, vocabularySize n: Int) throws {
            self.eos = eos
            func id(_ keys: String...) throws -> Int? {
                for k in keys { if let v = try gguf.int("tokenizer.ggml.\(k)_token_id"), v >= 0, v < n { return v } }
                return nil
            }
            eot = try id("eot"); eom = try id("eom")
            fimPrefix = try id("fim_pre", "prefix"); fimSuffix = try id("fim_suf", "suffix"); fimMiddle = try id("fim_mid", "middle")
            fimPad = try id("fim_pad"); fimRepo = try id("fim_rep"); fimSeparator = try id("fim_sep")
        }
    }

    /// - modelName, pre, architecture: `general.name`, `tokenizer.ggml.pre`, `general.architecture`,
    ///   which llama.cpp reads for its per-model fixes.
    init(tokens: [String], types: [Int], roles: Roles, modelName: String? = nil, pre: String? = nil, architecture: String? = nil) {
        var attributes = types.isEmpty ? [TokenAttributes](repeating: .normal, count: tokens.count) : types.map(TokenAttributes.init(type:))
        var idOf: [String: Int] = [:]
        for (id, t) in tokens.enumerated() { idOf[t] = id }
        // The first token of a role's list, when the metadata names none, becomes a control token.
        // (llama.cpp takes whichever its hash map yields first; vocabularies hold at most one.)
        func detect(_ given: Int?, _ texts: [String]) -> Int? {
            if let given { return given }
            guard let id = texts.compactMap({ idOf[$0] }).min() else { return nil }
            attributes[id].insert(.control)
            return id
        }
        let eot = detect(roles.eot, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                                     "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"])
        let eom = detect(roles.eom, ["<|eom_id|>"])
        _ = detect(roles.fimPrefix, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"])
        _ = detect(roles.fimSuffix, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"])
        _ = detect(roles.fimMiddle, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"])
        let pad = detect(roles.fimPad, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])
        let repo = detect(roles.fimRepo, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])
        let sep = detect(roles.fimSeparator, ["<|file_sep|>"])

        var eog = Set([pad, repo, sep].compactMap { $0 })
        for text in endOfGenerationTexts {
            guard let id = idOf[text] else { continue }
            eog.insert(id)
            attributes[id].insert(.control)
        }
        // gpt-oss: always matched in text.
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let id = idOf[text] { attributes[id] = .userDefined }
        }
        for id in [roles.eos, eot, eom].compactMap({ $0 }) { eog.insert(id) }
        // o200k_harmony and solar-open: `<|end|>` does not end generation there.
        let eogTexts = Set(eog.filter { $0 < tokens.count }.map { tokens[$0] })
        if let end = idOf["<|end|>"], eog.contains(end), eogTexts.contains("<|call|>") || eogTexts.contains("<|calls|>"),
           eogTexts.contains("<|return|>") || eogTexts.contains("<|flush|>") {
            eog.remove(end)
            attributes[end] = .userDefined
        }
        // gemma4 and plamo: `</s>` is a normal token.
        if let s = idOf["</s>"], eog.contains(s), eogTexts.contains("<|tool_response>") || eogTexts.contains("<|plamo:eos|>") {
            eog.remove(s)
            attributes[s] = .normal
        }
        // Fixes by model name, tokenizer and architecture.
        let name = (modelName ?? "").lowercased(), pre = pre ?? "", arch = architecture ?? ""
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].contains(where: pre.contains)
            || ["nomic-bert-moe", "jina-bert-v3"].contains(where: arch.contains) {
            if let mask = idOf["<mask>"] { attributes[mask].insert(.leftStrip) }
        } else if name.contains("phi-3") || name.contains("phi3") {
            for id in attributes.indices where !attributes[id].isDisjoint(with: .special) { attributes[id].insert(.rightStrip) }
            if let s = idOf["</s>"] { attributes[s].insert(.rightStrip) }
            for text in ["<unk>", "<s>", "<|endoftext|>"] { if let id = idOf[text] { attributes[id].remove(.rightStrip) } }
        } else if name.contains("modern-bert") {
            if let mask = idOf["[MASK]"] { attributes[mask].insert(.leftStrip) }
        }
        self.attributes = attributes
        endOfGeneration = eog.filter { $0 >= 0 && $0 < tokens.count }
    }

    func matcher(_ tokens: [String]) -> SpecialTokenMatcher {
        SpecialTokenMatcher(attributes.indices.filter { !attributes[$0].isDisjoint(with: .special) }
            .map { (text: tokens[$0], id: $0, attributes: attributes[$0]) })
    }
}

/// One piece of text after special tokens are cut out: a byte range of plain text, or a token id.
enum TextPiece: Equatable {
    case text(Range<Int>)
    case special(Int)
}

struct SpecialTokenMatcher: Sendable {
    // A byte trie over the special tokens' texts: node 0 is the root; an edge is
    // (node << 8 | byte) → child. Walking it from each position finds every special token there.
    private let edges: [UInt64: Int32]
    private let tokenAt: [Int32]                 // per node: index into `tokens` ending there, or -1
    private let firstBytes: [Bool]               // 256 flags: can a special token start with this byte?
    /// Longest text first (llama.cpp's order; ties by id).
    private let tokens: [(id: Int, length: Int, attributes: TokenAttributes)]

    var isEmpty: Bool { tokens.isEmpty }

    /// Empty texts are ignored; a text listed twice keeps its last id, as llama.cpp's text→id map does.
    init(_ list: [(text: String, id: Int, attributes: TokenAttributes)]) {
        var lastID: [String: Int] = [:]
        for t in list where !t.text.isEmpty { lastID[t.text] = t.id }
        let kept = list.filter { !$0.text.isEmpty && lastID[$0.text] == $0.id }
            .sorted { ($0.text.utf8.count, -$0.id) > ($1.text.utf8.count, -$1.id) }
        var edges: [UInt64: Int32] = [:]
        var tokenAt: [Int32] = [-1]
        var first = [Bool](repeating: false, count: 256)
        for (index, t) in kept.enumerated() {
            var node: Int32 = 0
            for b in t.text.utf8 {
                let key = UInt64(node) << 8 | UInt64(b)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(tokenAt.count)
                    tokenAt.append(-1)
                    edges[key] = child
                    node = child
                }
            }
            tokenAt[Int(node)] = Int32(index)
            first[Int(t.text.utf8.first!)] = true
        }
        self.edges = edges
        self.tokenAt = tokenAt
        firstBytes = first
        tokens = kept.map { (id: $0.id, length: $0.text.utf8.count, attributes: $0.attributes) }
    }

    /// Splits `bytes` into plain-text ranges and special tokens as llama.cpp's
    /// `tokenizer_st_partition` does: for each token, longest first, its occurrences left to right
    /// in the text still plain, dropping the whitespace next to it where it strips.
    func split(_ bytes: [UInt8], parseSpecial: Bool) -> [TextPiece] {
        let n = bytes.count
        if isEmpty { return n == 0 ? [] : [.text(0..<n)] }
        // Every occurrence of every usable token, grouped by token.
        var occurrences: [[Int]] = Array(repeating: [], count: tokens.count)
        var any = false
        for i in 0..<n where firstBytes[Int(bytes[i])] {
            var node: Int32 = 0
            var k = i
            while k < n, let child = edges[UInt64(node) << 8 | UInt64(bytes[k])] {
                node = child
                k += 1
                let t = tokenAt[Int(node)]
                if t >= 0, parseSpecial || tokens[Int(t)].attributes.isDisjoint(with: [.control, .unknown]) {
                    occurrences[Int(t)].append(i)
                    any = true
                }
            }
        }
        if !any { return n == 0 ? [] : [.text(0..<n)] }
        // owner[i]: -1 plain text, -2 dropped whitespace, else the index of the token covering i.
        var owner = [Int32](repeating: -1, count: n)
        for (t, starts) in occurrences.enumerated() where !starts.isEmpty {
            let (length, attributes) = (tokens[t].length, tokens[t].attributes)
            for s in starts where (s..<(s + length)).allSatisfy({ owner[$0] == -1 }) {
                for i in s..<(s + length) { owner[i] = Int32(t) }
                if attributes.contains(.leftStrip) {
                    var i = s - 1
                    while i >= 0, owner[i] == -1, isSpace(bytes[i]) { owner[i] = -2; i -= 1 }
                }
                if attributes.contains(.rightStrip) {
                    var i = s + length
                    while i < n, owner[i] == -1, isSpace(bytes[i]) { owner[i] = -2; i += 1 }
                }
            }
        }
        var pieces: [TextPiece] = []
        var i = 0
        while i < n {
            let o = owner[i]
            if o == -1 {
                var e = i + 1
                while e < n, owner[e] == -1 { e += 1 }
                pieces.append(.text(i..<e))
                i = e
            } else if o == -2 {
                i += 1
            } else {
                pieces.append(.special(tokens[Int(o)].id))
                i += tokens[Int(o)].length
            }
        }
        return pieces
    }

    /// C's isspace in the "C" locale.
    private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
}

/// Decodes well-formed UTF-8 (a Swift String's bytes) into scalar values and their byte offsets.
/// `offsets` has one more entry than `scalars`: the end.
func utf8Scalars(_ bytes: ArraySlice<UInt8>) -> (scalars: [UInt32], offsets: [Int]) {
    var scalars: [UInt32] = []
    var offsets: [Int] = []
    scalars.reserveCapacity(bytes.count)
    offsets.reserveCapacity(bytes.count + 1)
    var i = bytes.startIndex
    let end = bytes.endIndex
    while i < end {
        let b0 = UInt32(bytes[i])
        let length = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4
        var v = length == 1 ? b0 : length == 2 ? b0 & 0x1F : length == 3 ? b0 & 0x0F : b0 & 0x07
        var k = 1
        while k < length, i + k < end {
            v = v << 6 | (UInt32(bytes[i + k]) & 0x3F)
            k += 1
        }
        scalars.append(v)
        offsets.append(i)
        i += k
    }
    offsets.append(end)
    return (scalars, offsets)
}

/// Token texts that llama.cpp treats as ending generation (llama-vocab.cpp, `special_eog_ids`),
/// whatever their stored type; llama.cpp also makes each one a control token, so such a token
/// stored as user-defined (Gemma 3 stores `</s>` so) is cut out of text only when parsing special
/// tokens, here as there.
let endOfGenerationTexts: [String] = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
]
