// Finding special tokens (`<|endoftext|>`, `<start_of_turn>`, ...) in text before the ordinary
// tokenizer sees it. Matching is leftmost-longest over UTF-8 bytes, as Hugging Face tokenizers
// matches added tokens; llama.cpp instead splits by each special token in turn, longest first,
// which differs only when two special tokens overlap in the text.
import Foundation

/// One piece of text after special tokens are cut out: a byte range of plain text, or a token id.
enum TextPiece: Equatable {
    case text(Range<Int>)
    case special(Int)
}

struct SpecialTokenMatcher: Sendable {
    // A byte trie: node 0 is the root; an edge is (node << 8 | byte) → child. Walking it from each
    // position finds the longest special token there in one pass over at most that token's bytes.
    private let edges: [UInt64: Int32]
    private let tokenAt: [Int32]                 // per node: the token ending there, or -1
    private let onlyWhenParsingSpecial: [Bool]   // per node: matched only when parsing special tokens
    private let firstBytes: [Bool]               // 256 flags: can a special token start with this byte?

    var isEmpty: Bool { tokenAt.count <= 1 }

    /// `tokens`: (text, id, matched only when parsing special tokens, i.e. control tokens, or
    /// always, i.e. user-defined tokens). Empty texts are ignored. A text listed twice keeps its
    /// lowest id, and "always" wins over "only when parsing".
    init(_ tokens: [(text: String, id: Int, onlyWhenParsingSpecial: Bool)]) {
        var edges: [UInt64: Int32] = [:]
        var tokenAt: [Int32] = [-1]
        var only: [Bool] = [true]
        var first = [Bool](repeating: false, count: 256)
        for t in tokens where !t.text.isEmpty {
            var node: Int32 = 0
            for b in t.text.utf8 {
                let key = UInt64(node) << 8 | UInt64(b)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(tokenAt.count)
                    tokenAt.append(-1); only.append(true)
                    edges[key] = child
                    node = child
                }
            }
            let n = Int(node)
            if tokenAt[n] < 0 || t.id < Int(tokenAt[n]) { tokenAt[n] = Int32(t.id) }
            only[n] = only[n] && t.onlyWhenParsingSpecial
            first[Int(t.text.utf8.first!)] = true
        }
        self.edges = edges
        self.tokenAt = tokenAt
        self.onlyWhenParsingSpecial = only
        firstBytes = first
    }

    /// Splits `bytes` into plain-text ranges and special tokens, leftmost-longest.
    func split(_ bytes: [UInt8], parseSpecial: Bool) -> [TextPiece] {
        if isEmpty { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
        var pieces: [TextPiece] = []
        var textStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            if firstBytes[Int(bytes[i])], let (length, id) = match(bytes, at: i, parseSpecial: parseSpecial) {
                if textStart < i { pieces.append(.text(textStart..<i)) }
                pieces.append(.special(id))
                i += length
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < n { pieces.append(.text(textStart..<n)) }
        return pieces
    }

    private func match(_ bytes: [UInt8], at i: Int, parseSpecial: Bool) -> (Int, Int)? {
        var node: Int32 = 0
        var best: (Int, Int)?
        var k = i
        while k < bytes.count, let child = edges[UInt64(node) << 8 | UInt64(bytes[k])] {
            node = child
            k += 1
            let id = tokenAt[Int(node)]
            if id >= 0, parseSpecial || !onlyWhenParsingSpecial[Int(node)] { best = (k - i, Int(id)) }
        }
        return best
    }
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
/// whatever their stored type. llama.cpp also makes each one a control token, so such a token
/// stored as user-defined (Gemma 3 stores `</s>` so) is matched in text only when parsing special
/// tokens; exprun does the same so that its ids agree with llama.cpp's.
let endOfGenerationTexts: Set<String> = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
]
