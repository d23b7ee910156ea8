// What every tokenizer offers. Ids are `Int`; text is Swift `String` (decoding joins the tokens'
// bytes and repairs invalid UTF-8 with U+FFFD, as transformers does).
import Foundation

public protocol Tokenizer: AnyObject, Sendable {
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    /// Whether encoding a prompt for generation starts with BOS (Llama/Gemma: yes; GPT-2: no).
    var addsBOS: Bool { get }
    /// Whether it ends with EOS (`tokenizer.ggml.add_eos_token`; rare in generative models).
    var addsEOS: Bool { get }
    /// Text to ids, no BOS/EOS added. Special-token text such as `<|endoftext|>` becomes its
    /// special id when `parseSpecial` (transformers' default), plain text otherwise (llama.cpp's
    /// test vectors).
    func encode(_ text: String, parseSpecial: Bool) -> [Int]
    /// Ids to text; unknown ids are an error.
    func decode(_ ids: [Int]) throws -> String
}

extension Tokenizer {
    public var addsEOS: Bool { false }
    public func encode(_ text: String) -> [Int] { encode(text, parseSpecial: true) }
    /// Ids for a generation prompt: BOS first and EOS last where the model expects them (llama.cpp's
    /// `add_special`).
    public func encodePrompt(_ text: String) -> [Int] {
        var ids = encode(text, parseSpecial: true)
        if addsBOS, let bos = bosTokenID { ids.insert(bos, at: 0) }
        if addsEOS, let eos = eosTokenID { ids.append(eos) }
        return ids
    }
}
