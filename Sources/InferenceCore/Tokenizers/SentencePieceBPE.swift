// SentencePiece-style BPE, as Llama and Gemma use it, read from a GGUF's `tokenizer.ggml.*`
// metadata (`tokenizer.ggml.model` = `llama`). It follows llama.cpp's `llm_tokenizer_spm`:
//
//   1. special tokens are cut out of the text (control and unknown tokens only when parsing
//      special tokens, user-defined tokens always);
//   2. each remaining piece gets one leading space when `add_space_prefix` (default true; Gemma
//      sets false) and it starts the text or follows a special token, and every ' ' becomes `▁`;
//   3. the piece is split into UTF-8 characters; every adjacent pair whose concatenation is a
//      token is queued by that token's score; the best-scoring pair (leftmost on ties) merges, and
//      the pairs it forms with its neighbours are queued, until the queue is empty;
//   4. each final symbol is its token, or else its bytes as byte tokens `<0xXX>` (byte fallback).
//
// Decoding maps `▁` back to ' ', byte tokens to their byte, drops the space the prefix added, and
// repairs invalid UTF-8.
import Foundation

public final class SentencePieceBPETokenizer: Tokenizer, @unchecked Sendable {
    public let tokens: [String]
    public let scores: [Float]
    /// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    public let tokenTypes: [Int]
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let unknownTokenID: Int?
    public let addsBOS: Bool
    public let addsEOS: Bool
    public let addSpacePrefix: Bool
    /// Ids that end generation: EOS and, as in llama.cpp, tokens such as `<end_of_turn>`.
    public let endOfGenerationIDs: Set<Int>

    private let table: ByteStringTable
    private let maxTokenBytes: Int
    private let byteTokens: [Int32]            // token of each byte for the fallback (-1: none)
    private let tokenBytes: ByteStrings        // what each token decodes to
    private let specials: SpecialTokenMatcher
    /// 65,536 bits: whether byte a is followed by byte b somewhere inside a token (bit a << 8 | b).
    private let bytePairs: [UInt64]

    /// A vocabulary given by its parts; its special tokens as llama.cpp derives them from the types.
    public convenience init(tokens: [String], scores: [Float], types: [Int], bos: Int?, eos: Int?, unknown: Int?,
                            addsBOS: Bool, addsEOS: Bool = false, addSpacePrefix: Bool, source: String) throws {
        guard types.isEmpty || types.count == tokens.count else {
            throw CoreError.file(source, "\(types.count) token types for \(tokens.count) tokens")
        }
        try self.init(tokens: tokens, scores: scores, types: types, bos: bos, eos: eos, unknown: unknown, addsBOS: addsBOS,
                      addsEOS: addsEOS, addSpacePrefix: addSpacePrefix,
                      specials: VocabularySpecials(tokens: tokens, types: types, roles: .init(eos: eos)), source: source)
    }

    init(tokens: [String], scores: [Float], types: [Int], bos: Int?, eos: Int?, unknown: Int?,
         addsBOS: Bool, addsEOS: Bool, addSpacePrefix: Bool, specials: VocabularySpecials, source: String) throws {
        let n = tokens.count
        guard n > 0 else { throw CoreError.file(source, "the vocabulary is empty") }
        guard scores.isEmpty || scores.count == n else {
            throw CoreError.file(source, "\(scores.count) token scores for \(n) tokens")
        }
        guard types.isEmpty || types.count == n else {
            throw CoreError.file(source, "\(types.count) token types for \(n) tokens")
        }
        for (name, id) in [("bos", bos), ("eos", eos), ("unknown", unknown)] {
            if let id, id < 0 || id >= n {
                throw CoreError.file(source, "tokenizer.ggml.\(name)_token_id \(id) is outside the vocabulary of \(n)")
            }
        }
        let types = types.isEmpty ? [Int](repeating: GGUFTokenType.normal, count: n) : types
        self.tokens = tokens
        self.scores = scores.isEmpty ? [Float](repeating: 0, count: n) : scores
        self.tokenTypes = types
        self.vocabularySize = n
        self.bosTokenID = bos
        self.eosTokenID = eos
        self.unknownTokenID = unknown
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.addSpacePrefix = addSpacePrefix

        let keys = tokens.map { Array($0.utf8) }
        table = ByteStringTable(keys)
        maxTokenBytes = keys.map(\.count).max() ?? 0
        var pairs = [UInt64](repeating: 0, count: 1024)
        for k in keys where k.count >= 2 {
            for j in 1..<k.count {
                let bit = Int(k[j - 1]) << 8 | Int(k[j])
                pairs[bit >> 6] |= 1 << UInt64(bit & 63)
            }
        }
        bytePairs = pairs

        let hex = Array("0123456789ABCDEF".utf8)
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let name: [UInt8] = Array("<0x".utf8) + [hex[b >> 4], hex[b & 15], UInt8(ascii: ">")]
            var id = table.lookup(name)
            if id < 0 { id = table.lookup([UInt8(b)]) }     // llama.cpp's second choice: the byte itself
            if id < 0, let unknown { id = Int32(unknown) }
            byteTokens[b] = id
        }
        self.byteTokens = byteTokens

