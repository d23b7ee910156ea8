// Byte-level BPE pre-tokenizers: how a vocabulary splits text into words before merging, chosen by
// the GGUF's `tokenizer.ggml.pre` as llama.cpp chooses (src/llama-vocab.cpp, `llm_tokenizer_bpe`
// and `llama_vocab::impl::load`). Each is a list of regular expressions applied in turn, each
// splitting the pieces the previous one left; llama.cpp runs five of its patterns through
// hand-written splitters (src/unicode.cpp, `unicode_regex_split_custom_*`), ported below with their
// every quirk, and the rest through std::regex (PreTokenizerRegex.swift).
import Foundation

struct PreTokenizer: Sendable {
    /// The `tokenizer.ggml.pre` value it was chosen by.
    let name: String
    let steps: [Step]
    /// A word that is itself a token becomes that token without merging (Llama 3, Tekken, ...).
    let ignoreMerges: Bool
    /// BOS added to prompts unless `tokenizer.ggml.add_bos_token` says otherwise.
    let addsBOSByDefault: Bool
    /// Whether the vocabulary has llama.cpp's default BOS/EOS (id 11) when the metadata names none.
    let hasDefaultBOS: Bool

    enum Step: Sendable {
        case regex(PreTokenizerRegex)
        case custom(CustomSplit)
    }

    enum CustomSplit: Sendable {
        case gpt2, llama3, qwen2, qwen35, kimiK2, digitGroups, newlines
    }

    /// Splits codepoints into words (codepoint ranges, in order, covering everything).
    func split(_ cpts: [UInt32]) -> [Range<Int>] {
        var pieces = cpts.isEmpty ? [] : [0..<cpts.count]
        for step in steps {
            var next: [Range<Int>] = []
            next.reserveCapacity(pieces.count * 2)
            switch step {
            case let .regex(r):
                let units = r.units(of: cpts)
                for p in pieces { r.split(units, p, into: &next) }
            case let .custom(kind):
                for p in pieces { Self.customSplit(kind, cpts, p, into: &next) }
            }
            pieces = next
        }
        return pieces
    }

    // MARK: The table

    /// `tokenizer.ggml.pre` values llama.cpp reads for byte-level BPE, each with its settings.
    static func named(_ name: String, source: String = "") throws -> PreTokenizer {
        let at = source.isEmpty ? "" : "\(source): "
        guard let kind = names[name] else {
            if notByteLevel.contains(name) {
                throw CoreError.unsupported("\(at)tokenizer.ggml.pre = \(quoted: name): llama.cpp runs this vocabulary as SentencePiece-style BPE without byte encoding, which exprun does not implement (byte-level pre-tokenizers: \(known))")
            }
            throw CoreError.unsupported("\(at)tokenizer.ggml.pre = \(quoted: name) is not a pre-tokenizer llama.cpp knows for byte-level BPE (known: \(known))")
        }
        return try definitions(kind, name: name)
    }

    static var known: String { names.keys.sorted().joined(separator: ", ") }

    static let notByteLevel: Set<String> = ["gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace"]

    /// llama.cpp's LLAMA_VOCAB_PRE_TYPE_* for byte-level BPE.
    enum Kind {
        case `default`, llama3, jais2, dbrx, deepseekLLM, deepseek3, spark25, youtu, deepseekCoder, falcon
        case starcoder, gpt2, qwen2, qwen35, poro, chatglm, chatglmIgnoringMerges, viking, tekken, chameleon, gpt4o
        case graniteEmbedMulti, tinyAya, kimiK2, superBPE, bailingMoE, seedCoder, ufakzeka, afmoe, laguna
        case exaoneMoE, minicpm5
    }

