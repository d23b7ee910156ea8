// Perplexity exactly as llama.cpp's `llama-perplexity` computes it (tools/perplexity/perplexity.cpp,
// `perplexity()`), so exprun's figures can be set beside llama.cpp's:
//
//   tokens = tokenize(whole text), with BOS first where the model adds one, special text not parsed
//   chunk i = tokens[i·n_ctx ..< (i+1)·n_ctx], for i < min(chunks, ⌊tokens / n_ctx⌋); the text must
//             hold at least 2·n_ctx tokens
//   each chunk is run from an empty cache with its first token replaced by BOS (where added), and
//   only its second half is scored: the logits at positions n_ctx/2 ... n_ctx−2 against the next
//   token (n_ctx − n_ctx/2 − 1 predictions per chunk), so every prediction has context behind it
//   ppl = exp(mean NLL); ± = ppl · √((mean(NLL²) − mean(NLL)²) / (count − 1))   (llama.cpp's estimate)
//
// The log-softmax is llama.cpp's too: max-shifted, `expf` summed in double.
import Foundation

public struct PerplexityResult: Sendable, Codable, Equatable {
    public var perplexity: Double
    /// llama.cpp's ± estimate (standard error of the mean NLL, carried through exp).
    public var uncertainty: Double
    public var meanNLL: Double
    public var context: Int
    public var chunks: Int
    /// Predictions scored (chunks × (context − context/2 − 1)).
    public var scored: Int
    /// Tokens of the whole text (with BOS), of which chunks × context were used.
    public var textTokens: Int
    /// Perplexity so far after each chunk, as llama.cpp prints `[1]…,[2]…`.
    public var runningPerplexity: [Double]
    public var seconds: Double
}

public enum Perplexity {
    /// Tokens of `text` as llama-perplexity makes them (`common_tokenize(ctx, text, add_special: true)`).
    public static func tokenize(_ text: String, tokenizer: Tokenizer) -> [Int] {
        let ids = tokenizer.encode(text, parseSpecial: false)
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenID { return [bos] + ids }
        return ids
    }

    /// Scores `tokens` (already tokenized with `tokenize`) in chunks of `context`; `chunks` nil = all.
    /// `batch`: positions per forward call in the scored half (bounds the logits held at once).
    public static func evaluate(_ model: LanguageModel, tokens: [Int], context: Int, chunks: Int? = nil,
                                batch: Int = 64, progress: ((_ chunk: Int, _ perplexity: Double) -> Void)? = nil) throws -> PerplexityResult {
        guard context >= 4 else { throw CoreError.invalid("perplexity context must be at least 4 tokens, got \(context)") }
        guard context <= model.contextLength else {
            throw CoreError.invalid("perplexity context \(context) exceeds the model's context length \(model.contextLength)")
        }
        guard tokens.count >= 2 * context else {
            throw CoreError.invalid("the text tokenizes to \(tokens.count) tokens; perplexity with a context of \(context) needs at least \(2 * context)")
        }
        if let chunks, chunks < 1 { throw CoreError.invalid("chunks must be at least 1, got \(chunks)") }
        let available = tokens.count / context
        let n = min(chunks ?? available, available)
        let bos = model.tokenizer.flatMap { $0.addsBOS ? $0.bosTokenID : nil }
        let first = context / 2
        let vocab = model.vocabularySize
        let batch = max(1, batch)
        let started = Date()

        var nll = 0.0, nll2 = 0.0, count = 0
        var running: [Double] = []
        let cache = model.makeCache(capacity: context)
        for i in 0..<n {
            var chunk = Array(tokens[i * context ..< (i + 1) * context])
            if let bos { chunk[0] = bos }
            cache.reset()
            _ = try model.forward(Array(chunk[0..<first]), cache: cache, allLogits: false)
            // Positions first ..< context − 1 predict the token after them.
            var p = first
            while p < context - 1 {
                let end = min(p + batch, context - 1)
                let logits = try model.forward(Array(chunk[p..<end]), cache: cache, allLogits: true)
                let rows = end - p
                var lp = [Double](repeating: 0, count: rows)
                logits.withUnsafeBufferPointer { lg in
                    lp.withUnsafeMutableBufferPointer { out in
                        let o = out.baseAddress!
                        model.pool.parallelFor(rows) { range in
                            for r in range { o[r] = logProbability(lg.baseAddress! + r * vocab, vocab: vocab, token: chunk[p + r + 1]) }
                        }
                    }
                }
                for v in lp { nll -= v; nll2 += v * v }
                count += rows
                p = end
            }
            running.append(Foundation.exp(nll / Double(count)))
            progress?(i + 1, running.last!)
        }
        let mean = nll / Double(count)
        let variance = nll2 / Double(count) - mean * mean
        let ppl = Foundation.exp(mean)
        let uncertainty = variance > 0 && count > 1 ? (variance / Double(count - 1)).squareRoot() * ppl : 0
        return PerplexityResult(perplexity: ppl, uncertainty: uncertainty, meanNLL: mean, context: context, chunks: n,
                                scored: count, textTokens: tokens.count, runningPerplexity: running,
                                seconds: Date().timeIntervalSince(started))
    }

    /// log softmax(logits)[token], as llama.cpp's `log_softmax`: max-shifted, float exps summed in double.
    public static func logProbability(_ logits: UnsafePointer<Float>, vocab: Int, token: Int) -> Double {
        var m = logits[0]
        for i in 0..<vocab { m = max(m, logits[i]) }
        var sum = 0.0
        for i in 0..<vocab { sum += Double(Foundation.exp(logits[i] - m)) }
        return Double(logits[token] - m) - Foundation.log(sum)
    }
}