        var tokenBytes = ByteStrings(capacity: n)
        let lowerBlock: [UInt8] = Array("▁".utf8)
        for (id, t) in keys.enumerated() {
            switch types[id] {
            case GGUFTokenType.byte:
                // "<0xXX>" → that byte
                if t.count == 6, let v = UInt8(String(decoding: t[3..<5], as: UTF8.self), radix: 16) {
                    tokenBytes.append([v])
                } else {
                    tokenBytes.append(t)
                }
            case GGUFTokenType.normal, GGUFTokenType.unused:
                var out: [UInt8] = []
                out.reserveCapacity(t.count)
                var i = 0
                while i < t.count {
                    if i + 3 <= t.count, t[i] == lowerBlock[0], t[i + 1] == lowerBlock[1], t[i + 2] == lowerBlock[2] {
                        out.append(0x20); i += 3
                    } else {
                        out.append(t[i]); i += 1
                    }
                }
                tokenBytes.append(out)
            default:
                tokenBytes.append(t)     // control, unknown, user-defined: their text as is
            }
        }
        self.tokenBytes = tokenBytes

        self.specials = specials.matcher(tokens)
        endOfGenerationIDs = specials.endOfGeneration
    }

    /// From a GGUF with `tokenizer.ggml.model` = `llama`, with llama.cpp's defaults where the
    /// metadata is silent: BOS 1, EOS 2, unknown 0, BOS added, EOS not, a space prefix.
    public convenience init(gguf: GGUFFile) throws {
        guard var tokens = try gguf.strings("tokenizer.ggml.tokens") else {
            throw CoreError.file(gguf.path, "no tokenizer.ggml.tokens in the metadata")
        }
        for i in tokens.indices where tokens[i].isEmpty { tokens[i] = "[EMPTY_\(i)]" }
        let n = tokens.count
        let types = try gguf.ints("tokenizer.ggml.token_type") ?? []
        let scores = try gguf.floats("tokenizer.ggml.scores") ?? []
        for (key, count) in [("token_type", types.count), ("scores", scores.count)] where count != 0 && count < n {
            throw CoreError.file(gguf.path, "tokenizer.ggml.\(key) has \(count) entries for \(n) tokens")
        }
        let eos = try gguf.int("tokenizer.ggml.eos_token_id") ?? (n > 2 ? 2 : nil)
        let specials = VocabularySpecials(tokens: tokens, types: Array(types.prefix(n)),
                                          roles: try .init(gguf: gguf, eos: eos, vocabularySize: n),
                                          modelName: try gguf.string("general.name"), pre: try gguf.string("tokenizer.ggml.pre"),
                                          architecture: try gguf.string("general.architecture"))
        try self.init(tokens: tokens,
                      scores: Array(scores.prefix(n)),
                      types: Array(types.prefix(n)),
                      bos: try gguf.int("tokenizer.ggml.bos_token_id") ?? (n > 1 ? 1 : nil),
                      eos: eos,
                      unknown: try gguf.int("tokenizer.ggml.unknown_token_id") ?? 0,
                      addsBOS: try gguf.bool("tokenizer.ggml.add_bos_token") ?? true,
                      addsEOS: try gguf.bool("tokenizer.ggml.add_eos_token") ?? false,
                      addSpacePrefix: try gguf.bool("tokenizer.ggml.add_space_prefix") ?? true,
                      specials: specials, source: gguf.path)
    }

    // MARK: Encoding

    public func encode(_ text: String, parseSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        out.reserveCapacity(bytes.count / 3)
        var previousWasSpecial = true     // the text's start counts as following a special token
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        let lowerBlock = Array("▁".utf8)
        for piece in specials.split(bytes, parseSpecial: parseSpecial) {
            switch piece {
            case let .special(id):
                out.append(id)
                previousWasSpecial = true
            case let .text(range):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(range.count + range.count / 2 + 3)
                if addSpacePrefix && previousWasSpecial { escaped.append(contentsOf: lowerBlock) }
                for b in bytes[range] {
                    if b == 0x20 { escaped.append(contentsOf: lowerBlock) } else { escaped.append(b) }
                }
                tokenize(escaped, into: &out, cache: &cache)
                previousWasSpecial = false
            }
        }
        return out
    }

    /// llama.cpp's `llm_tokenizer_spm_session::tokenize` over one escaped piece, cut first into
    /// segments that no merge can join: between two characters whose boundary bytes never occur
    /// next to each other inside any token, no symbol can ever span (every merged symbol is a
    /// token), so the segments tokenize independently and in the same order of merges. Segments are
    /// mostly words, and repeat: a cache (for this call only, so no locking) skips the repeats.
    private func tokenize(_ text: [UInt8], into out: inout [Int], cache: inout [ArraySlice<UInt8>: [Int32]]) {
        let n = text.count
        var segmentStart = 0
        var i = 0
        while i < n {
            let lead = text[i]
            let charLength = min(lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - i)
            let next = i + charLength
            if next == n || !joinable(text[next - 1], text[next]) {
                let segment = text[segmentStart..<next]
                if let hit = cache[segment] {
                    for id in hit { out.append(Int(id)) }
                } else {
                    var ids: [Int32] = []
                    segment.withUnsafeBufferPointer { tokenizeSegment($0, into: &ids) }
                    if cache.count < 100_000 { cache[segment] = ids }
                    for id in ids { out.append(Int(id)) }
                }
                segmentStart = next
            }
            i = next
        }
    }

    /// Whether bytes `a` then `b` occur next to each other inside some token.
    @inline(__always) private func joinable(_ a: UInt8, _ b: UInt8) -> Bool {
        let bit = Int(a) << 8 | Int(b)
        return bytePairs[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }

    /// The merge loop proper, over one segment: UTF-8 characters as symbols in a linked list; every
    /// adjacent pair that forms a token is queued by its score; the best pair merges and its new
    /// pairs are queued, until the queue is empty.
    private func tokenizeSegment(_ t: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let n = t.count
        guard n > 0, let base = t.baseAddress else { return }
        var start: [Int32] = [], length: [Int32] = [], prev: [Int32] = [], next: [Int32] = []
        var offset = 0
        while offset < n {
            let lead = t[offset]
            let len = min(lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4, n - offset)
            let index = Int32(start.count)
            start.append(Int32(offset)); length.append(Int32(len))
            prev.append(index - 1)
            offset += len
            next.append(offset == n ? -1 : index + 1)
        }
        var queue = BigramQueue()
        func tryAdd(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0 else { return }
            let size = Int(length[Int(left)] + length[Int(right)])
            guard size <= maxTokenBytes else { return }
            let id = table.lookup(base + Int(start[Int(left)]), size)
            guard id >= 0 else { return }
            queue.push(Bigram(score: scores[Int(id)], left: left, right: right, size: Int32(size)))
        }
        for i in 1..<start.count { tryAdd(Int32(i - 1), Int32(i)) }
        while let b = queue.pop() {
            let l = Int(b.left), r = Int(b.right)
            // Stale entry: one side has merged since the pair was queued.
            if length[l] == 0 || length[r] == 0 || length[l] + length[r] != b.size { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = b.left }
            tryAdd(prev[l], b.left)
            tryAdd(b.left, next[l])
        }
        // Every merged symbol is a token (a pair is queued only when it is one), so llama.cpp's
        // re-segmentation of non-token symbols never applies to them; single characters that are
        // not tokens fall back to their bytes.
        var i: Int32 = 0
        while i >= 0 {
            let s = Int(start[Int(i)]), len = Int(length[Int(i)])
            let id = table.lookup(base + s, len)
            if id >= 0 {
                out.append(id)
            } else {
                for k in s..<(s + len) where byteTokens[Int(t[k])] >= 0 { out.append(byteTokens[Int(t[k])]) }
            }
            i = next[Int(i)]
        }
    }

    // MARK: Decoding

    public func decode(_ ids: [Int]) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        var afterSpecial = true
        for id in ids {
            guard id >= 0, id < vocabularySize else {
                throw CoreError.invalid("token id \(id) is out of range: the vocabulary has ids 0..<\(vocabularySize)")
            }
            let piece = tokenBytes[id]
            let type = tokenTypes[id]
            // The encoder prefixes a space to text at the start and after each special token; it is
            // not part of the text (llama.cpp drops it after BOS only, transformers at the start).
            if afterSpecial, addSpacePrefix, type == GGUFTokenType.normal, piece.first == 0x20 {
                bytes.append(contentsOf: piece.dropFirst())
            } else {
                bytes.append(contentsOf: piece)
            }
            afterSpecial = type == GGUFTokenType.control || type == GGUFTokenType.unknown || type == GGUFTokenType.userDefined
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes a token stands for (no prefix-space removal), for streaming output.
    public func bytes(of id: Int) -> [UInt8]? {
        guard id >= 0, id < vocabularySize else { return nil }
        return Array(tokenBytes[id])
    }
}

struct Bigram {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32
    /// Pops first: the higher score, then the leftmost pair (llama.cpp's comparator).
    @inline(__always) func before(_ o: Bigram) -> Bool { score > o.score || (score == o.score && left < o.left) }
}

/// A binary heap of bigrams, best first.
struct BigramQueue {
    private var items: [Bigram] = []

    mutating func push(_ e: Bigram) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < n, items[l].before(items[best]) { best = l }
                if r < n, items[r].before(items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