    static let names: [String: Kind] = {
        var t: [String: Kind] = ["default": .default, "jais-2": .jais2, "dbrx": .dbrx, "smaug-bpe": .dbrx,
                                 "deepseek-llm": .deepseekLLM, "deepseek-coder": .deepseekCoder, "spark2_5": .spark25,
                                 "youtu": .youtu, "falcon": .falcon, "qwen35": .qwen35, "chatglm-bpe": .chatglm,
                                 "glm4": .chatglmIgnoringMerges, "glm5": .chatglmIgnoringMerges, "viking": .viking,
                                 "tekken": .tekken, "chameleon": .chameleon, "granite-embed-multi-97m": .graniteEmbedMulti,
                                 "kimi-k2": .kimiK2, "superbpe": .superBPE, "seed-coder": .seedCoder, "ufakzeka": .ufakzeka,
                                 "grok-2": .qwen2, "afmoe": .afmoe, "laguna": .laguna, "exaone-moe": .exaoneMoE,
                                 "minicpm5": .minicpm5]
        for n in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"] { t[n] = .llama3 }
        for n in ["deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"] { t[n] = .deepseek3 }
        for n in ["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"] { t[n] = .starcoder }
        for n in ["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
                  "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "jina-v1-en",
                  "jina-v2-code", "roberta-bpe"] { t[n] = .gpt2 }
        for n in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open"] { t[n] = .qwen2 }
        for n in ["poro-chat", "bloom", "gpt3-finnish"] { t[n] = .poro }
        for n in ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"] { t[n] = .gpt4o }
        for n in ["tiny_aya", "cohere2moe"] { t[n] = .tinyAya }
        for n in ["bailingmoe", "bailingmoe2", "llada-moe"] { t[n] = .bailingMoE }
        return t
    }()

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let llama3Pattern = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let contractions = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#
    static let cjk = "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+"

