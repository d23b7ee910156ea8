// What every tokenizer offers. Ids are `Int`; text is Swift `String` (decoding joins the tokens'
// bytes and repairs invalid UTF-8 with U+FFFD, as transformers does).
import Foundation

public protocol Tokenizer: AnyObject, Sendable {
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    /// Whether encoding a prompt for generation starts with BOS (Llama/Gemma: yes; GPT-2: no).
    var addsBOS: Bool { get }
    /// Text to ids, no BOS/EOS added. Special-token text such as `<|endoftext|>` becomes its
    /// special id when `parseSpecial` (transformers' default), plain text otherwise (llama.cpp's
    /// test vectors).
    func encode(_ text: String, parseSpecial: Bool) -> [Int]
    /// Ids to text; unknown ids are an error.
    func decode(_ ids: [Int]) throws -> String
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int] { encode(text, parseSpecial: true) }
    /// Ids for a generation prompt: BOS first where the model expects it.
    public func encodePrompt(_ text: String) -> [Int] {
        let ids = encode(text, parseSpecial: true)
        if addsBOS, let bos = bosTokenID { return [bos] + ids }
        return ids
    }
}
