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
    /// Token bytes → id, with a flag saying whether the token is matched only when the caller
    /// asked for special tokens to be parsed (control tokens) or always (user-defined tokens).
    private let table: [[UInt8]: (id: Int, onlyWhenParsingSpecial: Bool)]
    private let lengths: [Int]            // distinct token lengths, longest first
    private let firstBytes: [Bool]        // 256 flags: can a special token start with this byte?

    var isEmpty: Bool { table.isEmpty }

    /// `tokens`: (text, id, matched only when parsing special tokens). Empty texts are ignored.
    init(_ tokens: [(text: String, id: Int, onlyWhenParsingSpecial: Bool)]) {
        var table: [[UInt8]: (id: Int, onlyWhenParsingSpecial: Bool)] = [:]
        var first = [Bool](repeating: false, count: 256)
        for t in tokens where !t.text.isEmpty {
            let bytes = Array(t.text.utf8)
            // A token listed twice keeps its lowest id; "always" wins over "only when parsing".
            if let old = table[bytes] {
                table[bytes] = (min(old.id, t.id), old.onlyWhenParsingSpecial && t.onlyWhenParsingSpecial)
            } else {
                table[bytes] = (t.id, t.onlyWhenParsingSpecial)
            }
            first[Int(bytes[0])] = true
        }
        self.table = table
        lengths = Set(table.keys.map(\.count)).sorted(by: >)
        firstBytes = first
    }

    /// Splits `bytes` into plain-text ranges and special tokens.
    func split(_ bytes: [UInt8], parseSpecial: Bool) -> [TextPiece] {
        if table.isEmpty { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
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
        for length in lengths where i + length <= bytes.count {
            if let hit = table[Array(bytes[i..<(i + length)])], parseSpecial || !hit.onlyWhenParsingSpecial {
                return (length, hit.id)
            }
        }
        return nil
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