    static func patterns(_ kind: Kind) -> [String] {
        switch kind {
        case .llama3, .dbrx, .chatglm, .chatglmIgnoringMerges: return [llama3Pattern]
        case .jais2:
            return [contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"#]
        case .deepseekLLM:
            return ["[\r\n]",
                    "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
                    "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+",
                    "\\s+$",
                    cjk,
                    #"\p{N}+"#]
        case .deepseek3:
            return [#"\p{N}{1,3}"#, "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"]
        case .spark25:
            return [#"\p{N}{1,3}"#, "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
                    #"\p{N}"#]
        case .youtu:
            return ["[\u{AC00}-\u{D7A3}\u{3131}-\u{318E}]+|[\u{FF01}\u{2026}\u{201C}\u{201D}\u{2018}\u{2019}\u{2014}\u{FF1A}\u{FF1B}\u{FF0C}\u{3001}-\u{303F}\u{FE30}-\u{FE4F}]+|[\u{3105}-\u{312F}]+|[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+",
                    #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"# + contractions
                    + #"?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"# + contractions
                    + #"?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .deepseekCoder:
            return ["[\r\n]", #"\s?\p{L}+"#, #"\s?\p{P}+"#, cjk, #"\p{N}"#]
        case .falcon:
            return [#"[\p{P}\$\+<=>\^~\|`]+"#, gpt2Pattern, "[0-9][0-9][0-9]"]
        case .starcoder:
            return [#"\p{N}"#, gpt2Pattern]
        case .gpt2:
            return [gpt2Pattern]
        case .qwen2:
            return [qwen2Pattern]
        case .qwen35:
            return [contractions + #"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .poro:
            return [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+"]
        case .viking:
            return [" ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+", #"\p{N}"#]
        case .tekken:
            return [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .chameleon:
            return ["<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", #"\p{N}"#,
                    #"[\p{P}!-/:-@\[-`{-~]"#, gpt2Pattern]
        case .gpt4o:
            return [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"# + contractions
                    + #"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"# + contractions
                    + #"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .graniteEmbedMulti:
            return [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+"# + contractions
                    + #"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*"# + contractions
                    + #"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .tinyAya:
            return [#"\d{1,3}(?=(?:\d{3})*\b)"#,
                    #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"# + contractions
                    + #"?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"# + contractions
                    + #"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .kimiK2:
            return [#"\p{Han}+"#]
        case .superBPE:
            return [#"\p{N}+"#, #"(?=(\d{3})+(?!\d))"#]
        case .bailingMoE:
            return [#"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#]
        case .seedCoder:
            return [contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .ufakzeka:
            return [#"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .afmoe:
            return [#"\p{AFMoE_digits}"#,
                    "[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{8C48}-\u{FAFF}\u{3040}-\u{309F}\u{30A0}-\u{30FF}\u{FF65}-\u{FF9F}\u{2F00}-\u{2FDF}\u{E40}-\u{E7F}\u{E80}-\u{EFF}\u{1780}-\u{17FF}\u{1000}-\u{109F}\u{AA60}-\u{AA7F}\u{A9E0}-\u{A9FF}\u{AC00}-\u{D7AF}\u{1100}-\u{11FF}]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"]
        case .laguna:
            return [#"[^\n]+|[\n]+"#, qwen2Pattern]
        case .exaoneMoE:
            return [contractions + #"|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#]
        case .minicpm5:
            return [#"\p{N}{1,3}"#, contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .default:
            return [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2Pattern, #"\p{N}+"#, "[0-9][0-9][0-9]"]
        }
    }

    static func definitions(_ kind: Kind, name: String) throws -> PreTokenizer {
        let steps: [Step] = try patterns(kind).map { p in
            if let custom = customSplit(for: p) { return .custom(custom) }
            return .regex(try PreTokenizerRegex(p))
        }
        let ignoreMerges: Bool
        switch kind {
        case .llama3, .minicpm5, .youtu, .chatglmIgnoringMerges, .tekken, .graniteEmbedMulti: ignoreMerges = true
        default: ignoreMerges = false
        }
        return PreTokenizer(name: name, steps: steps, ignoreMerges: ignoreMerges,
                            addsBOSByDefault: [.llama3, .tekken, .chameleon].contains(kind),
                            hasDefaultBOS: kind != .chatglm && kind != .chatglmIgnoringMerges)
    }

    /// llama.cpp's dispatch to its hand-written splitters: by the pattern's exact text.
    static func customSplit(for pattern: String) -> CustomSplit? {
        switch pattern {
        case gpt2Pattern: return .gpt2
        case llama3Pattern: return .llama3
        case qwen2Pattern: return .qwen2
        case contractions + #"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: return .qwen35
        case #"\p{Han}+"#: return .kimiK2
        case #"\p{AFMoE_digits}"#, #"\d{1,3}(?=(?:\d{3})*\b)"#: return .digitGroups
        case #"[^\n]+|[\n]+"#: return .newlines
        default: return nil
        }
    }

    // MARK: Hand-written splitters (unicode.cpp)

    /// One piece `[lo, hi)` of `cpts`, as llama.cpp's `unicode_regex_split_custom_*` split it.
    static func customSplit(_ kind: CustomSplit, _ cpts: [UInt32], _ piece: Range<Int>, into out: inout [Range<Int>]) {
        var s = CustomSplitter(cpts: cpts, lo: piece.lowerBound, hi: piece.upperBound)
        switch kind {
        case .gpt2: s.gpt2()
        case .llama3: s.llama3(digitsPerWord: 3, marks: false)
        case .qwen2: s.llama3(digitsPerWord: 1, marks: false)
        case .qwen35: s.llama3(digitsPerWord: 1, marks: true)
        case .kimiK2: s.kimiK2()
        case .digitGroups: s.digitGroups()
        case .newlines: s.newlines()
        }
        out += s.words
    }
}

/// The state of one of llama.cpp's hand-written splitters over one piece: positions outside the
/// piece read as no character with no flags, as in llama.cpp's `_get_cpt` / `_get_flags`.
struct CustomSplitter {
    let cpts: [UInt32]
    let lo: Int, hi: Int
    var words: [Range<Int>] = []
    private var previousEnd: Int

    static let outOfRange: UInt32 = 0xFFFF_FFFF

    init(cpts: [UInt32], lo: Int, hi: Int) {
        self.cpts = cpts; self.lo = lo; self.hi = hi; previousEnd = lo
    }

    func cpt(_ p: Int) -> UInt32 { p >= lo && p < hi ? cpts[p] : Self.outOfRange }
    func flags(_ p: Int) -> UnicodeFlags { p >= lo && p < hi ? UnicodeFlags(cpts[p]) : .outside }

    /// Ends the current word at `end`; returns its length.
    @discardableResult mutating func add(_ end: Int) -> Int {
        let length = end - previousEnd
        if length > 0 { words.append(previousEnd..<end) }
        previousEnd = end
        return length
    }

    func isCRLF(_ c: UInt32) -> Bool { c == 0x0D || c == 0x0A }

    /// 's 't 'm 'd 're 've 'll at `pos`: the contraction's length, 0 when none.
    func contraction(at pos: Int, caseInsensitive: Bool) -> Int {
        guard cpt(pos) == 0x27, pos + 1 < hi else { return 0 }
        let fold: (UInt32) -> UInt32 = caseInsensitive ? UnicodeFlags.asciiLower : { $0 }
        let next = fold(cpt(pos + 1))
        if [0x73, 0x74, 0x6D, 0x64].contains(next) { return 2 }                 // s t m d
        if pos + 2 < hi {
            let after = fold(cpt(pos + 2))
            if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65) || (next == 0x6C && after == 0x6C) { return 3 }
        }
        return 0
    }

    /// Whitespace run at `pos`: its length and the end of its last \r or \n (0 when none).
    func whitespaceRun(at pos: Int) -> (count: Int, lastLineBreakEnd: Int) {
        var n = 0, lastBreak = 0
        while flags(pos + n).isWhitespace {
            if isCRLF(cpt(pos + n)) { lastBreak = pos + n + 1 }
            n += 1
        }
        return (n, lastBreak)
    }

    /// `\s+(?!\S)` and `\s+` at `pos` after a whitespace run of `count`; false when no whitespace.
    mutating func trailingWhitespace(_ pos: inout Int, count: Int) -> Bool {
        if count > 1 && cpt(pos + count) != Self.outOfRange {
            pos += count - 1
            add(pos)
            return true
        }
        if count > 0 {
            pos += count
            add(pos)
            return true
        }
        return false
    }

    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    mutating func gpt2() {
        var pos = lo
        while pos < hi {
            let c = cpt(pos)
            let f = flags(pos)
            let n = contraction(at: pos, caseInsensitive: false)
            if n > 0 { pos += add(pos + n); continue }
            var f2 = c == 0x20 ? flags(pos + 1) : f
            if f2.isLetter {                                                      //  ?\p{L}+
                if c == 0x20 { pos += 1 }
                while f2.isLetter { pos += 1; f2 = flags(pos) }
                add(pos); continue
            }
            if f2.isNumber {                                                      //  ?\p{N}+
                if c == 0x20 { pos += 1 }
                while f2.isNumber { pos += 1; f2 = flags(pos) }
                add(pos); continue
            }
            if !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.rawValue != 0 {   //  ?[^\s\p{L}\p{N}]+
                if c == 0x20 { pos += 1 }
                while !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.rawValue != 0 { pos += 1; f2 = flags(pos) }
                add(pos); continue
            }
            let run = whitespaceRun(at: pos).count
            if trailingWhitespace(&pos, count: run) { continue }
            pos += 1
            add(pos)                                                              // no match
        }
    }

    /// Llama 3 (`digitsPerWord` 3: \p{N}{1,3}) and Qwen 2 (1: \p{N}); Qwen 3.5 (`marks`) lets letter
    /// runs take combining marks:
    /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    mutating func llama3(digitsPerWord: Int, marks: Bool) {
        func wordish(_ f: UnicodeFlags) -> Bool { f.isLetter || (marks && f.isMark) }
        var pos = lo
        while pos < hi {
            let c = cpt(pos)
            let f = flags(pos)
            let n = contraction(at: pos, caseInsensitive: true)
            if n > 0 { pos += add(pos + n); continue }
            // [^\r\n\p{L}\p{N}]?\p{L}+ (llama.cpp's test lets a letter or any non-digit lead)
            if !(isCRLF(c) || f.isNumber), wordish(f) || wordish(flags(pos + 1)) {
                pos += 1
                while wordish(flags(pos)) { pos += 1 }
                add(pos); continue
            }
            if f.isNumber {                                                       // \p{N}{1,3} or \p{N}
                if digitsPerWord == 1 {
                    pos += 1
                    add(pos); continue
                }
                var start = pos
                while flags(pos).isNumber {
                    pos += 1
                    if pos - start >= digitsPerWord { add(pos); start = pos }
                }
                add(pos); continue
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]* (the first test reads the space's own flags, as llama.cpp does)
            var f2 = c == 0x20 ? flags(pos + 1) : f
            func other(_ g: UnicodeFlags) -> Bool { !(g.isWhitespace || wordish(g) || g.isNumber) }
            if other(f2) && f.rawValue != 0 {
                if c == 0x20 { pos += 1 }
                while other(f2) && f2.rawValue != 0 { pos += 1; f2 = flags(pos) }
                while isCRLF(cpt(pos)) { pos += 1 }
                add(pos); continue
            }
            let run = whitespaceRun(at: pos)
            if run.lastLineBreakEnd > 0 {                                         // \s*[\r\n]+
                pos = run.lastLineBreakEnd
                add(pos); continue
            }
            if trailingWhitespace(&pos, count: run.count) { continue }
            pos += 1
            add(pos)
        }
    }

    /// Kimi K2: [\p{Han}]+, then letter words without Han characters with optional contractions,
    /// \p{N}{1,3}, and the Llama 3 tail.
    mutating func kimiK2() {
        func han(_ p: Int) -> Bool { UnicodeFlags.isHan(cpt(p)) }
        func letter(_ p: Int) -> Bool { flags(p).isLetter && !han(p) }
        var pos = lo
        while pos < hi {
            let c = cpt(pos)
            let f = flags(pos)
            if han(pos) {
                while han(pos) { pos += 1 }
                add(pos); continue
            }
            let canLead = !(isCRLF(c) || f.isLetter || f.isNumber)
            if letter(pos) || (canLead && letter(pos + 1)) {
                var leading = false
                if canLead { leading = true; pos += 1 }
                var hasLetters = false
                while letter(pos) { hasLetters = true; pos += 1 }
                if hasLetters || (!leading && letter(pos)) {
                    if !hasLetters { pos += 1 }
                    while letter(pos) { pos += 1 }
                    pos += contraction(at: pos, caseInsensitive: true)
                    add(pos); continue
                } else if leading {
                    pos -= 1
                }
            }
            if f.isNumber {
                var start = pos
                while flags(pos).isNumber {
                    pos += 1
                    if pos - start >= 3 { add(pos); start = pos }
                }
                add(pos); continue
            }
            var f2 = c == 0x20 ? flags(pos + 1) : f
            if !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.rawValue != 0 {
                if c == 0x20 { pos += 1 }
                while !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.rawValue != 0 { pos += 1; f2 = flags(pos) }
                while isCRLF(cpt(pos)) { pos += 1 }
                add(pos); continue
            }
            let run = whitespaceRun(at: pos)
            if run.lastLineBreakEnd > 0 {
                pos = run.lastLineBreakEnd
                add(pos); continue
            }
            if trailingWhitespace(&pos, count: run.count) { continue }
            pos += 1
            add(pos)
        }
    }

    /// AFMoE and Tiny Aya: a run of digits splits into groups of three from the right; the rest
    /// stays one piece between runs.
    mutating func digitGroups() {
        var pos = lo
        while pos < hi {
            if flags(pos).isNumber {
                let start = pos
                while flags(pos).isNumber && pos < hi { pos += 1 }
                let count = pos - start
                var current = start
                if count % 3 > 0 { add(current + count % 3); current += count % 3 }
                while current < start + count { add(current + 3); current += 3 }
                continue
            }
            pos += 1
        }
        if previousEnd < hi { add(hi) }
    }

    /// [^\n]+|[\n]+
    mutating func newlines() {
        var pos = lo
        while pos < hi {
            let isNewline = cpts[pos] == 0x0A
            while pos < hi && (cpts[pos] == 0x0A) == isNewline { pos += 1 }
            add(pos)
        }
    }
}
